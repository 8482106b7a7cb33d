import assert from "node:assert/strict";
import postgres from "postgres";
import { EXIT_INTERRUPTED, formatBytes, formatDuration, runCommand, summaryTable } from "./run.ts";
import { withPostgresDatabase } from "../pipeline/sinks/testing.ts";
import { contentRunId } from "../pipeline/run_ids.ts";
import { hashFile } from "../pipeline/sources/file/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
// The permissions of `deno task weir`: writes under ./data only.
const TASK_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write=./data",
  "--allow-sys=hostname,osRelease",
];

const WEIR_YAML = `pipelines:
  items:
    source: { http: {} }
    schema:
      columns:
        id: { type: int64, required: true }
        name: { type: string }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
    checks: [{ expect: unique, column: id }, { expect: row_count, min: 1 }]
    sinks: [{ postgres: { table: items } }]
`;

/** A folder under ./data (the only place the task may write) with weir.yaml; removed afterwards. */
async function withWorkspace(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.mkdir(`${ROOT}/data`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/data`, prefix: "run-test-" });
  await Deno.writeTextFile(`${dir}/weir.yaml`, WEIR_YAML);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function weirCommand(dir: string, args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, MAIN, "run", ...args],
    cwd: ROOT,
    env: {
      // Relative to ./, as a user of the task would write them.
      WEIR_DATA_DIR: `./${dir.slice(ROOT.length + 1)}/state`,
      WEIR_CONFIG: `${dir}/weir.yaml`,
      WEIR_WORKERS: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function weirRun(dir: string, args: string[], env: Record<string, string> = {}) {
  const output = await weirCommand(dir, args, env).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("weir run ingests csv and gzipped ndjson files, prints a summary and exits 0", async () => {
  await withWorkspace(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.csv`, "id,name,amount\n1,a,1.50\n2,b,-1\n3,c,2\n");
    await Deno.writeFile(
      `${dir}/b.ndjson.gz`,
      await gzip('{"id":4,"name":"d","amount":3.25}\n{"id":5,"name":"e","amount":4}\n'),
    );
    const { code, stdout, stderr } = await weirRun(dir, ["items", `${dir}/a.csv`, `${dir}/b.ndjson.gz`]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^file\s+received\s+accepted\s+rejected\s+bytes\s+time\s+run\s+committed\s+quality$/,
    );
    assert.match(lines[2], /a\.csv\s+3\s+2\s+1\s+.*\sr_[0-9a-f]+\s+yes\s+1\.0000$/);
    assert.match(lines[3], /b\.ndjson\.gz\s+2\s+2\s+0\s+.*\sr_[0-9a-f]+\s+yes\s+1\.0000$/);
    assert.match(lines[4], /^total\s+5\s+4\s+1\s+.*2\/2/);
    // Not a terminal: plain lines, one per finished file, and no JSON logs below warn.
    assert.match(stderr, /a\.csv: 3 rows in .*, 2 accepted, 1 rejected, committed\n/);
    assert.ok(!stderr.includes("\x1b[K"), "no terminal control sequences");
    assert.doesNotMatch(stderr, /"level":"info"/);
  });
});

Deno.test("weir run exits 1 when a file cannot be read and still runs the others", async () => {
  await withWorkspace(async (dir) => {
    await Deno.writeFile(`${dir}/bad.csv.gz`, new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await Deno.writeTextFile(`${dir}/good.csv`, "id,name,amount\n1,a,1\n1,b,2\n");
    const { code, stdout } = await weirRun(dir, ["items", `${dir}/bad.csv.gz`, `${dir}/good.csv`]);
    assert.equal(code, 1);
    assert.match(stdout, /bad\.csv\.gz\s+0\s+0\s+0\s.*no \(failed\)/);
    // The duplicate id fails the unique check: the run still commits, the score tells.
    assert.match(stdout, /good\.csv\s+2\s+2\s+0\s.*yes\s+0\.5000/);
    assert.match(stdout, /\n\S*bad\.csv\.gz: invalid gzip header\n/);
  });
});

Deno.test("weir run draws a bar on a terminal and answers usage errors with 2", async (t) => {
  await t.step("usage errors", async () => {
    const cases = [[], ["items"], ["items", "x.csv", "--format", "xml"], ["items", "x.csv", "--bogus"]];
    for (const args of cases) {
      let err = "";
      const code = await runCommand(args, { env: {}, stderr: (s) => (err += s), stdout: () => {} });
      assert.equal(code, 2, args.join(" "));
      assert.match(err, /Usage: weir run/);
    }
  });
  await t.step("a bar on a terminal, and an unknown pipeline", async () => {
    await withWorkspace(async (dir) => {
      await Deno.writeTextFile(`${dir}/rows.txt`, '{"id":1,"name":"a","amount":1}\n');
      const env = { WEIR_DATA_DIR: `${dir}/state`, WEIR_CONFIG: `${dir}/weir.yaml`, WEIR_WORKERS: "1" };
      let err = "";
      let out = "";
      const code = await runCommand(["items", "--format", "ndjson", `${dir}/rows.txt`], {
        env,
        isTerminal: true,
        stderr: (s) => (err += s),
        stdout: (s) => (out += s),
      });
      assert.equal(code, 0, err);
      assert.ok(err.startsWith("\r\x1b[K"), "a redrawn line");
      assert.match(err, /rows\.txt \[-{24}\]\s+0% 0 B\/31 B 0 rows\/s ETA --/);
      assert.match(err, /rows\.txt: 1 rows in .*, 1 accepted, 0 rejected, committed\n$/);
      assert.match(out, /rows\.txt\s+1\s+1\s+0\s/);

      err = "";
      const unknown = await runCommand(["nope", `${dir}/rows.txt`], { env, stderr: (s) => (err += s) });
      assert.equal(unknown, 2);
      assert.match(err, /unknown pipeline: nope \(.* has items\)/);
    });
  });
});

const EVENTS_YAML = `pipelines:
  events:
    source: { http: {} }
    schema:
      columns:
        id: { type: int64, required: true }
        note: { type: string }
    sinks: [{ postgres: { table: events, mode: append } }]
    limits: { chunkSize: 64KiB }
`;

/** `rows` CSV rows of `events`, ids from `from`. */
function eventsCsv(from: number, rows: number): string {
  const lines = ["id,note"];
  for (let id = from; id < from + rows; id++) {
    lines.push(`${id},event ${id} with a note long enough to fill chunks`);
  }
  return `${lines.join("\n")}\n`;
}

/** A workspace for `events` appending to a fresh PostgreSQL database. */
async function withEvents(
  fn: (dir: string, env: Record<string, string>, sql: postgres.Sql) => Promise<void>,
): Promise<void> {
  await withWorkspace(async (dir) => {
    await Deno.writeTextFile(`${dir}/weir.yaml`, EVENTS_YAML);
    await withPostgresDatabase(async ({ url }) => {
      const sql = postgres(url!, { max: 2, onnotice: () => {} });
      try {
        await fn(dir, { DATABASE_URL: url! }, sql);
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
  });
}

async function eventCounts(sql: postgres.Sql): Promise<{ rows: number; ids: number }> {
  const [row] = await sql`SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM events`;
  return { rows: row.rows, ids: row.ids };
}

Deno.test("weir run of an unchanged file writes nothing and says so; --new-run writes it again", async () => {
  await withEvents(async (dir, env, sql) => {
    await Deno.writeTextFile(`${dir}/events.csv`, eventsCsv(1, 3000));
    const first = await weirRun(dir, ["events", `${dir}/events.csv`], env);
    assert.equal(first.code, 0, first.stderr);
    const run = await contentRunId("events", await hashFile(`${dir}/events.csv`));
    assert.match(first.stdout, new RegExp(`events\\.csv\\s+3000\\s+3000\\s+0\\s.*\\s${run}\\s+yes\\b`));
    assert.deepEqual(await eventCounts(sql), { rows: 3000, ids: 3000 });

    const again = await weirRun(dir, ["events", `${dir}/events.csv`], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`${run}\\s+yes \\(unchanged\\)`));
    assert.match(again.stdout, /events\.csv: unchanged since run r_c[0-9a-f]+ committed it: nothing written/);
    assert.match(again.stderr, /events\.csv: .*unchanged: already committed by run/);
    assert.deepEqual(await eventCounts(sql), { rows: 3000, ids: 3000 }, "nothing written again");

    const fresh = await weirRun(dir, ["events", "--new-run", `${dir}/events.csv`], env);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.doesNotMatch(fresh.stdout, new RegExp(run));
    assert.deepEqual(await eventCounts(sql), { rows: 6000, ids: 3000 }, "--new-run appends the rows again");
  });
});

/** A running `weir run` whose stderr is collected as it comes. */
function spawnWeirRun(dir: string, args: string[], env: Record<string, string>) {
  const child = weirCommand(dir, args, env).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const piece of child.stderr) stderr += decoder.decode(piece, { stream: true });
  })();
  const stdout = new Response(child.stdout).text();
  return {
    child,
    stderr: () => stderr,
    /** Waits (polling) until stderr matches `pattern`. */
    async waitFor(pattern: RegExp): Promise<void> {
      for (let i = 0; i < 600 && !pattern.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(stderr, pattern);
    },
    async done() {
      const [status, out] = await Promise.all([child.status, stdout, reading]);
      return { code: status.code, stdout: out, stderr };
    },
  };
}

/**
 * Holds an EXCLUSIVE lock on `events` (reads pass, COPY waits) until the returned release is called, so that a
 * `weir run` is reliably caught with a commit in flight.
 */
async function lockEvents(sql: postgres.Sql): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = sql.begin(async (tx) => {
    await tx`LOCK TABLE events IN EXCLUSIVE MODE`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await holding;
    },
  };
}

/** Waits until a COPY into `events` is blocked on the lock. */
async function copyWaiting(sql: postgres.Sql): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const rows = await sql`SELECT 1 FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%events%'`;
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("no COPY into events waited for the lock");
}

Deno.test("Ctrl-C lets the commit in flight finish, prints the summary, exits 130, and the next run continues", async () => {
  await withEvents(async (dir, env, sql) => {
    // The table exists once the pipeline ran; then a large file finds it locked mid-run.
    await Deno.writeTextFile(`${dir}/first.csv`, eventsCsv(1_000_000, 1));
    assert.equal((await weirRun(dir, ["events", `${dir}/first.csv`], env)).code, 0);
    await Deno.writeTextFile(`${dir}/big.csv`, eventsCsv(1, 60_000));
    const run = await contentRunId("events", await hashFile(`${dir}/big.csv`));
    const lock = await lockEvents(sql);
    const weir = spawnWeirRun(dir, ["events", `${dir}/big.csv`, `${dir}/first.csv`], env);
    try {
      await copyWaiting(sql);
      weir.child.kill("SIGINT");
      await weir.waitFor(/stopping after the commit in flight/);
    } finally {
      await lock.release();
    }
    const { code, stdout, stderr } = await weir.done();
    assert.equal(code, EXIT_INTERRUPTED, stderr);
    assert.match(stdout, new RegExp(`big\\.csv\\s+\\d+\\s+\\d+\\s+0\\s.*${run}\\s+no \\(interrupted\\)`));
    assert.doesNotMatch(stdout, /first\.csv/, "files after the interrupted one are not started");
    assert.match(stderr, /big\.csv: .*interrupted: run r_c[0-9a-f]+ continues/);
    const [stored] =
      await sql`SELECT status, accepted_rows::int AS accepted FROM weir.runs WHERE id = ${run}`;
    assert.equal(stored.status, "interrupted");
    // The commit in flight finished: what landed is exactly what the run counts, in whole chunks.
    const landed = await eventCounts(sql);
    assert.ok(stored.accepted > 0 && stored.accepted < 60_000, `accepted ${stored.accepted}`);
    assert.deepEqual(landed, { rows: stored.accepted + 1, ids: stored.accepted + 1 });

    const resumed = await weirRun(dir, ["events", `${dir}/big.csv`], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`big\\.csv\\s+60000\\s+60000\\s+0\\s.*${run}\\s+yes\\b`));
    assert.deepEqual(await eventCounts(sql), { rows: 60_001, ids: 60_001 }, "nothing landed twice");
  });
});

Deno.test("a second Ctrl-C exits at once, with the commit still blocked", async () => {
  await withEvents(async (dir, env, sql) => {
    await Deno.writeTextFile(`${dir}/first.csv`, eventsCsv(1_000_000, 1));
    assert.equal((await weirRun(dir, ["events", `${dir}/first.csv`], env)).code, 0);
    await Deno.writeTextFile(`${dir}/big.csv`, eventsCsv(1, 20_000));
    const lock = await lockEvents(sql);
    const weir = spawnWeirRun(dir, ["events", `${dir}/big.csv`], env);
    let result: Awaited<ReturnType<typeof weir.done>>;
    try {
      await copyWaiting(sql);
      weir.child.kill("SIGINT");
      await weir.waitFor(/stopping after the commit in flight/);
      weir.child.kill("SIGINT");
      // Still locked: only exiting at once ends the process now.
      result = await weir.done();
    } finally {
      await lock.release();
    }
    assert.equal(result.code, EXIT_INTERRUPTED, result.stderr);
    assert.equal(result.stdout, "", "no summary: it did not wait");
    assert.deepEqual(await eventCounts(sql), { rows: 1, ids: 1 }, "the blocked COPY rolled back");
  });
});

Deno.test("summary helpers format bytes, durations and a table", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(12_345), "12.3s");
  assert.equal(formatDuration(62_000), "1:02");
  assert.equal(formatDuration(3_723_000), "1:02:03");
  const table = summaryTable([{
    file: "a.csv",
    size: 10,
    received: 3,
    accepted: 2,
    rejected: 1,
    bytes: 10,
    ms: 5,
    run: "r_1",
    committed: false,
    error: "Bad",
  }]);
  assert.equal(
    table,
    [
      "file   received  accepted  rejected  bytes  time  run  committed    quality",
      "-----  --------  --------  --------  -----  ----  ---  -----------  -------",
      "a.csv         3         2         1   10 B   5ms  r_1  no (failed)  -",
      "",
      "a.csv: Bad",
      "",
    ].join("\n"),
  );
});
