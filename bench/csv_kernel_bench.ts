/**
 * The CSV kernel alone, on one thread, without workers: typed parse of orders.csv into batches (outputs copied
 * out of wasm memory into transferable buffers, as the pipeline does). It tells what the kernel can do before the
 * pool and validation add their costs; `deno task bench` measures the whole path against peers.
 *
 * ```sh
 * deno run -A bench/csv_kernel_bench.ts            # BENCH_MB (default 200) of orders.csv
 * ```
 *
 * @module
 */

import type { Field } from "../pipeline/batch.ts";
import { compileKernels } from "../kernels/mod.ts";
import { KernelCore } from "../kernels/core.ts";
import { createCsvParser } from "../kernels/csv.ts";

/** The declared columns of orders.csv (bench/data.ts), as the pipeline's schema would give them. */
export const ORDERS_FIELDS: readonly Field[] = Object.freeze([
  { name: "id", type: "int64" },
  { name: "ts", type: "timestamp" },
  { name: "customer", type: "string" },
  { name: "country", type: "string" },
  { name: "amount", type: "decimal", precision: 12, scale: 2 },
  { name: "qty", type: "int64" },
  { name: "status", type: "string" },
  { name: "paid", type: "boolean" },
  { name: "note", type: "string" },
]);

/** Options for {@linkcode runCsvKernelBench}. */
export interface CsvKernelBenchOptions {
  /** Declared columns; default {@linkcode ORDERS_FIELDS}. Empty means untyped (all strings). */
  fields?: readonly Field[];
  /** Bytes per push, like the chunker's chunks. Default 4 MiB. */
  chunkBytes?: number;
  /** Timed runs; the best is reported. Default 3. */
  runs?: number;
  /** Instance to run on; default a fresh one. */
  core?: KernelCore;
}

/** What one benchmark measured. */
export interface CsvKernelBenchResult {
  /** Input bytes. */
  bytes: number;
  /** Rows parsed and rejected in one run. */
  rows: number;
  rejects: number;
  /** Best run, in milliseconds, and the throughput it gives. */
  ms: number;
  mbPerSecond: number;
  rowsPerSecond: number;
  /** Every run's milliseconds. */
  runsMs: number[];
}

/** Parses `data` with the CSV kernel `runs` times on one thread and reports the best run. */
export async function runCsvKernelBench(
  data: Uint8Array,
  options: CsvKernelBenchOptions = {},
): Promise<CsvKernelBenchResult> {
  const core = options.core ?? new KernelCore(new WebAssembly.Instance(await compileKernels(), {}));
  const fields = options.fields ?? ORDERS_FIELDS;
  const chunk = options.chunkBytes ?? 4 << 20;
  const runsMs: number[] = [];
  let rows = 0;
  let rejects = 0;
  for (let run = 0; run < (options.runs ?? 3); run++) {
    rows = 0;
    rejects = 0;
    const parser = createCsvParser(core, fields.length > 0 ? { columns: fields } : {});
    const started = performance.now();
    for (let at = 0; at < data.length; at += chunk) {
      const r = parser.push(data.subarray(at, at + chunk));
      rows += r.batch.length;
      rejects += r.rejects.length;
    }
    const r = parser.finish();
    rows += r.batch.length;
    rejects += r.rejects.length;
    runsMs.push(performance.now() - started);
  }
  const ms = Math.min(...runsMs);
  return {
    bytes: data.length,
    rows,
    rejects,
    ms,
    mbPerSecond: data.length / 1e6 / (ms / 1000),
    rowsPerSecond: rows / (ms / 1000),
    runsMs,
  };
}

if (import.meta.main) {
  const { ordersFile } = await import("./data.ts");
  const mb = Number(Deno.env.get("BENCH_MB") ?? 200);
  const file = await ordersFile({ mb, seed: 42, format: "csv" });
  const data = await Deno.readFile(file.path);
  for (const [name, fields] of [["typed", ORDERS_FIELDS], ["untyped", []]] as const) {
    const r = await runCsvKernelBench(data, { fields });
    if (r.rows !== file.rows) throw new Error(`Expected ${file.rows} rows, parsed ${r.rows}`);
    console.log(
      `csv kernel ${name}: ${r.mbPerSecond.toFixed(0)} MB/s, ${
        (r.rowsPerSecond / 1e6).toFixed(2)
      } M rows/s ` +
        `(${(r.bytes / 1e6).toFixed(0)} MB, ${r.rows} rows, ${r.rejects} rejects, runs ${
          r.runsMs.map((t) => t.toFixed(0)).join("/")
        } ms)`,
    );
  }
}
