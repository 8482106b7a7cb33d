/**
 * The ingest modes besides the chunked committed one, on a real PostgreSQL (a fresh database per test):
 * `ack: accepted` / `?wait=false` (202, spooled, drained in order, surviving a restart, with idempotency keys)
 * and group commit of small concurrent requests (one sink write per group, rejects still reported per request).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import type { Hono } from "hono";
import { loadEnv } from "../../config/env.ts";
import { createLogger, type Logger } from "../../observability/logger.ts";
import { Telemetry } from "../../observability/metrics.ts";
import { createApp } from "../../routes/mod.ts";
import { openRuntime, type Runtime } from "../../server/runtime.ts";
import { withPostgresDatabase } from "../../pipeline/sinks/testing.ts";
import { JobLane } from "../../storage/job_lanes.ts";
import { spoolJobKind } from "../../pipeline/spool_drainer.ts";
import { GroupCommitter } from "../../pipeline/group_commit.ts";

const YAML = `
pipelines:
  events:
    source: { http: { formats: [ndjson, csv, json], ack: accepted } }
    schema:
      columns:
        id: { type: int64, required: true }
        kind: { type: string }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
    sinks: [{ postgres: { table: events, mode: append } }]
  clicks:
    source: { http: { formats: [ndjson, csv] } }
    schema:
      columns:
        id: { type: int64, required: true }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
    sinks: [{ postgres: { table: clicks, mode: append } }]
    limits: { maxConcurrentIngests: 4 }
  orders:
    source: { http: { formats: [ndjson] } }
    schema:
      columns:
        id: { type: int64, required: true, unique: true }
    sinks: [{ postgres: { table: orders, mode: append } }]
`;

interface Env {
  url: string;
  dataDir: string;
  configPath: string;
}

async function withEnv(fn: (env: Env, sql: postgres.Sql) => Promise<void>): Promise<void> {
  await withPostgresDatabase(async ({ url }) => {
    const dataDir = await Deno.makeTempDir({ prefix: "weir-modes-test-" });
    const configPath = `${dataDir}/weir.yaml`;
    await Deno.writeTextFile(configPath, YAML);
    const sql = postgres(url!, { max: 2, onnotice: () => {} });
    try {
      await fn({ url: url!, dataDir, configPath }, sql);
    } finally {
      await sql.end({ timeout: 5 });
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

async function open(
  env: Env,
  options: { drain?: boolean; logger?: Logger } = {},
): Promise<{ runtime: Runtime; app: Hono }> {
  const logger = options.logger ?? createLogger({ level: "error" });
  const config = loadEnv({
    DATABASE_URL: env.url,
    WEIR_DATA_DIR: env.dataDir,
    WEIR_CONFIG: env.configPath,
    WEIR_WORKERS: "1",
  });
  const runtime = await openRuntime(config, { logger, telemetry: new Telemetry(), drain: options.drain });
  const app = createApp({
    logger,
    readiness: () => ({ phase: "serving", dependencies: [] }),
    runtime: () => runtime,
    spoolDir: `${env.dataDir}/spool`,
  });
  return { runtime, app };
}

function post(
  app: Hono,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/x-ndjson",
      "content-length": String(new TextEncoder().encode(body).length),
      ...headers,
    },
  }));
}

/** Polls the run until it is final; a run that never finishes fails the test after `attempts` polls. */
async function finalRun(app: Hono, id: string, attempts = 600): Promise<Record<string, unknown>> {
  for (let i = 0; i < attempts; i++) {
    const response = await app.request(`/v1/runs/${id}`);
    const run = await response.json();
    if (run.status === "committed" || run.status === "failed") return run;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Run ${id} did not finish`);
}

const events = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, kind: "k", amount: 1.5 })).join(
    "\n",
  ) +
  "\n";

Deno.test("ack: accepted answers 202 with the run, which then commits", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      const response = await post(app, "/v1/pipelines/events/ingest", events(1, 500));
      const body = await response.json();
      assert.equal(response.status, 202, JSON.stringify(body));
      assert.match(body.run, /^r_/);
      assert.equal(body.committed, false);
      assert.equal(response.headers.get("location"), `/v1/runs/${body.run}`);
      const run = await finalRun(app, body.run);
      assert.equal(run.status, "committed", JSON.stringify(run));
      assert.equal(run.accepted, 500);
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM events`;
      assert.equal(n, 500);
      const left = [...Deno.readDirSync(`${env.dataDir}/spool/accepted`)].filter((e) => e.isFile);
      assert.deepEqual(left, [], "a drained body leaves the spool");
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("?wait=false answers 202 on a committed pipeline, and ?wait=true waits on an accepted one", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      const accepted = await post(app, "/v1/pipelines/clicks/ingest?wait=false", events(1, 10));
      const { run } = await accepted.json();
      assert.equal(accepted.status, 202);
      assert.equal((await finalRun(app, run)).status, "committed");
      const waited = await post(app, "/v1/pipelines/events/ingest?wait=true", events(100, 10));
      const body = await waited.json();
      assert.equal(waited.status, 200, JSON.stringify(body));
      assert.equal(body.committed, true);
      const [{ clicks }] = await sql`SELECT count(*)::int AS clicks FROM clicks`;
      const [{ events: n }] = await sql`SELECT count(*)::int AS events FROM events`;
      assert.equal(clicks, 10);
      assert.equal(n, 10);
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("accepted bodies pending at close drain after a restart, in order and exactly once", async () => {
  await withEnv(async (env, sql) => {
    const first = await open(env, { drain: false });
    const runs: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const response = await post(first.app, "/v1/pipelines/events/ingest", events(i * 1000 + 1, 300));
        assert.equal(response.status, 202);
        runs.push((await response.json()).run);
      }
      const pending = await (await first.app.request(`/v1/runs/${runs[0]}`)).json();
      assert.equal(pending.status, "pending");
    } finally {
      await first.runtime.close();
    }
    const [{ before }] = await sql`SELECT count(*)::int AS before FROM events`;
    assert.equal(before, 0, "nothing drained before the restart");

    const second = await open(env);
    try {
      for (const run of runs) assert.equal((await finalRun(second.app, run)).status, "committed");
      const [{ n, distinct }] =
        await sql`SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct FROM events`;
      assert.equal(n, 900);
      assert.equal(distinct, 900);
      // In order: each run's sink commit is later than the previous run's.
      const commits = await sql`SELECT run_id FROM weir.sink_commits ORDER BY committed_at, run_id`;
      assert.deepEqual([...new Set(commits.map((c) => c.run_id))], runs);
    } finally {
      await second.runtime.close();
    }
  });
});

Deno.test("spool files no pending job references are swept at startup; referenced ones drain", async () => {
  await withEnv(async (env, sql) => {
    const first = await open(env, { drain: false });
    let run: string;
    try {
      const response = await post(first.app, "/v1/pipelines/events/ingest", events(1, 300));
      assert.equal(response.status, 202);
      run = (await response.json()).run;
    } finally {
      await first.runtime.close();
    }
    const spool = `${env.dataDir}/spool`;
    const [referenced] = [...Deno.readDirSync(`${spool}/accepted`)].filter((e) => e.isFile);
    // What a crash leaves: a keyed request's copy, and an accepted body whose transaction never committed.
    const orphans = [`${spool}/ingest-crashed`, `${spool}/accepted/events-crashed.spool`];
    for (const orphan of orphans) await Deno.writeTextFile(orphan, events(5000, 10));
    // A body the drainer gave up on, kept for an operator.
    await Deno.mkdir(`${spool}/accepted/failed`, { recursive: true });
    await Deno.writeTextFile(`${spool}/accepted/failed/events-kept.spool`, events(6000, 10));

    const lines: string[] = [];
    const logger = createLogger({ level: "warn", write: (line) => lines.push(line) });
    const second = await open(env, { logger });
    try {
      for (const orphan of orphans) {
        assert.equal(await Deno.stat(orphan).catch(() => null), null, `${orphan} was swept`);
      }
      assert.ok(await Deno.stat(`${spool}/accepted/failed/events-kept.spool`), "failed/ is kept");
      const swept = lines.filter((line) => line.includes("Removed orphaned spool files"));
      assert.equal(swept.length, 1, lines.join("\n"));
      assert.equal(JSON.parse(swept[0]).count, 2);
      assert.ok(!swept[0].includes(referenced.name), "the referenced body is not in the sweep");
      assert.equal((await finalRun(second.app, run)).status, "committed");
      const [{ n, distinct }] =
        await sql`SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct FROM events`;
      assert.deepEqual([n, distinct], [300, 300]);
    } finally {
      await second.runtime.close();
    }
  });
});

Deno.test("a spooled body held by a crashed drainer is taken over when its lease runs out", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env, { drain: false });
    try {
      const response = await post(app, "/v1/pipelines/events/ingest", events(1, 50));
      const { run } = await response.json();
      // A process that claimed the job and died: its lease (short here) must run out before anyone drains.
      const lane = new JobLane(runtime.store, spoolJobKind("events"));
      assert.ok(await lane.claimHead("crashed-worker", 300));
      assert.equal(await lane.claimHead("other-worker", 300), null, "the head is held");
      runtime.drainer.start();
      assert.equal((await finalRun(app, run)).status, "committed");
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM events`;
      assert.equal(n, 50);
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("an idempotency key makes a retried accepted request return the same 202 and run", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      const body = events(1, 20);
      const first = await post(app, "/v1/pipelines/events/ingest", body, { "idempotency-key": "batch-1" });
      const second = await post(app, "/v1/pipelines/events/ingest", body, { "idempotency-key": "batch-1" });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      const a = await first.json();
      const b = await second.json();
      assert.equal(a.run, b.run);
      const other = await post(app, "/v1/pipelines/events/ingest", events(1, 21), {
        "idempotency-key": "batch-1",
      });
      assert.equal(other.status, 409);
      await other.body?.cancel();
      assert.equal((await finalRun(app, a.run)).status, "committed");
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM events`;
      assert.equal(n, 20);
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("concurrent small requests are group-committed: fewer sink writes, each request's rejects its own", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      const requests = 60;
      const responses = await Promise.all(
        Array.from({ length: requests }, (_, i) => {
          // Request 7 carries a second, invalid row (negative amount) on its line 2.
          const body = i === 7
            ? `{"id":${i},"amount":2.5}\n{"id":1007,"amount":-1}\n`
            : `{"id":${i},"amount":2.5}\n`;
          return post(app, "/v1/pipelines/clicks/ingest", body);
        }),
      );
      const bodies = await Promise.all(responses.map((r) => r.json()));
      for (const [i, r] of responses.entries()) assert.equal(r.status, 200, JSON.stringify(bodies[i]));
      for (const [i, body] of bodies.entries()) {
        assert.equal(body.committed, true);
        assert.equal(body.accepted, 1, JSON.stringify(body));
        assert.equal(body.rejected, i === 7 ? 1 : 0);
      }
      // The value as the request wrote it, not the parsed decimal (-1.00).
      assert.deepEqual(bodies[7].rejects, [{ line: 2, column: "amount", rule: "min", value: "-1" }]);
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM clicks`;
      assert.equal(n, requests);
      const [{ writes }] = await sql`SELECT count(*)::int AS writes FROM weir.sink_commits`;
      assert.ok(writes < requests, `expected fewer sink writes than requests, got ${writes}`);
      // More requests than maxConcurrentIngests (4), none turned away: grouping has its own bound.
      const letters = await (await app.request("/v1/pipelines/clicks/dlq")).json();
      assert.equal(letters.items.length, 1);
      assert.equal(letters.items[0].line, 2);
      const letter = await (await app.request(`/v1/dlq/${letters.items[0].id}`)).json();
      assert.match(JSON.stringify(letter), /1007|-1/);
      // Each request is its own run, finished by the time it is answered, with the counts of its answer.
      assert.equal(new Set(bodies.map((b) => b.run)).size, requests);
      for (const [i, body] of bodies.entries()) {
        const run = await (await app.request(`/v1/runs/${body.run}`)).json();
        assert.equal(run.status, "committed", JSON.stringify(run));
        assert.notEqual(run.finishedAt, null);
        assert.equal(run.pipeline, "clicks");
        assert.deepEqual([run.received, run.accepted, run.rejected, run.bytes], [
          i === 7 ? 2 : 1,
          1,
          i === 7 ? 1 : 0,
          body.bytes,
        ]);
      }
      const own = await (await app.request(`/v1/pipelines/clicks/dlq?run=${bodies[7].run}`)).json();
      assert.deepEqual(own.items.map((l: { id: string }) => l.id), [letters.items[0].id]);
      const active = await (await app.request("/v1/runs?status=running")).json();
      assert.deepEqual(active.items, [], "no run stays running");
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("bodies parsed as one group keep their own lines, rejects and dead letters", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      // [body, accepted, rejects as "line:rule"]: bodies that must not leak into the next one of their group.
      const cases: [string, number, string[]][] = [
        ['{"id":1,"amount":1}', 1, []], // no final newline
        ['\uFEFF{"id":2,"amount":1}\n{"id":3,"amount":1}\n', 2, []], // a byte order mark
        ['{"id":4,"amount":"unterminated\n{"id":5,"amount":1}\n', 1, ["1:json"]],
        ['{"id":6,"amount":1}\r\n\r\n\n{"id":7,"amount":-3}\r\n{"id":8,"amount":1}\r\n', 2, ["4:min"]],
        ['{"id":9,\n', 0, ["1:json"]],
        ['{"amount":1}\n{"id":10,"amount":1}\n', 1, ["1:required"]],
        ["\n\n", 0, []],
      ];
      const rounds = 4;
      const posted = await Promise.all(
        Array.from({ length: rounds }, () => cases).flat().map(async ([body]) => {
          const response = await post(app, "/v1/pipelines/clicks/ingest", body);
          return { status: response.status, body: await response.json() };
        }),
      );
      for (const [k, { status, body }] of posted.entries()) {
        const [text, accepted, rejects] = cases[k % cases.length];
        const what = `${JSON.stringify(text)} -> ${JSON.stringify(body)}`;
        assert.equal(status, 200, what);
        assert.equal(body.accepted, accepted, what);
        assert.deepEqual(
          body.rejects.map((r: { line: number; rule: string }) => `${r.line}:${r.rule}`),
          rejects,
          what,
        );
        const run = await (await app.request(`/v1/runs/${body.run}`)).json();
        assert.deepEqual(
          [run.status, run.accepted, run.rejected],
          ["committed", accepted, rejects.length],
          what,
        );
        const letters = await (await app.request(`/v1/pipelines/clicks/dlq?run=${body.run}`)).json();
        assert.deepEqual(
          letters.items.map((l: { line: number }) => l.line).sort(),
          rejects.map((r) => Number(r.split(":")[0])),
          what,
        );
      }
      // The dead letter of an unterminated record holds that record's line only, not its neighbour.
      const [unterminated] = posted.filter((_, k) => k % cases.length === 2);
      const page = await (await app.request(`/v1/pipelines/clicks/dlq?run=${unterminated.body.run}`)).json();
      const letter = await (await app.request(`/v1/dlq/${page.items[0].id}`)).json();
      assert.equal(letter.original, '{"id":4,"amount":"unterminated\n');
      const [{ n }] = await sql`SELECT count(*)::int AS n FROM clicks`;
      assert.equal(n, rounds * cases.reduce((sum, [, accepted]) => sum + accepted, 0));
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("a unique rule holds within each request of a group, and group limits split a burst", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      // Each body is its own input: the same id in two requests is no duplicate, twice in one request is.
      const bodies = ['{"id":1}\n{"id":1}\n', '{"id":1}\n', '{"id":2}\n'];
      const answers = await Promise.all(bodies.map(async (body) => {
        const response = await post(app, "/v1/pipelines/orders/ingest", body);
        return { status: response.status, body: await response.json() };
      }));
      assert.deepEqual(answers.map((a) => [a.status, a.body.accepted, a.body.rejected]), [
        [200, 1, 1],
        [200, 1, 0],
        [200, 1, 0],
      ]);
      assert.deepEqual(answers[0].body.rejects, [{ line: 2, column: "id", rule: "unique", value: "1" }]);

      // At most 40 bytes per group, two of these 20-byte bodies: the burst commits as five groups or more.
      const committer = new GroupCommitter(runtime.pipelines.get("clicks")!, runtime, { maxBytes: 40 });
      try {
        const results = await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) =>
              committer.submit({
                format: "ndjson",
                bytes: new TextEncoder().encode(`{"id":${i},"amount":1}\n`),
              }),
          ),
        );
        assert.deepEqual(results.map((r) => r.accepted), Array(10).fill(1));
      } finally {
        await committer.close();
      }
      const [{ n, writes }] = await sql`
        SELECT (SELECT count(*)::int FROM clicks) AS n,
               (SELECT count(*)::int FROM weir.sink_commits WHERE sink LIKE '%clicks') AS writes`;
      assert.equal(n, 10);
      assert.ok(writes >= 5, `a group holds at most two bodies: ${writes} sink writes`);
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("a group a sink refuses fails each of its requests truthfully: 502, a failed run, its body dead-lettered", async () => {
  await withEnv(async (env, sql) => {
    const { runtime, app } = await open(env);
    try {
      // The table exists once the pipeline is open: make it refuse one id, and so the group holding it.
      await sql`ALTER TABLE clicks ADD CONSTRAINT no_13 CHECK (id <> 13)`;
      const posted = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const body = `{"id":${i},"amount":1}\n`;
          const response = await post(app, "/v1/pipelines/clicks/ingest", body);
          return { i, text: body, status: response.status, body: await response.json() };
        }),
      );
      assert.equal(posted[13].status, 502, JSON.stringify(posted[13].body));
      const refused = posted.filter((p) => p.status === 502);
      const landed = posted.filter((p) => p.status === 200);
      assert.equal(refused.length + landed.length, posted.length);
      for (const p of refused) {
        assert.equal(p.body.committed, false);
        assert.equal(p.body.accepted, 0);
        const run = await (await app.request(`/v1/runs/${p.body.run}`)).json();
        assert.equal(run.status, "failed", JSON.stringify(run));
        assert.deepEqual(run.error, { failedChunks: 1 });
        const letters = await (await app.request(`/v1/pipelines/clicks/dlq?run=${p.body.run}`)).json();
        assert.equal(letters.items.length, 1);
        assert.equal(letters.items[0].stage, "sink.postgres");
        const letter = await (await app.request(`/v1/dlq/${letters.items[0].id}`)).json();
        assert.equal(letter.original, p.text);
      }
      for (const p of landed) {
        const run = await (await app.request(`/v1/runs/${p.body.run}`)).json();
        assert.equal(run.status, "committed");
      }
      const rows = await sql`SELECT id::int AS id FROM clicks ORDER BY id`;
      assert.deepEqual(rows.map((r) => r.id), landed.map((p) => p.i));
    } finally {
      await runtime.close();
    }
  });
});
