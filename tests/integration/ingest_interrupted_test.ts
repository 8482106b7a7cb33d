/**
 * Interrupted ingests on the real PostgreSQL: a keyed upload whose client disconnects mid-body leaves its run
 * `interrupted` (GET /v1/runs/:id says so), and the client's retry with the same key continues that run to
 * `committed` with the right counts; a keyed run whose input stops after some chunks committed is continued by
 * the next attempt without writing those rows twice, even when its checkpoints were lost (the sinks' commit
 * markers). Also the ingest route's answers while weir starts (503, Retry-After) and for a pipeline without an
 * HTTP source (404).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { loadEnv } from "../../config/env.ts";
import { createLogger } from "../../observability/logger.ts";
import { PipelineError } from "../../pipeline/errors.ts";
import { runIngest } from "../../pipeline/runner.ts";
import { runIdFor } from "../../pipeline/run_ids.ts";
import { type RunningServer, startServer } from "../../server/serve.ts";

const ADMIN_URL = Deno.env.get("WEIR_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

const YAML = `
pipelines:
  events:
    source: { http: { maxBodySize: 16MiB } }
    schema:
      columns:
        id: { type: int64, required: true }
        note: { type: string }
    sinks: [{ postgres: { table: events, mode: append } }]
    # Small chunks, so that a body of a few hundred KiB is many chunks.
    limits: { chunkSize: 64KiB, maxInFlight: 2 }
  folder:
    source: { file: { path: inbox } }
    schema:
      columns:
        id: { type: int64, required: true }
    sinks: [{ postgres: { table: folder_rows, mode: append } }]
`;

/** `rows` CSV rows of `events`, ids from 1. */
function eventsCsv(rows: number): string {
  const lines = ["id,note"];
  for (let id = 1; id <= rows; id++) {
    lines.push(`${id},note number ${id} with some padding to fill the chunks`);
  }
  return `${lines.join("\n")}\n`;
}

interface Database {
  url: string;
  /** A connection to it, for the assertions. */
  sql: postgres.Sql;
  drop(): Promise<void>;
}

async function createDatabase(): Promise<Database> {
  const name = `weir_it_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 2, onnotice: () => {} });
  return {
    url: url.href,
    sql,
    drop: async () => {
      await sql.end();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function withWeir(
  fn: (weir: { url: string; server: RunningServer; db: Database }) => Promise<void>,
): Promise<void> {
  const db = await createDatabase();
  const dir = await Deno.makeTempDir({ prefix: "weir-interrupted-test-" });
  await Deno.mkdir(`${dir}/inbox`);
  await Deno.writeTextFile(`${dir}/weir.yaml`, YAML.replace("path: inbox", `path: ${dir}/inbox`));
  try {
    const server = await startServer(
      loadEnv({
        PORT: "0",
        DATABASE_URL: db.url,
        WEIR_DATA_DIR: `${dir}/data`,
        WEIR_CONFIG: `${dir}/weir.yaml`,
        WEIR_WORKERS: "2",
      }),
      createLogger({ level: "error" }),
    );
    try {
      await fn({ url: `http://127.0.0.1:${server.addr.port}`, server, db });
    } finally {
      await server.shutdown("test done");
    }
  } finally {
    await db.drop();
    await Deno.remove(dir, { recursive: true });
  }
}

// deno-lint-ignore no-explicit-any -- JSON read back from the API
async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

/** Polls `GET /v1/runs/:id` until `done` holds of it (the server records a disconnect after it happened). */
// deno-lint-ignore no-explicit-any -- JSON read back from the API
async function runWhen(url: string, id: string, done: (run: any) => boolean): Promise<any> {
  // deno-lint-ignore no-explicit-any -- JSON read back from the API
  let last: any;
  for (let i = 0; i < 200; i++) {
    last = await getJson(`${url}/v1/runs/${id}`);
    if (last.status === 200 && done(last.body)) return last.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`run ${id} never got there: ${last.status} ${JSON.stringify(last.body)}`);
}

/** Sends the head and the first `sent` bytes of a CSV upload on a raw connection, then hangs up. */
async function uploadAndHangUp(url: string, pipeline: string, key: string, body: Uint8Array, sent: number) {
  const { port } = new URL(url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const head = `POST /v1/pipelines/${pipeline}/ingest HTTP/1.1\r\nhost: 127.0.0.1\r\n` +
    `content-type: text/csv\r\nidempotency-key: ${key}\r\ncontent-length: ${body.length}\r\n\r\n`;
  for (const piece of [new TextEncoder().encode(head), body.subarray(0, sent)]) {
    for (let at = 0; at < piece.length;) at += await conn.write(piece.subarray(at));
  }
  conn.close();
}

async function idCounts(sql: postgres.Sql, table: string): Promise<{ rows: number; ids: number }> {
  const [row] = await sql.unsafe(
    `SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM ${table}`,
  );
  return { rows: row.rows, ids: row.ids };
}

Deno.test("a keyed upload cut off by its client is interrupted, and the retry with the key commits the same run", async () => {
  await withWeir(async ({ url, db }) => {
    const key = `k-${crypto.randomUUID()}`;
    const run = await runIdFor("events", key);
    const body = new TextEncoder().encode(eventsCsv(5000));
    await uploadAndHangUp(url, "events", key, body, body.length >> 1);

    const interrupted = await runWhen(url, run, (r) => r.status === "interrupted");
    assert.equal(interrupted.idempotencyKey, key);
    assert.equal(interrupted.finishedAt, null, "interrupted is not final");
    assert.match(JSON.stringify(interrupted.error), /disconnected mid-upload/);
    const listed = await getJson(`${url}/v1/runs?pipeline=events&status=interrupted`);
    assert.deepEqual(listed.body.items.map((r: { id: string }) => r.id), [run]);

    const retry = await fetch(`${url}/v1/pipelines/events/ingest`, {
      method: "POST",
      headers: { "content-type": "text/csv", "idempotency-key": key },
      body,
    });
    const answer = await retry.json();
    assert.equal(retry.status, 200, JSON.stringify(answer));
    assert.deepEqual([answer.run, answer.accepted, answer.rejected, answer.committed], [run, 5000, 0, true]);

    const committed = (await getJson(`${url}/v1/runs/${run}`)).body;
    assert.equal(committed.status, "committed");
    assert.deepEqual([committed.received, committed.accepted, committed.rejected], [5000, 5000, 0]);
    assert.equal(committed.bytes, body.length);
    assert.equal(committed.error, null, "the interruption is over");
    assert.notEqual(committed.finishedAt, null);
    assert.deepEqual(await idCounts(db.sql, "events"), { rows: 5000, ids: 5000 });
  });
});

Deno.test("a keyed run stopped after some chunks committed continues without writing them twice", async () => {
  await withWeir(async ({ server, db }) => {
    const runtime = server.runtime;
    const plan = runtime.pipelines.get("events")!;
    const key = `k-${crypto.randomUUID()}`;
    const runId = await runIdFor("events", key);
    const csv = new TextEncoder().encode(eventsCsv(20000));
    const context = {
      store: runtime.store,
      pool: runtime.pool,
      kernels: runtime.kernels,
      logger: runtime.logger,
      runId,
      idempotencyKey: key,
      signal: new AbortController().signal,
    };
    /** The whole body in 4 KiB pieces, or the first `stopAt` bytes, then the error of a client gone. */
    async function* body(stopAt = Infinity): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < csv.length; at += 4096) {
        if (at >= stopAt) {
          throw new PipelineError("The client disconnected mid-upload", {
            component: "source.http",
            retriable: true,
          });
        }
        yield csv.subarray(at, Math.min(csv.length, at + 4096));
      }
    }

    await assert.rejects(
      runIngest(plan, { format: "csv", body: body(csv.length * 0.7) }, context),
      /disconnected/,
    );
    const stopped = (await runtime.store.runs.get(runId))!;
    assert.equal(stopped.status, "interrupted");
    assert.equal(stopped.finishedAt, null);
    const landed = await idCounts(db.sql, "events");
    assert.ok(landed.rows > 0, "some chunks committed before the stop");
    assert.equal(stopped.accepted, landed.rows, "the run counts what committed");

    // A crash between the sinks' commits and the checkpoints: the next attempt re-writes every chunk, and the
    // sink's commit markers must skip the ones that landed.
    await db.sql`DELETE FROM weir.checkpoints WHERE consumer = ${`run:${runId}`}`;
    const result = await runIngest(plan, { format: "csv", body: body() }, context);
    assert.deepEqual([result.run, result.accepted, result.committed], [runId, 20000, true]);
    const finished = (await runtime.store.runs.get(runId))!;
    assert.deepEqual([finished.status, finished.accepted, finished.error], ["committed", 20000, null]);
    assert.deepEqual(await idCounts(db.sql, "events"), { rows: 20000, ids: 20000 });
  });
});

Deno.test("without an idempotency key nothing can continue a stopped run: it fails", async () => {
  await withWeir(async ({ server }) => {
    const runtime = server.runtime;
    const runId = `r_${crypto.randomUUID().replaceAll("-", "")}`;
    async function* cut(): AsyncGenerator<Uint8Array> {
      yield new TextEncoder().encode("id,note\n1,a\n");
      throw new PipelineError("The client disconnected mid-upload", {
        component: "source.http",
        retriable: true,
      });
    }
    await assert.rejects(
      runIngest(runtime.pipelines.get("events")!, { format: "csv", body: cut() }, {
        store: runtime.store,
        pool: runtime.pool,
        kernels: runtime.kernels,
        logger: runtime.logger,
        runId,
        signal: new AbortController().signal,
      }),
    );
    const run = (await runtime.store.runs.get(runId))!;
    assert.equal(run.status, "failed");
    assert.notEqual(run.finishedAt, null);
  });
});

Deno.test("ingest answers 503 with Retry-After while weir starts, and 404 for a pipeline without an HTTP source", async () => {
  const db = await createDatabase();
  const dir = await Deno.makeTempDir({ prefix: "weir-starting-test-" });
  await Deno.mkdir(`${dir}/inbox`);
  await Deno.writeTextFile(`${dir}/weir.yaml`, YAML.replace("path: inbox", `path: ${dir}/inbox`));
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  // Holding weir's migration lock keeps the runtime from opening: the server listens, phase `starting`.
  const lock = postgres(db.url, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = lock.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(2003135858, 1)`;
    locked();
    await held;
  });
  let server: RunningServer | undefined;
  try {
    await isLocked;
    const starting = startServer(
      loadEnv({
        PORT: String(port),
        DATABASE_URL: db.url,
        WEIR_DATA_DIR: `${dir}/data`,
        WEIR_CONFIG: `${dir}/weir.yaml`,
        WEIR_WORKERS: "1",
      }),
      createLogger({ level: "error" }),
    );
    starting.catch(() => {});
    const url = `http://127.0.0.1:${port}`;
    let early: Response | undefined;
    for (let i = 0; i < 200 && early === undefined; i++) {
      early = await fetch(`${url}/v1/pipelines/events/ingest`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: "id,note\n1,a\n",
      }).catch(() => undefined);
      if (early === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(early, "weir listens before its runtime opens");
    const earlyBody = await early.json();
    assert.equal(early.status, 503, JSON.stringify(earlyBody));
    assert.equal(earlyBody.error.code, "starting");
    assert.ok(Number(early.headers.get("retry-after")) >= 1);

    release();
    await holding;
    server = await starting;
    const ready = await fetch(`${url}/v1/pipelines/events/ingest`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: "id,note\n1,a\n",
    });
    assert.equal(ready.status, 200, await ready.text());

    const noHttp = await fetch(`${url}/v1/pipelines/folder/ingest`, {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: "id\n1\n",
    });
    assert.equal(noHttp.status, 404);
    assert.match(noHttp.headers.get("content-type") ?? "", /application\/json/);
    const noHttpBody = await noHttp.json();
    assert.equal(noHttpBody.error.code, "no_http_source");
    assert.match(noHttpBody.error.message, /folder/);
  } finally {
    release();
    await holding.catch(() => {});
    await lock.end();
    await server?.shutdown("test done");
    await db.drop();
    await Deno.remove(dir, { recursive: true });
  }
});
