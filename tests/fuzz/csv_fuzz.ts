/**
 * Seeded fuzzing of the CSV kernel: random and mutated inputs, random dialects, types, limits and chunk
 * cuts. Every input must parse without anything but a `CsvSyntaxError`, produce well-formed batches, and
 * (for a sample) the same output however it is cut; the instance's memory must stay bounded.
 *
 * ```sh
 * deno task fuzz              # 2,000,000 inputs from seed 1
 * deno task fuzz 500000 7     # count, seed
 * ```
 *
 * @module
 */

import type { Field } from "../../pipeline/batch.ts";
import { CsvSyntaxError } from "../../pipeline/errors.ts";
import type { KernelCore } from "../../kernels/core.ts";
import { createCsvParser, type CsvParserOptions } from "../../kernels/csv.ts";
import { corpusDocument } from "../../kernels/csv_corpus.ts";
import { parseChunks, randomCuts } from "../../kernels/csv_testing.ts";
import { kernelTestCore, seededRandom } from "../../kernels/testing.ts";

/** What a fuzz run saw. */
export interface FuzzReport {
  /** Inputs parsed. */
  inputs: number;
  /** Rows kept, rows rejected and syntax errors, summed over all inputs. */
  rows: number;
  rejects: number;
  syntaxErrors: number;
  /** Inputs whose chunked and whole parses, and fast-path and two-stage parses, were compared. */
  compared: number;
  /** Bytes of the instance's linear memory at the end. */
  memoryBytes: number;
  /** The first few problems, each with the seed that reproduces it. */
  failures: string[];
}

/** Options for {@linkcode fuzzCsv}. */
export interface FuzzOptions {
  /** Inputs to run. */
  count: number;
  /** First seed; input i uses seed + i. */
  seed?: number;
  /** Instance to run on (default: a fresh one). */
  core?: KernelCore;
  /** Share of inputs also parsed whole and compared with the chunked parse. Default 0.1. */
  compareRate?: number;
  /** Called every 10,000 inputs. */
  progress?: (done: number) => void;
}

const ALPHABET = encode(",;\t|\"'\r\n\r\n  aZ09.-+eE:TZNUL\\x");
const HIGH = [0x80, 0xbf, 0xc2, 0xe2, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xff];
const TYPES: Field["type"][] = ["int64", "float64", "decimal", "boolean", "date", "timestamp", "string"];
const SAMPLES = [
  "1",
  "-9223372036854775808",
  "99999999999999999999",
  "1.5e308",
  "1e-320",
  ".5",
  "NaN",
  "2024-02-29",
  "2024-01-02T03:04:05.123456789+05:30",
  "2024-01-02 03:04",
  "true",
  "no",
  "12.345",
  "NULL",
  "\\N",
  "",
];

// Mutation bases, generated once: documents that already exercise the whole dialect.
const corpus = Array.from({ length: 256 }, (_, i) => corpusDocument(i + 1).bytes.subarray(0, 600));

function encode(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A random input: random bytes, a mutated corpus document, or typed-looking rows. */
function randomInput(random: () => number, seed: number): Uint8Array {
  const kind = random();
  if (kind < 0.4) {
    const n = Math.floor(random() * random() * 300);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = random() < 0.1
        ? HIGH[Math.floor(random() * HIGH.length)]
        : ALPHABET[Math.floor(random() * ALPHABET.length)];
    }
    if (random() < 0.05) return new Uint8Array([0xef, 0xbb, 0xbf, ...out]);
    return out;
  }
  if (kind < 0.8) {
    const doc = corpus[seed % corpus.length];
    const out = Array.from(doc);
    const edits = 1 + Math.floor(random() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * (out.length + 1));
      const op = random();
      const b = random() < 0.5
        ? ALPHABET[Math.floor(random() * ALPHABET.length)]
        : Math.floor(random() * 256);
      if (op < 0.4) out.splice(at, 0, b);
      else if (op < 0.7) out.splice(at, 1);
      else if (op < 0.9) out[at] = b;
      else out.splice(at, Math.floor(random() * 40));
    }
    return new Uint8Array(out);
  }
  const rows = Math.floor(random() * 12);
  const width = 1 + Math.floor(random() * 4);
  let text = "";
  for (let r = 0; r < rows; r++) {
    const cells = Array.from({ length: width }, () => {
      const v = SAMPLES[Math.floor(random() * SAMPLES.length)];
      return random() < 0.2 ? `"${v}"` : v;
    });
    text += cells.join(",") + (random() < 0.8 ? "\n" : "\r\n");
  }
  return encode(text);
}

function randomOptions(random: () => number): CsvParserOptions {
  const options: CsvParserOptions = {
    delimiter: random() < 0.7 ? "," : [";", "\t", "|"][Math.floor(random() * 3)],
    quote: random() < 0.9 ? '"' : random() < 0.5 ? "'" : null,
    header: random() < 0.5,
  };
  if (random() < 0.5) {
    const width = 1 + Math.floor(random() * 4);
    options.columns = Array.from({ length: width }, (_, i): Field => {
      const type = TYPES[Math.floor(random() * TYPES.length)];
      return type === "decimal" ? { name: `c${i}`, type, precision: 12, scale: 3 } : { name: `c${i}`, type };
    });
    if (options.header) options.header = random() < 0.3;
    options.nullTokens = random() < 0.5 ? ["", "NULL", "\\N"] : [""];
  }
  if (random() < 0.3) {
    options.limits = { fieldBytes: 1 + Math.floor(random() * 40), rowBytes: 1 + Math.floor(random() * 80) };
  }
  return options;
}

/** The input, options and cuts of fuzz case `seed`, to reproduce a finding. */
export function fuzzCase(seed: number): { bytes: Uint8Array; options: CsvParserOptions; cuts: number[] } {
  const random = seededRandom(seed);
  const bytes = randomInput(random, seed);
  const options = randomOptions(random);
  return { bytes, options, cuts: randomCuts(random, bytes.length, 6) };
}

/** Runs `count` seeded inputs and reports what happened; never throws for a finding, it records it. */
export async function fuzzCsv(options: FuzzOptions): Promise<FuzzReport> {
  const core = options.core ?? (await kernelTestCore());
  const first = options.seed ?? 1;
  const compareRate = options.compareRate ?? 0.1;
  const report: FuzzReport = {
    inputs: 0,
    rows: 0,
    rejects: 0,
    syntaxErrors: 0,
    compared: 0,
    memoryBytes: 0,
    failures: [],
  };
  const fail = (seed: number, what: string) => {
    if (report.failures.length < 10) report.failures.push(`seed ${seed}: ${what}`);
  };
  for (let i = 0; i < options.count; i++) {
    const seed = first + i;
    const random = seededRandom(seed);
    const bytes = randomInput(random, seed);
    const opts = randomOptions(random);
    const cuts = randomCuts(random, bytes.length, 6);
    report.inputs++;
    try {
      const parser = createCsvParser(core, opts);
      let at = 0;
      let lastLine = 0;
      const results = [];
      try {
        // A syntax error (unterminated quote, bad header) may come from any call and ends the input.
        for (const n of [...cuts, bytes.length]) {
          results.push(parser.push(bytes.subarray(at, Math.min(bytes.length, at + n))));
          at = Math.min(bytes.length, at + n);
        }
        results.push(parser.finish());
      } catch (e) {
        if (!(e instanceof CsvSyntaxError)) throw e;
        report.syntaxErrors++;
        if (!(e.line >= 1 && e.column >= 1)) fail(seed, `syntax error at ${e.line}:${e.column}`);
      }
      for (const { batch, rejects } of results) {
        report.rows += batch.length;
        report.rejects += rejects.length;
        if (batch.lines.length !== batch.length) fail(seed, "lines and rows differ in length");
        for (const line of batch.lines) {
          if (line <= lastLine) fail(seed, `line ${line} after ${lastLine}`);
          lastLine = line;
        }
        for (const f of batch.schema.fields) {
          const c = batch.columns[f.name];
          if (!c || c.length !== batch.length) fail(seed, `column ${f.name} has the wrong length`);
          if (c?.type === "string" && c.offsets[batch.length] !== c.data.length) {
            fail(seed, "string offsets do not end at the data");
          }
        }
        for (const r of rejects) {
          if (!(r.line >= 1)) fail(seed, `reject at line ${r.line}`);
        }
      }
      if (random() < compareRate) {
        report.compared++;
        const whole = parseChunks(core, bytes, opts);
        const chunked = parseChunks(core, bytes, opts, cuts);
        if (JSON.stringify(whole, bigints) !== JSON.stringify(chunked, bigints)) {
          fail(seed, `cuts ${cuts} change the output`);
        }
        // The kernel's fast path and its two stages must agree on every row, whichever reads it.
        const twoStages = parseChunks(core, bytes, { ...opts, fastPath: false }, cuts);
        if (JSON.stringify(twoStages, bigints) !== JSON.stringify(chunked, bigints)) {
          fail(seed, "the fast path and the two stages differ");
        }
        // Its full variant too, which a stream reaches only after its lean one gave up enough rows.
        const full = parseChunks(core, bytes, { ...opts, fastPath: "full" }, cuts);
        if (JSON.stringify(full, bigints) !== JSON.stringify(chunked, bigints)) {
          fail(seed, "the fast path's full variant and its lean one differ");
        }
      }
    } catch (e) {
      fail(seed, String(e));
    }
    if (options.progress && (i + 1) % 10_000 === 0) options.progress(i + 1);
  }
  report.memoryBytes = core.memoryBytes;
  // Let the event loop breathe once so a caller's timers and signals run.
  await Promise.resolve();
  return report;
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `${value}n` : value;
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? 2_000_000);
  const seed = Number(Deno.args[1] ?? 1);
  const started = performance.now();
  const report = await fuzzCsv({
    count,
    seed,
    progress: (n) =>
      console.error(`fuzz: ${n} inputs, ${((performance.now() - started) / 1000).toFixed(1)} s`),
  });
  console.log(JSON.stringify(report, null, 2));
  if (report.failures.length > 0) Deno.exit(1);
}
