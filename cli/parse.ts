/**
 * `weir parse FILE [--delimiter D] [--no-header] [--types infer]`: reads a CSV file (or stdin for `-`) and
 * writes one JSON object per record to stdout, keyed by the header's names, and each rejected row as a JSON
 * line on stderr with its line and reason. It streams: the chunker cuts the input at record boundaries, a
 * kernel worker parses each chunk, and the main thread encodes the rows while the worker parses the next
 * chunks, so memory stays bounded by the chunks in flight whatever the file's size. A regular file given by
 * path is not read by the main thread past the sniffing sample: the workers read it in byte ranges themselves
 * (pipeline/file_ranges.ts), with the same output.
 *
 * Values are strings exactly as written (quotes removed, doubled quotes undone; no null tokens) unless
 * `--types infer`: then pipeline/sniff.ts infers each column's type from the first 64 KiB and the rows are
 * parsed typed, encoded as the sinks encode them (pipeline/json_lines.ts), and a value that does not fit its
 * column rejects its row. The delimiter and quote are sniffed unless `--delimiter` is given.
 *
 * @module
 */

import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import { createLogger } from "../observability/logger.ts";
import type { Field } from "../pipeline/batch.ts";
import { type Chunk, chunkRecords, countLines, csvHeader } from "../pipeline/chunker.ts";
import { parseCsvFileChunks } from "../pipeline/file_ranges.ts";
import { encodeJsonLines } from "../pipeline/json_lines.ts";
import { CsvSyntaxError } from "../pipeline/errors.ts";
import { sniff, SNIFF_BYTES, type SniffedType, type SniffResult, splitRecords } from "../pipeline/sniff.ts";
import type { Reject } from "../pipeline/validate.ts";
import { KernelPool } from "../workers/pool.ts";
import type { ParseChunkParams } from "../workers/parse.ts";
import type { JobResult } from "../workers/pool.ts";

/** Where the command reads and writes; tests pass their own. */
export interface ParseCommandIo {
  /** Opens `path` (`-` for stdin) as a byte stream; rejects when it cannot be opened. */
  open(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Records as JSON lines. Every write is awaited, so a slow reader slows the parse instead of filling memory. */
  stdout: WritableStream<Uint8Array>;
  /** Rejected rows as JSON lines, and usage and read errors as text. */
  stderr: WritableStream<Uint8Array>;
  /**
   * Whether `path` is a regular file, which the workers then read in byte ranges themselves (`parseCsvFile`)
   * instead of the main thread reading and cutting it. Absent: never.
   */
  isFile?(path: string): Promise<boolean>;
}

/** Knobs for {@linkcode parseCommand}, mostly for tests. */
export interface ParseCommandOptions {
  /** The compiled kernel module; compiled from build/kernels when absent. */
  module?: WebAssembly.Module;
  /** Kernel workers. Default 1: the main thread encodes JSON while the worker parses, which fills two cores. */
  workers?: number;
  /**
   * Chunk size. Default 1 MiB: a quarter of the ingest path's, because every chunk in flight is held several times
   * over (input, batch, JSON) in two isolates, and V8 collects dead buffers only after tens of MB of them.
   */
  chunkBytes?: number;
}

/** The real file system, stdin, stdout and stderr. */
export function denoParseIo(): ParseCommandIo {
  return {
    open: async (path) =>
      path === "-" ? Deno.stdin.readable : (await Deno.open(path, { read: true })).readable,
    stdout: Deno.stdout.writable,
    stderr: Deno.stderr.writable,
    isFile: async (path) => {
      try {
        return path !== "-" && (await Deno.stat(path)).isFile;
      } catch {
        return false;
      }
    },
  };
}

const USAGE = "Usage: weir parse FILE|- [--delimiter D] [--no-header] [--types infer]";

interface ParseArgs {
  path: string;
  delimiter?: string;
  header: boolean;
  infer: boolean;
}

/** Chunks parsed ahead of the one being written: enough to keep every worker busy while the main thread encodes. */
const AHEAD_PER_WORKER = 2;

const CHUNK_BYTES = 1 << 20;

const encoder = new TextEncoder();

/**
 * Runs `weir parse` with `args` (those after `parse`); resolves with the exit code: 0 when the input was read
 * (rejected rows included), 1 when it could not be read, 2 on a usage error.
 */
export async function parseCommand(
  args: readonly string[],
  io: ParseCommandIo = denoParseIo(),
  options: ParseCommandOptions = {},
): Promise<number> {
  const err = io.stderr.getWriter();
  try {
    const parsed = parseArgs(args);
    if (typeof parsed === "string") {
      await err.write(encoder.encode(parsed + "\n"));
      return parsed === USAGE ? 0 : 2;
    }
    let input: ReadableStream<Uint8Array>;
    try {
      input = await io.open(parsed.path);
    } catch (error) {
      await err.write(encoder.encode(`Cannot read ${parsed.path}: ${messageOf(error)}\n`));
      return 1;
    }
    const file = await io.isFile?.(parsed.path) ? parsed.path : null;
    const out = io.stdout.getWriter();
    try {
      return await parseStream(input, file, parsed, { out, err }, options);
    } finally {
      out.releaseLock();
    }
  } finally {
    err.releaseLock();
  }
}

/** Parses the arguments, or returns the text to print (usage or the problem). */
function parseArgs(args: readonly string[]): ParseArgs | string {
  let path: string | undefined;
  let delimiter: string | undefined;
  let header = true;
  let infer = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--delimiter" || a === "-d") {
      const d = args[++i];
      // `\t` and `tab` spare people from typing a literal tab in a shell.
      delimiter = d === "\\t" || d === "tab" ? "\t" : d;
      if (
        delimiter === undefined || delimiter.length !== 1 || delimiter.charCodeAt(0) > 255 ||
        /[\r\n"]/.test(delimiter)
      ) {
        return `Invalid --delimiter: expected one byte other than CR, LF and the quote, got ${
          d ?? "nothing"
        }\n${USAGE}`;
      }
    } else if (a === "--no-header") header = false;
    else if (a === "--types") {
      const t = args[++i];
      if (t === "infer") infer = true;
      else if (t !== "string") {
        return `Invalid --types: expected infer or string, got ${t ?? "nothing"}\n${USAGE}`;
      }
    } else if (a === "-h" || a === "--help") return USAGE;
    else if (a.startsWith("-") && a !== "-") return `Unknown option: ${a}\n${USAGE}`;
    else if (path === undefined) path = a;
    else return `Unexpected argument: ${a}\n${USAGE}`;
  }
  if (path === undefined) return `Missing FILE\n${USAGE}`;
  return { path, delimiter, header, infer };
}

interface Writers {
  out: WritableStreamDefaultWriter<Uint8Array>;
  err: WritableStreamDefaultWriter<Uint8Array>;
}

/** A chunk sent to the pool, and where its rows start in the input. */
interface InFlight {
  firstLine: number;
  result: Promise<JobResult<"parse.chunk">>;
}

/**
 * Parses `stream`, or `file` in byte ranges when it is given (the same file: `stream` is read for the sniffing
 * sample only). Both write the same output: the file's ranges are parsed as the chunker's chunks are, past the
 * header, and where a range fails for good the chunker takes the rest of the file (`parseCsvFileChunks`).
 */
async function parseStream(
  stream: ReadableStream<Uint8Array>,
  file: string | null,
  args: ParseArgs,
  { out, err }: Writers,
  options: ParseCommandOptions,
): Promise<number> {
  const reader = stream.getReader();
  let readError: unknown;
  // The sample for sniffing is read first and then replayed, so a pipe is read once.
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  try {
    while (headBytes <= SNIFF_BYTES) {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      headBytes += r.value.length;
    }
  } catch (error) {
    await err.write(encoder.encode(`Cannot read ${args.path}: ${messageOf(error)}\n`));
    return 1;
  }
  const sample = concat(head, Math.min(headBytes, SNIFF_BYTES));
  const sniffed = sniff(sample, {
    complete: ended && headBytes <= SNIFF_BYTES,
    delimiter: args.delimiter,
    header: args.header,
  });
  const delimiter = args.delimiter ?? sniffed.delimiter;
  const quote = sniffed.quote;

  async function* input(): AsyncGenerator<Uint8Array> {
    yield* head;
    head.length = 0;
    if (ended) return;
    try {
      while (true) {
        const r = await reader.read();
        if (r.done) return;
        yield r.value;
      }
    } catch (error) {
      readError = error;
    }
  }

  const module = options.module ?? await compileKernels();
  const workers = options.workers ?? 1;
  await using pool = await KernelPool.create({
    module,
    workers,
    logger: createLogger({ level: "error" }).child({ component: "kernel_pool" }),
  });
  const local = instantiateKernels(module);
  let fields: Field[] | null = null;
  const inFlight: InFlight[] = [];
  let stdoutGone = false;

  const finishOne = async ({ firstLine, result }: InFlight) => {
    let lines: Uint8Array | null = null;
    let rejects: Reject[];
    try {
      const { value, output } = await result;
      // The chunk's buffer, back with the result, takes a later chunk.
      pool.buffers.give(output!);
      if (!stdoutGone) lines = encodeJsonLines(value.batch);
      // The lines are new bytes, so the batch is done with: its buffer takes a later chunk's rows.
      pool.giveBack(value.batch);
      rejects = value.rejects;
    } catch (error) {
      await err.write(encoder.encode(JSON.stringify(chunkFailure(error, firstLine)) + "\n"));
      return;
    }
    await write(lines, rejects);
  };

  /** Writes a chunk's records and rejected rows. */
  const write = async (lines: Uint8Array | null, rejects: readonly Reject[]) => {
    if (lines !== null && lines.length > 0 && !stdoutGone) {
      try {
        await out.write(lines);
      } catch (error) {
        // A reader that went away (`weir parse big.csv | head`) ends the output, not the command.
        if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
        stdoutGone = true;
      }
    }
    if (rejects.length > 0) await err.write(encoder.encode(rejectLines(rejects)));
  };

  const nullTokens = args.infer ? ["", ...sniffed.nullTokens.filter((t) => t !== "")] : [];
  // A file's first record, when the sample holds it, is found as the chunker's first chunk would show it.
  const first = file === null ? null : csvHeader(sample, quote);
  if (file !== null && first !== null) {
    await reader.cancel();
    const names = recordFields(first.bytes, delimiter, quote);
    fields = columnFields(args.header ? headerNames(names) : names.map((_, i) => `column_${i + 1}`), {
      sniffed: args.infer ? sniffed : null,
    });
    // As on a stream, the header is not a record: the ranges start after it, on the line after it.
    const start = args.header ? { offset: first.end, line: 1 + countLines(sample.subarray(0, first.end)) } : {
      offset: 0,
      line: 1,
    };
    const chunks = parseCsvFileChunks(pool, file, {
      columns: fields,
      rules: {},
      dialect: { delimiter, quote, header: false, nullTokens },
      targetBytes: options.chunkBytes ?? CHUNK_BYTES,
      inFlightPerWorker: AHEAD_PER_WORKER + 1,
      kernels: local,
      start,
    });
    for await (const chunk of chunks) {
      if ("error" in chunk) {
        await err.write(encoder.encode(JSON.stringify(chunkFailure(chunk.error, chunk.firstLine)) + "\n"));
        continue;
      }
      const lines = stdoutGone ? null : encodeJsonLines(chunk.batch);
      pool.giveBack(chunk.batch);
      await write(lines, chunk.rejects);
      if (stdoutGone) break;
    }
    return 0;
  }

  const chunks = chunkRecords(input(), {
    format: "csv",
    kernels: local,
    delimiter,
    quote,
    targetBytes: options.chunkBytes ?? CHUNK_BYTES,
    buffers: pool.buffers,
  });
  for await (const chunk of chunks) {
    if (stdoutGone) break;
    let bytes = chunk.bytes;
    let firstLine = chunk.firstLine;
    if (fields === null) {
      const first = firstRecord(chunk, quote);
      if (first === null) continue;
      const names = recordFields(first.record, delimiter, quote);
      fields = columnFields(args.header ? headerNames(names) : names.map((_, i) => `column_${i + 1}`), {
        sniffed: args.infer ? sniffed : null,
      });
      if (args.header) {
        // The header is not a record: the chunk's rows start after it, on the line after it.
        bytes = bytes.subarray(first.end);
        firstLine += countLines(chunk.bytes.subarray(0, first.end));
      }
      if (bytes.length === 0) continue;
    }
    // A chunk starts its buffer, which moves to the worker as it is; the first one, past the header, is copied.
    if (bytes.byteOffset !== 0) bytes = bytes.slice();
    const params: ParseChunkParams = {
      format: "csv",
      columns: fields,
      rules: {},
      firstLine,
      length: bytes.length,
      dialect: {
        delimiter,
        quote,
        header: false,
        nullTokens,
      },
      header: null,
    };
    const job = await pool.submit("parse.chunk", { input: bytes.buffer, params });
    inFlight.push({ firstLine, result: job.result });
    if (inFlight.length > workers * AHEAD_PER_WORKER) await finishOne(inFlight.shift()!);
  }
  while (inFlight.length > 0) await finishOne(inFlight.shift()!);
  if (readError !== undefined) {
    await err.write(encoder.encode(`Cannot read ${args.path}: ${messageOf(readError)}\n`));
    return 1;
  }
  return 0;
}

/**
 * The first record of the input's first chunk with data: where it ends, and its bytes. Null when the chunk
 * holds only blank lines (or a BOM), so the next chunk is looked at instead.
 */
function firstRecord(chunk: Chunk, quote: string | null): { record: Uint8Array; end: number } | null {
  const found = csvHeader(chunk.bytes, quote);
  if (found !== null) return { record: found.bytes, end: found.end };
  // No terminator: the input is a single record (chunks end at record boundaries), unless it is blank.
  let start = chunk.bytes[0] === 0xef && chunk.bytes[1] === 0xbb && chunk.bytes[2] === 0xbf ? 3 : 0;
  while (chunk.bytes[start] === 0x0a || chunk.bytes[start] === 0x0d) start++;
  if (start === chunk.bytes.length) return null;
  return { record: chunk.bytes.subarray(start), end: chunk.bytes.length };
}

/** The fields of one record, quotes undone; a terminator at its end is not a field. */
function recordFields(record: Uint8Array, delimiter: string, quote: string | null): string[] {
  const text = new TextDecoder().decode(record);
  // NUL stands in for "no quote character": it cannot open a quoted field in text.
  const rows = splitRecords(text, delimiter, quote ?? "\0").rows;
  return rows[0] ?? [""];
}

/**
 * JSON keys from header names: a trailing empty name is a trailing delimiter (as the kernel reads headers),
 * an empty name becomes `column_N`, and a repeated one gets `_2`, `_3`, … so no key is lost.
 */
function headerNames(names: string[]): string[] {
  const list = names.length > 1 && names[names.length - 1] === "" ? names.slice(0, -1) : names;
  const seen = new Set<string>();
  return list.map((raw, i) => {
    const base = raw === "" ? `column_${i + 1}` : raw;
    let name = base;
    for (let k = 2; seen.has(name); k++) name = `${base}_${k}`;
    seen.add(name);
    return name;
  });
}

/** Declared columns by position: strings, or the sniffed types the CSV kernel can read. */
function columnFields(names: string[], { sniffed }: { sniffed: SniffResult | null }): Field[] {
  return names.map((name, i) => {
    const type = sniffed?.columns[i]?.type;
    return type === undefined ? { name, type: "string" } : fieldOf(name, type);
  });
}

// The CSV kernel reads ISO 8601 only; a column sniffed with another date or time format stays text.
const ISO_TIMESTAMP_FORMAT = /^%Y-%m-%d[T ]%H:%M(:%S(\.%f)?)?(Z|%z|%:z)?$/;

function fieldOf(name: string, type: SniffedType): Field {
  switch (type.kind) {
    case "int64":
    case "float64":
    case "boolean":
      return { name, type: type.kind };
    case "decimal":
      // The sample sets the scale; the widest precision keeps larger values further in the file readable.
      return { name, type: "decimal", precision: 18, scale: type.scale };
    case "date":
      return type.formats.every((f) => f === "%Y-%m-%d") ? { name, type: "date" } : { name, type: "string" };
    case "timestamp":
      return type.formats.every((f) => ISO_TIMESTAMP_FORMAT.test(f))
        ? { name, type: "timestamp" }
        : { name, type: "string" };
    case "string":
      return { name, type: "string" };
  }
}

/** Rejected rows as JSON lines: `{"line","reason","column","value"}`, `column` null for a whole-row reason. */
function rejectLines(rejects: readonly Reject[]): string {
  let text = "";
  for (const r of rejects) {
    text += JSON.stringify({ line: r.line, reason: r.rule, column: r.column || null, value: r.value }) + "\n";
  }
  return text;
}

/**
 * A chunk the worker could not parse, as a JSON line. An unterminated quote is a `CsvSyntaxError` whose line
 * the worker already gives in the whole input; anything else is told at the chunk's first line.
 */
function chunkFailure(error: unknown, firstLine: number): Record<string, unknown> {
  const message = messageOf(error);
  if (error instanceof CsvSyntaxError && /ends inside a quoted field/.test(message)) {
    return { line: error.line, reason: "quote", column: null, message };
  }
  return { line: firstLine, reason: "chunk", message };
}

function concat(parts: readonly Uint8Array[], max: number): Uint8Array {
  const out = new Uint8Array(max);
  let at = 0;
  for (const p of parts) {
    if (at >= max) break;
    const n = Math.min(p.length, max - at);
    out.set(p.subarray(0, n), at);
    at += n;
  }
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
