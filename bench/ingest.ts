/**
 * End-to-end ingestion through a real weir server (in-process `startServer`, `DATABASE_URL` of a fresh
 * database, a bench weir.yaml):
 *
 * - `ingest-csv-postgres`: the `BENCH_MB` orders CSV POSTed to weir by curl (parsed, validated, landed by the
 *   postgres sink in append mode) vs `psql -c "\copy … csv header"` of the same file into a table of the same
 *   shape. Both clients are processes of their own.
 * - `ingest-events`: `BENCH_EVENTS` (default 10 000) single-event NDJSON POSTs with committed acks from
 *   `BENCH_CLIENTS` (default 64) concurrent clients (a worker thread) vs the same Hono app stack answering a
 *   no-op route with the same bodies; latency percentiles of the best run are printed for both.
 *
 * `BENCH_PG_URL` names the PostgreSQL to create the databases in (default the local `test` database).
 *
 * @module
 */
import postgres from "postgres";
import { loadEnv } from "../config/env.ts";
import { createLogger } from "../observability/logger.ts";
import { createApp } from "../routes/mod.ts";
import { type RunningServer, startServer } from "../server/serve.ts";
import { type Benchmark, type Comparison, type Contender } from "./harness.ts";
import { ordersFile } from "./data.ts";
import { eventBody, type EventsLoad, type EventsLoadResult } from "./ingest_events_client.ts";

const ADMIN_URL = Deno.env.get("BENCH_PG_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

const ORDERS_SCHEMA_YAML = `
    schema:
      columns:
        id: { type: int64, required: true }
        ts: { type: timestamp, required: true }
        customer: { type: string, maxLength: 200 }
        country: { type: string, pattern: "^[A-Z]{2}$" }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
        qty: { type: int64, min: 1 }
        status: { type: enum, values: [new, paid, shipped, cancelled, refunded] }
        paid: { type: boolean }
        note: { type: string }`;

const BENCH_YAML = `
pipelines:
  orders:
    source: { http: { formats: [csv] } }${ORDERS_SCHEMA_YAML}
    sinks: [{ postgres: { table: orders, mode: append } }]
  events:
    source: { http: { formats: [ndjson] } }${ORDERS_SCHEMA_YAML}
    sinks: [{ postgres: { table: events, mode: append } }]
`;

/** The same table shape the postgres sink creates from the schema above. */
const PSQL_TABLE = `CREATE TABLE orders_psql (id bigint, ts timestamptz, customer text, country text,
  amount numeric(12,2), qty bigint, status text, paid boolean, note text)`;

/** A weir server on a fresh database, and how to tear both down. */
interface BenchServer {
  server: RunningServer;
  url: string;
  sql: postgres.Sql;
  databaseUrl: string;
  close(): Promise<void>;
}

async function startBenchServer(): Promise<BenchServer> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  const name = `weir_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const dataDir = await Deno.makeTempDir({ prefix: "weir-bench-" });
  await Deno.writeTextFile(`${dataDir}/weir.yaml`, BENCH_YAML);
  const config = loadEnv({
    PORT: "0",
    DATABASE_URL: url.href,
    WEIR_DATA_DIR: dataDir,
    WEIR_CONFIG: `${dataDir}/weir.yaml`,
    WEIR_LOG_LEVEL: "warn",
    ...(Deno.env.get("WEIR_WORKERS") ? { WEIR_WORKERS: Deno.env.get("WEIR_WORKERS") } : {}),
  });
  const server = await startServer(config, createLogger({ level: "warn" }));
  const sql = postgres(url.href, { max: 2, onnotice: () => {} });
  return {
    server,
    url: `http://${server.addr.hostname}:${server.addr.port}`,
    sql,
    databaseUrl: url.href,
    async close() {
      await server.shutdown("bench finished");
      await sql.end({ timeout: 5 });
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];

/** Stops the servers and drops the databases the prepared benchmarks made. */
export async function cleanupIngestBenchmarks(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()?.();
}

/**
 * POSTs the file at `path` with curl, as psql reads it: from a process of its own. An in-process `fetch` upload
 * would charge weir's event loop for the client: Deno's request-body streaming costs its thread 0.2-0.7 s of CPU
 * per 50 MB while the server applies backpressure (curl: 0.05 s), which the peer, psql, never pays.
 */
async function postFile(
  url: string,
  path: string,
  contentType: string,
): Promise<{ committed?: boolean; accepted: number; rejected: number }> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-X",
      "POST",
      "-T",
      path,
      "-H",
      `content-type: ${contentType}`,
      "-H",
      "expect:",
      "-w",
      "\n%{http_code}",
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const status = text.slice(text.lastIndexOf("\n") + 1);
  if (!out.success || status !== "200") {
    throw new Error(`curl ${status}: ${text.slice(0, 500)} ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text.slice(0, text.lastIndexOf("\n")));
}

/** The `ingest-csv-postgres` benchmark. */
export const ingestCsvPostgres: Benchmark = {
  name: "ingest-csv-postgres",
  summary: "orders.csv POSTed to a weir server and landed in PostgreSQL vs psql \\copy csv header",
  async prepare(options): Promise<Comparison> {
    const file = await ordersFile({ mb: options.mb, seed: options.seed, format: "csv" });
    const bench = await startBenchServer();
    cleanups.push(() => bench.close());
    await bench.sql.unsafe(PSQL_TABLE);
    await bench.sql.unsafe("CHECKPOINT");
    const weir: Contender = {
      name: "weir",
      bytes: file.bytes,
      rows: file.rows,
      async run() {
        const result = await postFile(`${bench.url}/v1/pipelines/orders/ingest`, file.path, "text/csv");
        if (result.committed !== true) {
          throw new Error(`weir answered: ${JSON.stringify(result).slice(0, 500)}`);
        }
        return result.accepted + result.rejected;
      },
      async after() {
        await bench.sql.unsafe("TRUNCATE orders; TRUNCATE weir.sink_commits");
        await bench.sql.unsafe("CHECKPOINT");
      },
    };
    const psql: Contender = {
      name: "psql",
      bytes: file.bytes,
      rows: file.rows,
      async run() {
        const out = await new Deno.Command("psql", {
          args: [
            bench.databaseUrl,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            `\\copy orders_psql from '${file.path.replaceAll("'", "''")}' csv header`,
          ],
          stdout: "null",
          stderr: "piped",
        }).output();
        if (!out.success) throw new Error(`psql failed: ${new TextDecoder().decode(out.stderr)}`);
        const [{ n }] = await bench.sql`SELECT count(*)::int AS n FROM orders_psql`;
        return n;
      },
      async after() {
        await bench.sql.unsafe("TRUNCATE orders_psql");
        // Each run starts with the WAL written back: a checkpoint the previous run owed must not land in the next.
        await bench.sql.unsafe("CHECKPOINT");
      },
    };
    return { weir, peers: [psql] };
  },
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** A side of `ingest-events`: the load worker against `url`, keeping the latencies of the fastest run. */
function eventsContender(
  name: string,
  url: string,
  load: { worker: Worker; count: number; concurrency: number; bytes: number; ids: { next: number } },
  check?: () => Promise<void>,
): Contender {
  let best = Infinity;
  let bestLatencies = new Float64Array();
  return {
    name,
    bytes: load.bytes,
    rows: load.count,
    async run() {
      const started = performance.now();
      const request: EventsLoad = {
        url,
        count: load.count,
        concurrency: load.concurrency,
        firstId: load.ids.next,
      };
      load.ids.next += load.count;
      const { promise, resolve } = Promise.withResolvers<EventsLoadResult>();
      load.worker.onmessage = (event: MessageEvent<EventsLoadResult>) => resolve(event.data);
      load.worker.postMessage(request);
      const result = await promise;
      const elapsed = performance.now() - started;
      const failed = Object.values(result.failures).reduce((n, k) => n + k, 0);
      if (failed > 0) {
        console.error(`warning ${name}: ${failed} failed requests ${JSON.stringify(result.failures)}`);
      }
      if (elapsed < best) {
        best = elapsed;
        bestLatencies = result.latencies.slice().sort();
      }
      await check?.();
      return load.count - failed;
    },
    notes: () => [
      `latency ingest-events ${name}: p50 ${percentile(bestLatencies, 0.5).toFixed(2)} ms, p99 ${
        percentile(bestLatencies, 0.99).toFixed(2)
      } ms (${load.concurrency} clients)`,
    ],
  };
}

/** The `ingest-events` benchmark. */
export const ingestEvents: Benchmark = {
  name: "ingest-events",
  summary: "single-event NDJSON POSTs with committed acks from concurrent clients vs a no-op route",
  async prepare(): Promise<Comparison> {
    const count = Number(Deno.env.get("BENCH_EVENTS") ?? 10_000);
    const concurrency = Number(Deno.env.get("BENCH_CLIENTS") ?? 64);
    const bench = await startBenchServer();
    cleanups.push(() => bench.close());

    // The peer: weir's own app stack (request id, metrics, error handler) with a no-op route.
    const logger = createLogger({ level: "warn" });
    const app = createApp({ logger, readiness: () => ({ phase: "serving", dependencies: [] }) });
    app.post("/v1/noop", async (c) => {
      await c.req.arrayBuffer();
      return c.json({ ok: true });
    });
    const noop = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
    cleanups.push(() => noop.shutdown());

    const worker = new Worker(new URL("./ingest_events_client.ts", import.meta.url), { type: "module" });
    cleanups.push(() => Promise.resolve(worker.terminate()));
    const bytes = count * eventBody(1_000_000).length;
    const ids = { next: 1 };
    let landed = 0;
    const weir = eventsContender(
      "weir",
      `${bench.url}/v1/pipelines/events/ingest`,
      { worker, count, concurrency, bytes, ids },
      async () => {
        // Committed acks mean the rows are there when the last answer arrives.
        const [{ n }] = await bench.sql`SELECT count(*)::int AS n FROM events`;
        if (n !== landed + count) console.error(`warning weir: ${n - landed} rows landed, expected ${count}`);
        landed = n;
      },
    );
    const peer = eventsContender("hono-noop", `http://127.0.0.1:${noop.addr.port}/v1/noop`, {
      worker,
      count,
      concurrency,
      bytes,
      ids,
    });
    return { weir, peers: [peer] };
  },
};
