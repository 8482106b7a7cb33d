/**
 * `sink-postgres`: the postgres sink appending an orders-like batch (1M rows by default; `BENCH_ROWS`) with
 * 1 and N parallel COPY streams, against `psql -c "\copy … csv"` of the same CSV bytes into the same table.
 * Run alone with `deno run -A bench/sink_postgres.ts`; `postgresSinkBenchmarks` is what bench/main.ts lists.
 *
 * @module
 */

import postgres from "postgres";
import type { Batch, Column } from "../pipeline/batch.ts";
import type { PipelineSchema } from "../pipeline/component.ts";
import { encodeCsvBytes } from "../pipeline/sinks/csv_encoder.ts";
import { postgresSink } from "../pipeline/sinks/postgres/mod.ts";
import { sinkTestContext } from "../pipeline/sinks/testing.ts";
import { createPostgresSinkDatabase } from "../storage/sink_database.ts";
import { type Benchmark, type BenchOptions, type Contender, runBenchmark } from "./harness.ts";
import { ORDER_STATUSES } from "./data.ts";
import { seededRandom } from "../cli/seeded_random.ts";

const ADMIN_URL = Deno.env.get("BENCH_PG_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

/** The orders schema the benchmark writes. */
export const ORDERS_SINK_SCHEMA: PipelineSchema = {
  key: [],
  fields: [
    { name: "id", type: "int64" },
    { name: "ts", type: "timestamp" },
    { name: "customer", type: "string" },
    { name: "country", type: "string" },
    { name: "amount", type: "decimal", precision: 12, scale: 2 },
    { name: "qty", type: "int64" },
    { name: "status", type: "string" },
    { name: "paid", type: "boolean" },
    { name: "note", type: "string" },
  ],
};

const NAMES = ["Ada Lovelace", "Hopper, Grace", 'Linus "rush" Torvalds', "Ken Thompson", "Barbara Liskov"];
const COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "NL"];
const NOTES = ["", "gift", "fragile", "back-order", "call first", "rush\npromo"];
const encoder = new TextEncoder();

function stringColumn(name: string, values: (i: number) => string, n: number): Column {
  const encoded = [...new Set(Array.from({ length: 64 }, (_, i) => values(i)))].map((s) => encoder.encode(s));
  const rnd = seededRandom(name.length * 7919);
  const picks = Uint16Array.from({ length: n }, () => Math.floor(rnd() * encoded.length));
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + encoded[picks[i]].length;
  const data = new Uint8Array(offsets[n]);
  for (let i = 0; i < n; i++) data.set(encoded[picks[i]], offsets[i]);
  return { name, type: "string", length: n, nullCount: 0, offsets, data };
}

/** A seeded orders batch of `rows` rows, built column by column. */
export function ordersBatch(rows: number, seed = 42): Batch {
  const rnd = seededRandom(seed);
  const id = new BigInt64Array(rows);
  const ts = new BigInt64Array(rows);
  const amount = new BigInt64Array(rows);
  const qty = new BigInt64Array(rows);
  const paid = new Uint8Array((rows + 7) >> 3);
  let t = Date.UTC(2026, 0, 1) * 1000;
  for (let i = 0; i < rows; i++) {
    id[i] = BigInt(i + 1);
    t += Math.floor(rnd() * 5_000_000);
    ts[i] = BigInt(t);
    amount[i] = BigInt(Math.floor(rnd() * 10_000_000));
    qty[i] = BigInt(1 + Math.floor(rnd() * 20));
    if (rnd() < 0.6) paid[i >> 3] |= 1 << (i & 7);
  }
  const base = { length: rows, nullCount: 0 };
  const columns: Record<string, Column> = {
    id: { ...base, name: "id", type: "int64", values: id },
    ts: { ...base, name: "ts", type: "timestamp", values: ts },
    customer: stringColumn("customer", (i) => NAMES[i % NAMES.length], rows),
    country: stringColumn("country", (i) => COUNTRIES[i % COUNTRIES.length], rows),
    amount: { ...base, name: "amount", type: "decimal", precision: 12, scale: 2, values: amount },
    qty: { ...base, name: "qty", type: "int64", values: qty },
    status: stringColumn("status", (i) => ORDER_STATUSES[i % ORDER_STATUSES.length], rows),
    paid: { ...base, name: "paid", type: "boolean", values: paid },
    note: stringColumn("note", (i) => NOTES[i % NOTES.length], rows),
  };
  return { schema: ORDERS_SINK_SCHEMA, length: rows, lines: new Int32Array(rows), columns };
}

/** Options for {@linkcode postgresSinkBenchmarks}. */
export interface PostgresSinkBenchOptions {
  /** Rows per batch. Default `BENCH_ROWS` or 1 000 000. */
  rows?: number;
  /** Parallel stream counts to measure, one benchmark each. Default [1, 2, 4]. */
  streams?: number[];
}

/**
 * One benchmark per stream count: weir's postgres sink (append) vs psql `\copy` of the same CSV. Each prepares
 * its own database, dropped by the process at exit (`cleanup` is returned for callers that stay alive).
 */
export function postgresSinkBenchmarks(options: PostgresSinkBenchOptions = {}): Benchmark[] {
  const rows = options.rows ?? Number(Deno.env.get("BENCH_ROWS") ?? 1_000_000);
  return (options.streams ?? [1, 2, 4]).map((streams) => ({
    name: `sink-postgres-append-${streams}s`,
    summary: `postgres sink append of ${rows} orders rows over ${streams} COPY stream(s) vs psql \\copy csv`,
    async prepare(_: BenchOptions) {
      const batch = ordersBatch(rows);
      const csv = encodeCsvBytes(batch);
      const csvPath = await Deno.makeTempFile({ suffix: ".csv" });
      await Deno.writeFile(csvPath, csv);
      const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      const dbName = `weir_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await admin.unsafe(`CREATE DATABASE ${dbName}`);
      const url = new URL(ADMIN_URL);
      url.pathname = `/${dbName}`;
      const sql = postgres(url.href, { max: streams + 1, onnotice: () => {} });
      const db = createPostgresSinkDatabase(sql);
      const sink = await postgresSink.build(
        { table: "orders", schema: "public", mode: "append", create: true, streams, minRowsPerStream: 1 },
        sinkTestContext(ORDERS_SINK_SCHEMA, { database: db, pipeline: "bench" }),
      );
      const truncate = () => sql.unsafe(`TRUNCATE orders; TRUNCATE weir.sink_commits`).then(() => {});
      let run = 0;
      const weir: Contender = {
        name: "weir",
        bytes: csv.length,
        rows,
        async run() {
          await sink.write(batch, {
            runId: `r_bench_${run++}`,
            sequence: 0,
            signal: new AbortController().signal,
          });
          return rows;
        },
        after: truncate,
      };
      const psql: Contender = {
        name: "psql",
        bytes: csv.length,
        rows,
        async run() {
          const out = await new Deno.Command("psql", {
            args: [
              url.href,
              "-q",
              "-v",
              "ON_ERROR_STOP=1",
              "-c",
              `\\copy orders (${
                ORDERS_SINK_SCHEMA.fields.map((f) => f.name).join(", ")
              }) from '${csvPath}' csv`,
            ],
            stdout: "null",
            stderr: "piped",
          }).output();
          if (!out.success) throw new Error(`psql failed: ${new TextDecoder().decode(out.stderr)}`);
          return rows;
        },
        after: truncate,
      };
      addEventListener("unload", () => {
        try {
          Deno.removeSync(csvPath);
        } catch { /* already gone */ }
      });
      cleanups.push(async () => {
        await sink.close();
        await sql.end({ timeout: 5 });
        await admin.unsafe(`DROP DATABASE ${dbName} WITH (FORCE)`);
        await admin.end();
        await Deno.remove(csvPath).catch(() => {});
      });
      return { weir, peers: [psql] };
    },
  }));
}

const cleanups: (() => Promise<void>)[] = [];

/** Drops the databases and files the prepared benchmarks made. */
export async function cleanupPostgresSinkBenchmarks(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()?.();
}

if (import.meta.main) {
  const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
  for (const b of postgresSinkBenchmarks()) {
    console.error(`running ${b.name}: ${b.summary}`);
    await runBenchmark(b, { mb: 0, seed: 42, runs });
    await cleanupPostgresSinkBenchmarks();
  }
}
