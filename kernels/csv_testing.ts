/**
 * Test support for the CSV kernel: runs a parser over bytes cut into given chunks and collects what it
 * produced in a shape that `assert.deepStrictEqual` compares well. Only tests and the fuzz task import it.
 *
 * @module
 */

import { type CellValue, rowValues } from "../pipeline/batch.ts";
import { CsvSyntaxError } from "../pipeline/errors.ts";
import { compileKernels } from "./mod.ts";
import { KernelCore } from "./core.ts";
import { createCsvParser, type CsvParserOptions, type CsvReject } from "./csv.ts";

/** Everything one parse produced, batches concatenated. */
export interface CsvOutcome {
  /** Column names. */
  names: string[];
  /** Rows as cell values in column order. */
  rows: CellValue[][];
  /** 1-based line of each row. */
  lines: number[];
  /** Rejected rows. */
  rejects: CsvReject[];
  /** The syntax error that ended the parse, as `line:column`, if any. */
  error?: string;
}

/** A fresh kernel instance on the built module. */
export async function csvTestCore(): Promise<KernelCore> {
  return new KernelCore(new WebAssembly.Instance(await compileKernels(), {}));
}

/**
 * Parses `bytes` pushed as chunks of the given lengths (the remainder is one last chunk), then finishes.
 * A `CsvSyntaxError` is recorded in `error`; anything else is thrown.
 */
export function parseChunks(
  core: KernelCore,
  bytes: Uint8Array,
  options: CsvParserOptions,
  cuts: readonly number[] = [],
): CsvOutcome {
  const parser = createCsvParser(core, options);
  const out: CsvOutcome = { names: [], rows: [], lines: [], rejects: [] };
  const take = (r: { batch: import("../pipeline/batch.ts").Batch; rejects: CsvReject[] }) => {
    for (let i = 0; i < r.batch.length; i++) {
      out.rows.push(rowValues(r.batch, i));
      out.lines.push(r.batch.lines[i]);
    }
    out.rejects.push(...r.rejects);
  };
  try {
    let at = 0;
    for (const n of cuts) {
      take(parser.push(bytes.subarray(at, Math.min(bytes.length, at + n))));
      at = Math.min(bytes.length, at + n);
    }
    take(parser.push(bytes.subarray(at)));
    take(parser.finish());
  } catch (e) {
    if (!(e instanceof CsvSyntaxError)) throw e;
    out.error = `${e.line}:${e.column}`;
  }
  out.names = (parser.fields ?? []).map((f) => f.name);
  return out;
}

/** Mulberry32: a small seeded PRNG, so every generated test input can be reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random chunk lengths that cover `length` bytes, some of them empty. */
export function randomCuts(random: () => number, length: number, maxCuts = 8): number[] {
  const cuts: number[] = [];
  let left = length;
  const n = Math.floor(random() * (maxCuts + 1));
  for (let i = 0; i < n && left > 0; i++) {
    const c = random() < 0.1 ? 0 : 1 + Math.floor(random() * Math.min(left, 1 + Math.floor(random() * 96)));
    cuts.push(c);
    left -= c;
  }
  return cuts;
}
