/**
 * `deno task bench [NAME…]`: runs the named benchmarks (all when none are named) against their peers, each
 * comparison in this one process, and prints absolute MB/s and rows/s for each side plus one
 * `ratio <benchmark> vs <peer>: <weir / peer>` line per peer. `BENCH_MB` scales the data (default 200),
 * `BENCH_SEED` picks it, `BENCH_RUNS` sets timed runs per side (default 3, best kept), each side
 * running once untimed first.
 *
 * @module
 */

import { type Benchmark, type BenchOptions, runBenchmark } from "./harness.ts";
import { csvOrders, csvOrders2w } from "./csv_orders.ts";
import { validateOrders } from "./validate_orders.ts";
import { ndjsonOrders } from "./ndjson_orders.ts";
import { cleanupPostgresSinkBenchmarks, postgresSinkBenchmarks } from "./sink_postgres.ts";
import { cleanupIngestBenchmarks, ingestCsvPostgres, ingestEvents } from "./ingest.ts";

/** Every benchmark, in the order they run; listed explicitly rather than registered by side effect. */
export const BENCHMARKS: readonly Benchmark[] = [
  csvOrders,
  csvOrders2w,
  validateOrders,
  ndjsonOrders,
  ingestCsvPostgres,
  ingestEvents,
  // Needs PostgreSQL (BENCH_PG_URL, default the local test server) and psql; `BENCH_ROWS` sizes its batch.
  ...postgresSinkBenchmarks(),
];

function positiveNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!(n > 0)) throw new RangeError(`Invalid ${name}: expected a positive number, got ${raw}`);
  return n;
}

/** Reads `BENCH_MB`, `BENCH_SEED` and `BENCH_RUNS`. */
export function benchOptions(): BenchOptions {
  return {
    mb: positiveNumber("BENCH_MB", 200),
    seed: Math.floor(positiveNumber("BENCH_SEED", 42)),
    runs: Math.floor(positiveNumber("BENCH_RUNS", 3)),
  };
}

/** Picks the benchmarks named in `args` (all when empty); an unknown name is an error listing the known ones. */
export function selectBenchmarks(args: readonly string[]): Benchmark[] {
  if (args.length === 0) return [...BENCHMARKS];
  return args.map((name) => {
    const b = BENCHMARKS.find((x) => x.name === name);
    if (!b) {
      throw new RangeError(`Unknown benchmark: ${name} (known: ${BENCHMARKS.map((x) => x.name).join(", ")})`);
    }
    return b;
  });
}

if (import.meta.main) {
  const options = benchOptions();
  const chosen = selectBenchmarks(Deno.args);
  console.log(
    `bench: BENCH_MB=${options.mb} BENCH_SEED=${options.seed} BENCH_RUNS=${options.runs} (after one untimed run, best run kept)`,
  );
  try {
    for (const b of chosen) {
      console.error(`running ${b.name}: ${b.summary}`);
      await runBenchmark(b, options);
      // Servers and databases of one benchmark must not compete with the next.
      await cleanupIngestBenchmarks();
      await cleanupPostgresSinkBenchmarks();
    }
  } finally {
    await cleanupIngestBenchmarks();
    // The postgres sink benchmarks made a database each; exiting below would leave them behind.
    await cleanupPostgresSinkBenchmarks();
  }
  // DuckDB's native handles and worker pools would otherwise keep the process alive.
  Deno.exit(0);
}
