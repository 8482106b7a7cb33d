/**
 * The `parse.chunk` job: one chunk of an input, cut at record boundaries by the chunker, parsed into a typed
 * `Batch` and validated, inside a kernel worker. Chunks are independent, so any worker can take any chunk and
 * the coordinator merges results in order.
 *
 * @module
 */
import type { CsvByteSource, Kernels } from "../kernels/mod.ts";
import { type Batch, batchBuffers, type Field } from "../pipeline/batch.ts";
import type { BufferFreeList } from "../pipeline/bytes.ts";
import { takeRows } from "../pipeline/transforms/take.ts";
import {
  type ColumnRules,
  columnTypes,
  type CompiledRules,
  compileRules,
  findRejects,
  judge,
  type Reject,
} from "../pipeline/validate.ts";
import type { OpOutput } from "./ops.ts";
import { writtenValues } from "./raw_values.ts";

/** The CSV dialect of an input. */
export interface CsvDialect {
  delimiter: string;
  /** Whether the input starts with a header record. Default true. */
  header?: boolean;
  quote: string | null;
  nullTokens: readonly string[];
  limits?: { fieldBytes?: number; rowBytes?: number };
}

/** Parameters of `parse.chunk`. */
export interface ParseChunkParams {
  format: "csv" | "ndjson";
  /** Declared columns with their `required` flag. */
  columns: readonly (Field & { required?: boolean })[];
  /** Validation rules by column name. */
  rules: Record<string, ColumnRules>;
  /**
   * 1-based line in the original input where this chunk starts. A chunk whose line is not known yet (a byte
   * range of a file) passes the line after the header's and shifts the lines of the result itself.
   */
  firstLine: number;
  /**
   * Read the chunk from a file instead of an input buffer: the `length` bytes at `offset` of `path`. The
   * worker reads them into a buffer of its own, so the coordinator neither reads nor copies them.
   */
  file?: { path: string; offset: number; length: number };
  /**
   * Bytes at the start of the input buffer that are the chunk; the rest of the buffer is unused (a reused
   * buffer is larger than its chunk, see `BufferFreeList`). Default: all of it.
   */
  length?: number;
  /** CSV only: the lines the chunk ends (the chunker's `Chunk.lines`), to size the parser's buffers at once. */
  lines?: number;
  /** CSV only: the dialect. */
  dialect?: CsvDialect;
  /**
   * CSV only: the header record (with its terminator) to put before a chunk that does not start the input,
   * and the lines it spans; null for the first chunk, which holds the header itself.
   */
  header?: { bytes: Uint8Array; lines: number } | null;
}

/** What `parse.chunk` returns: the valid rows, and every row rejected by the parser or a rule. */
export interface ParsedChunk {
  batch: Batch;
  rejects: Reject[];
  /** CSV only: line terminators in the chunk (a pushed header's not counted): the next chunk starts that much later. */
  lines?: number;
}

/** Options of {@linkcode parseChunk}. */
export interface ParseChunkOptions {
  /** Buffers to copy the batch into (the worker's given-back ones, see `KernelPool.giveBack`). */
  buffers?: BufferFreeList;
}

/** Parses and validates one chunk; the batch's buffers are transferred back, not copied. */
export function parseChunk(
  kernels: Kernels,
  input: ArrayBuffer | null,
  params: ParseChunkParams,
  options: ParseChunkOptions = {},
): OpOutput<ParsedChunk> {
  const range = params.file;
  if (range === undefined && input === null) {
    throw new TypeError("Op parse.chunk needs an input buffer or a file range");
  }
  // The chunk's bytes, when something needs them: a file range is read straight into the CSV kernel's memory,
  // and into a buffer only for rejected rows' text (rare) or NDJSON.
  let bytes = range ? undefined : new Uint8Array(input!, 0, params.length ?? input!.byteLength);
  const chunk = () => bytes ??= readRange(range!);
  const { fields, rules } = compiled(params);
  const { parsed, parseRejects, lineShift, ruled, lines } = params.format === "csv"
    ? parseCsv(kernels, bytes ?? rangeSource(range!), fields, rules, params, options.buffers)
    : parseNdjson(kernels, chunk(), rules, params);
  const { rejects: found, keep } = ruled;
  const kept = keep === undefined ? parsed : takeRows(parsed, keep);
  if (lineShift !== 0) {
    for (let i = 0; i < kept.lines.length; i++) kept.lines[i] += lineShift;
    for (const reject of found) reject.line += lineShift;
  }
  // Rules judged typed values; a reject shows the text as written, read again from the chunk.
  const ruleRejects = found.length === 0 ? found : writtenValues(kernels, {
    chunk: chunk(),
    params,
    recordLines: [...kept.lines, ...parseRejects.map((r) => r.line), ...found.map((r) => r.line)],
  }, found);
  const rejects = [...parseRejects, ...ruleRejects].sort((a, b) => a.line - b.line);
  // Rows were taken out of the parsed batch into new arrays: nothing holds its buffer any more.
  if (kept !== parsed && options.buffers) {
    for (const buffer of batchBuffers(parsed)) options.buffers.give(buffer);
  }
  // The input goes back too: the coordinator keeps the original bytes of rejected rows and failed chunks, and
  // then reuses the buffer for a later chunk.
  return {
    value: lines === undefined ? { batch: kept, rejects } : { batch: kept, rejects, lines },
    output: input ?? undefined,
    transfer: unique(batchBuffers(kept)).filter((b) => b !== input),
  };
}

/** The last job's columns and rules, compiled: the chunks of one input all carry the same ones. */
let lastPlan: { key: string; fields: Field[]; rules: CompiledRules } | undefined;

/**
 * The declared fields and compiled rules of a job. Params arrive structured-cloned, so they are recognised by
 * their JSON; keeping the compiled rules also keeps their enum lists' identity, which the enum tables are
 * cached by.
 */
function compiled(params: ParseChunkParams): { fields: Field[]; rules: CompiledRules } {
  const key = JSON.stringify([params.columns, params.rules], spellNonFinite);
  if (lastPlan?.key !== key) {
    const fields = params.columns.map(({ required: _, ...field }) => field);
    lastPlan = { key, fields, rules: compileRules(params.rules, columnTypes(fields)) };
  }
  return lastPlan;
}

/** JSON would write Infinity, -Infinity and NaN all as null: bounds that differ so must not share a key. */
function spellNonFinite(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? { nonFinite: String(value) } : value;
}

/**
 * Parses a CSV chunk in one kernel call and validates its rows in place. A chunk that does not start the
 * input gets the header record pushed first: the parser is chunk-safe, so this reads exactly like the header
 * followed by the chunk, without copying the chunk behind it.
 */
function parseCsv(
  kernels: Kernels,
  chunk: Uint8Array | CsvByteSource,
  fields: Field[],
  rules: CompiledRules,
  params: ParseChunkParams,
  buffers: BufferFreeList | undefined,
) {
  const dialect = params.dialect!;
  const header = params.header;
  // The parser numbers the lines of the original input itself (the header pushed first takes the lines
  // before the chunk's), so its rows need no pass to shift their lines; only a header longer than the lines
  // before the chunk (not from the chunker) leaves a shift.
  const start = header ? params.firstLine - header.lines : params.firstLine;
  const lineShift = start >= 1 ? 0 : start - 1;
  const parser = kernels.createCsvParser({
    firstLine: start - lineShift,
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    header: dialect.header ?? true,
    columns: fields,
    nullTokens: dialect.nullTokens,
    limits: dialect.limits,
    rules: rules.kernel,
    buffers,
  });
  const before = header ? parser.push(header.bytes) : undefined;
  const chunkLine = parser.line;
  // A chunk holds at most one record more than the lines it ends.
  const sized = params.lines === undefined ? undefined : { rows: params.lines + 1 };
  const { batch: parsed, rejects, verdict } = parser.finish(chunk, sized);
  const lines = parser.line - chunkLine;
  const parseRejects: Reject[] = [...(before?.rejects ?? []), ...rejects].map((r) => ({
    line: r.line + lineShift,
    column: r.column ?? "",
    rule: r.rule,
    value: r.value,
  }));
  const ruled = judge(parsed, rules, verdict ?? NO_FAILURES);
  return { parsed, parseRejects, lineShift, ruled, lines };
}

/** The kernels' verdict on a batch of no rows. */
const NO_FAILURES = { rows: new Uint32Array(0), codes: new Uint32Array(0) };

function parseNdjson(kernels: Kernels, chunk: Uint8Array, rules: CompiledRules, params: ParseChunkParams) {
  const parser = kernels.createJsonParser({ format: "ndjson", columns: params.columns });
  const { batch: parsed, rejects } = parser.finish(chunk);
  const lineShift = params.firstLine - 1;
  const parseRejects: Reject[] = rejects.map((r) => ({
    line: r.line + lineShift,
    column: r.column ?? "",
    rule: r.rule,
    value: r.value,
  }));
  return { parsed, parseRejects, lineShift, ruled: findRejects(kernels, parsed, rules), lines: undefined };
}

/** The file of the last range, kept open: the ranges of one file come one after another. */
let openFile: { path: string; file: Deno.FsFile } | null = null;

type FileRange = NonNullable<ParseChunkParams["file"]>;

/** A file range as bytes that read themselves into the CSV kernel's memory. */
function rangeSource(range: FileRange): CsvByteSource {
  return { length: range.length, read: (into) => readInto(range, into) };
}

/** A file range read into a new buffer. */
function readRange(range: FileRange): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(range.length);
  readInto(range, bytes);
  return bytes;
}

function readInto(range: FileRange, into: Uint8Array): void {
  if (openFile?.path !== range.path) {
    openFile?.file.close();
    openFile = null;
    openFile = { path: range.path, file: Deno.openSync(range.path, { read: true }) };
  }
  const file = openFile.file;
  file.seekSync(range.offset, Deno.SeekMode.Start);
  for (let got = 0; got < range.length;) {
    const read = file.readSync(into.subarray(got, range.length));
    if (read === null) throw new RangeError(`File ${range.path} ends before ${range.offset + range.length}`);
    got += read;
  }
}

function unique(buffers: ArrayBuffer[]): ArrayBuffer[] {
  return [...new Set(buffers)];
}
