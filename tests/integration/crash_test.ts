/**
 * The crash test: the real `weir serve` process, on the real PostgreSQL, is killed with SIGKILL at random
 * (seeded) moments while clients upload concurrently, and restarted; every client retries its request with its
 * Idempotency-Key until it gets a 2xx. Afterwards every row of every acknowledged request is in the sink table
 * exactly once, and nothing else is. The sink appends (no primary key), so a duplicate would show.
 *
 * Set WEIR_CRASH_SEED to replay a failing schedule; the seed is in every failure message.
 */
import { seededRandom } from "../../cli/seeded_random.ts";
import assert from "node:assert/strict";
import postgres from "postgres";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys=hostname,osRelease",
];
// DATABASE_URL may point elsewhere; the test needs rights to create and drop a database there.
const ADMIN_URL = Deno.env.get("WEIR_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const SEED = Number(Deno.env.get("WEIR_CRASH_SEED") ?? 20261128);

const ROUNDS = 3;
const CLIENTS = 6;
const ROWS_PER_REQUEST = 3000;
// Well under a second, so a key held by a killed request frees up quickly; the default 30 s would make
// every round wait that long.
const LEASE_MS = 800;
// A retry loop that never gets a 2xx is a bug, not something to wait out forever.
const MAX_ATTEMPTS = 400;

const PIPELINE_YAML = `
pipelines:
  orders:
    source: { http: { formats: [csv] } }
    schema:
      columns:
        id: { type: int64, required: true }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
        note: { type: string }
    # Two sinks: after a chunk committed in the first, the second still has to write it before the chunk's
    # checkpoint, so a kill timed by the first table's rows often lands in that window and the retry
    # re-writes a chunk the first sink already has (which its commit markers must skip).
    sinks:
      - { postgres: { table: crash_orders, mode: append } }
      - { postgres: { table: crash_orders_copy, mode: append } }
    # Small chunks: every request is several chunks, so a kill can fall between two of them.
    limits: { chunkSize: 64KiB, maxConcurrentIngests: 64 }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Weir {
  child: Deno.ChildProcess;
  /** Resolves with the base URL once the runtime is open; rejects if the process ends first. */
  ready: Promise<string>;
  lines: string[];
  exited: Promise<Deno.CommandStatus>;
}

function startWeir(env: Record<string, string>): Weir {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "serve"],
    env: { PORT: "0", WEIR_WORKERS: "2", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise: ready, resolve, reject } = Promise.withResolvers<string>();
  ready.catch(() => {}); // a killed process's readiness is not awaited by anyone
  let url = "";
  const reading = (async () => {
    let buffered = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffered += text;
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (line.includes('"Listening"')) url = JSON.parse(line).url;
        if (line.includes('"Ready"')) resolve(url);
      }
    }
    reject(new Error(`weir exited before it was ready:\n${lines.slice(-20).join("\n")}`));
  })();
  return { child, ready, lines, exited: reading.then(() => child.status) };
}

/** The server the clients talk to; `url` is null while it is down or starting. */
interface Target {
  url: string | null;
}

interface Ack {
  status: number;
  body: { run: string; accepted: number; rejected: number; committed: boolean };
  attempts: number;
}

/** Posts `body` with `key` until a 2xx, riding out kills, restarts and keys still leased by a dead process. */
async function upload(target: Target, body: string, key: string, failure: (message: string) => Error) {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const url = target.url;
    if (url === null) {
      await sleep(50);
      continue;
    }
    let response: Response;
    try {
      response = await fetch(`${url}/v1/pipelines/orders/ingest`, {
        method: "POST",
        headers: { "content-type": "text/csv", "idempotency-key": key },
        body,
      });
    } catch {
      await sleep(50); // killed under us: connection refused or reset
      continue;
    }
    let json: Record<string, unknown>;
    try {
      json = await response.json();
    } catch {
      await sleep(50); // killed while answering
      continue;
    }
    if (response.ok) return { status: response.status, body: json as Ack["body"], attempts: attempt };
    const code = (json.error as { code?: string } | undefined)?.code;
    const retriable = (response.status === 409 && code === "in_progress") || response.status === 503 ||
      response.status === 429;
    if (!retriable) throw failure(`${key}: unexpected ${response.status}: ${JSON.stringify(json)}`);
    await sleep(Math.max(100, Number(response.headers.get("retry-after") ?? 0) * 100));
  }
  throw failure(`${key}: no 2xx after ${MAX_ATTEMPTS} attempts`);
}

async function landedRows(sql: postgres.Sql): Promise<number> {
  // The sink creates its table when the pipeline is built, so it exists once the server was ready.
  const [{ n }] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM crash_orders`;
  return Number(n);
}

interface Row {
  id: number;
  amount: number;
  note: string;
}

function requestBody(round: number, client: number): { csv: string; ids: number[]; rows: Row[] } {
  const rows: Row[] = [];
  let csv = "id,amount,note\n";
  for (let i = 0; i < ROWS_PER_REQUEST; i++) {
    const id = round * 1_000_000 + client * 10_000 + i;
    // A quoted note with a comma and a newline: a record boundary the chunker must not cut inside.
    const row = {
      id,
      amount: (i % 997) + 0.25,
      note: `round ${round}, client ${client}\nrow ${i} ${"x".repeat(i % 23)}`,
    };
    rows.push(row);
    csv += `${row.id},${row.amount},"${row.note}"\n`;
  }
  return { csv, ids: rows.map((row) => row.id), rows };
}

Deno.test("weir serve killed with SIGKILL during concurrent uploads loses and duplicates no acknowledged row", async () => {
  const random = seededRandom(SEED);
  const failure = (message: string) => new Error(`${message} (WEIR_CRASH_SEED=${SEED})`);
  const name = `weir_it_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const dir = await Deno.makeTempDir({ prefix: "weir-crash-test-" });
  await Deno.writeTextFile(`${dir}/weir.yaml`, PIPELINE_YAML);
  const env = {
    DATABASE_URL: url.href,
    WEIR_DATA_DIR: `${dir}/data`,
    WEIR_CONFIG: `${dir}/weir.yaml`,
    WEIR_IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
  };
  const sql = postgres(url.href, { max: 2, onnotice: () => {} });
  const target: Target = { url: null };
  let weir = startWeir(env);
  const expected = new Map<number, string>(); // id → the key of the request that carries it
  const acks = new Map<string, Ack>();
  let kills = 0;
  try {
    target.url = await weir.ready;
    for (let round = 0; round < ROUNDS; round++) {
      const uploads = Array.from({ length: CLIENTS }, (_, client) => {
        const key = `crash-${SEED}-${round}-${client}`;
        const { csv, ids } = requestBody(round, client);
        for (const id of ids) expected.set(id, key);
        return upload(target, csv, key, failure).then((ack) => {
          acks.set(key, ack);
          return ack;
        });
      });
      let settled = false;
      const all = Promise.all(uploads).finally(() => settled = true);
      all.catch(() => {}); // awaited below, after the kills
      // One or two kills per round, each once a seeded share of the round's rows has landed: a moment
      // that is random but always falls while the uploads are still in flight (or between their retries).
      const killsThisRound = 1 + Math.floor(random() * 2);
      const roundStart = round * CLIENTS * ROWS_PER_REQUEST;
      for (let k = 0; k < killsThisRound; k++) {
        const threshold = roundStart + Math.floor(random() * CLIENTS * ROWS_PER_REQUEST * 0.9);
        while (!settled && await landedRows(sql) < threshold) await sleep(10);
        if (settled) break;
        target.url = null;
        weir.child.kill("SIGKILL");
        await weir.exited;
        kills++;
        weir = startWeir(env);
        target.url = await weir.ready;
      }
      const answers = await all;
      for (const [client, ack] of answers.entries()) {
        assert.equal(ack.status, 200, `round ${round} client ${client} (WEIR_CRASH_SEED=${SEED})`);
        assert.equal(ack.body.committed, true);
        assert.equal(ack.body.accepted, ROWS_PER_REQUEST, JSON.stringify(ack.body));
        assert.equal(ack.body.rejected, 0);
      }
    }
    // Every round killed the server at least once before all its uploads were answered.
    assert.ok(kills >= ROUNDS, failure(`${kills} kills in ${ROUNDS} rounds`));

    const ids = [...expected.keys()];
    let amountSum = 0;
    let noteChars = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let client = 0; client < CLIENTS; client++) {
        for (const row of requestBody(round, client).rows) {
          amountSum += Math.round(row.amount * 100);
          noteChars += row.note.length;
        }
      }
    }
    for (const table of ["crash_orders", "crash_orders_copy"]) {
      const duplicates = await sql<{ id: string; n: string }[]>`
        SELECT id::text, count(*)::text AS n FROM ${sql(table)} GROUP BY id HAVING count(*) <> 1 LIMIT 10`;
      assert.deepEqual(
        [...duplicates],
        [],
        failure(`${table}: ids more than once: ${JSON.stringify(duplicates)}`),
      );
      const [{ total, distinct, unknown, cents, chars }] = await sql<Record<string, string>[]>`
        SELECT count(*)::text AS total, count(DISTINCT id)::text AS distinct,
               count(*) FILTER (WHERE NOT (id = ANY(${ids}::bigint[])))::text AS unknown,
               (sum(amount) * 100)::bigint::text AS cents, sum(length(note))::text AS chars
          FROM ${sql(table)}`;
      assert.equal(Number(total), expected.size, failure(`${table}: rows`));
      assert.equal(Number(distinct), expected.size, failure(`${table}: distinct ids`));
      // Nothing else: every id in the table is one that some acknowledged request carried.
      assert.equal(Number(unknown), 0, failure(`${table}: rows no request carried`));
      // The values too, quoted notes with commas and newlines included.
      assert.equal(Number(cents), amountSum, failure(`${table}: sum of amounts`));
      assert.equal(Number(chars), noteChars, failure(`${table}: characters of notes`));
    }

    // Each acknowledged run is recorded as committed with the counts its client was told.
    const base: string = target.url ?? await weir.ready;
    for (const [key, ack] of acks) {
      const response: Response = await fetch(`${base}/v1/runs/${ack.body.run}`);
      const run = await response.json();
      assert.equal(response.status, 200, key);
      assert.equal(run.status, "committed", `${key}: ${JSON.stringify(run)}`);
      assert.equal(run.accepted, ROWS_PER_REQUEST, key);
      assert.equal(run.idempotencyKey, key);
    }
    // A retry after all that still answers the first result and writes nothing.
    const [firstKey, firstAck] = [...acks][0];
    const round = Number(firstKey.split("-")[2]);
    const client = Number(firstKey.split("-")[3]);
    const again = await upload(target, requestBody(round, client).csv, firstKey, failure);
    assert.deepEqual(again.body, firstAck.body);
    const [{ after }] = await sql<{ after: string }[]>`
      SELECT (SELECT count(*) FROM crash_orders) + (SELECT count(*) FROM crash_orders_copy) AS after`;
    assert.equal(Number(after), 2 * expected.size);
  } finally {
    target.url = null;
    weir.child.kill("SIGTERM");
    const status = await weir.exited;
    await sql.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await Deno.remove(dir, { recursive: true });
    if (status.code !== 0) console.error(weir.lines.slice(-30).join("\n"));
  }
});
