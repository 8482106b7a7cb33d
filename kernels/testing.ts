/**
 * Test support shared by the CSV and JSON reader tests (`csv_testing.ts`, `ndjson_testing.ts`): a fresh
 * kernel instance, a seeded random generator, feeding a parser chunk by chunk, and reading the module's
 * exported layout constants. Only tests, the fuzz task and their corpora import it.
 *
 * @module
 */

import { type Batch, type CellValue, rowValues } from "../pipeline/batch.ts";
import { compileKernels } from "./mod.ts";
import { KernelCore } from "./core.ts";

export { seededRandom } from "../cli/seeded_random.ts";

/** A fresh kernel instance on the built module. */
export async function kernelTestCore(): Promise<KernelCore> {
  return new KernelCore(new WebAssembly.Instance(await compileKernels(), {}));
}

/** Rows, their lines and the rejects of a parse, batches concatenated. */
export interface ChunkedRows<R> {
  /** Rows as cell values in column order. */
  rows: CellValue[][];
  /** 1-based line of each row. */
  lines: number[];
  /** Rejected rows or records. */
  rejects: R[];
}

/** A streaming reader as the CSV and JSON kernels provide it. */
export interface ChunkParser<R> {
  /** Reads what is complete in everything pushed so far. */
  push(chunk: Uint8Array): { batch: Batch; rejects: R[] };
  /** Ends the input. */
  finish(): { batch: Batch; rejects: R[] };
}

/** Where {@linkcode feedChunks} cuts the input and collects the output. */
export interface FeedOptions<R> {
  /** Chunk lengths; the remainder is one last chunk. */
  cuts: readonly number[];
  /** Receives the rows and rejects as they come, so a parse that throws keeps what it produced. */
  into: ChunkedRows<R>;
}

/** Pushes `bytes` as chunks of the given lengths, then finishes, appending every result to `options.into`. */
export function feedChunks<R>(parser: ChunkParser<R>, bytes: Uint8Array, options: FeedOptions<R>): void {
  const out = options.into;
  const take = (r: { batch: Batch; rejects: R[] }) => {
    for (let i = 0; i < r.batch.length; i++) {
      out.rows.push(rowValues(r.batch, i));
      out.lines.push(r.batch.lines[i]);
    }
    out.rejects.push(...r.rejects);
  };
  let at = 0;
  for (const n of options.cuts) {
    take(parser.push(bytes.subarray(at, Math.min(bytes.length, at + n))));
    at = Math.min(bytes.length, at + n);
  }
  take(parser.push(bytes.subarray(at)));
  take(parser.finish());
}

/** The module's exported constants (immutable globals) whose names start with `prefix`, prefix removed. */
export function exportedConstants(exports: WebAssembly.Exports, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(exports)) {
    if (name.startsWith(prefix) && value instanceof WebAssembly.Global) {
      out[name.slice(prefix.length)] = Number(value.value);
    }
  }
  return out;
}
