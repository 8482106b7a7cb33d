/**
 * Test support for the CSV kernel: runs a parser over bytes cut into given chunks and collects what it
 * produced in a shape that `assert.deepStrictEqual` compares well. Only tests and the fuzz task import it.
 *
 * @module
 */

import { CsvSyntaxError } from "../pipeline/errors.ts";
import type { KernelCore } from "./core.ts";
import { createCsvParser, type CsvParserOptions, type CsvReject } from "./csv.ts";
import { type ChunkedRows, feedChunks } from "./testing.ts";

/** Everything one parse produced, batches concatenated. */
export interface CsvOutcome extends ChunkedRows<CsvReject> {
  /** Column names. */
  names: string[];
  /** The syntax error that ended the parse, as `line:column`, if any. */
  error?: string;
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
  try {
    feedChunks(parser, bytes, { cuts, into: out });
  } catch (e) {
    if (!(e instanceof CsvSyntaxError)) throw e;
    out.error = `${e.line}:${e.column}`;
  }
  out.names = (parser.fields ?? []).map((f) => f.name);
  return out;
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
