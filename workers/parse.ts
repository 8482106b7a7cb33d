/**
 * The `parse.chunk` job: one chunk of an input, cut at record boundaries by the chunker, parsed into a typed
 * `Batch` and validated, inside a kernel worker. Chunks are independent, so any worker can take any chunk and
 * the coordinator merges results in order.
 *
 * @module
 */
import type { Kernels } from "../kernels/mod.ts";
import { type Batch, batchBuffers, batchFromRows, type Field, rowValues } from "../pipeline/batch.ts";
import { takeRows } from "../pipeline/transforms/take.ts";
import { type ColumnRules, compileRules, findRejects, type Reject } from "../pipeline/validate.ts";
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
  /** 1-based line in the original input where this chunk starts. */
  firstLine: number;
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
}

/** Parses and validates one chunk; the batch's buffers are transferred back, not copied. */
export function parseChunk(
  kernels: Kernels,
  input: ArrayBuffer,
  params: ParseChunkParams,
): OpOutput<ParsedChunk> {
  const chunk = new Uint8Array(input);
  const { parsed, parseRejects, lineShift } = params.format === "csv"
    ? parseCsv(kernels, chunk, params)
    : parseNdjson(kernels, chunk, params);
  const { rejects: found, keep } = findRejects(kernels, parsed, compileRules(params.rules, parsed));
  const kept = found.length === 0 ? parsed : takeRows(parsed, keep);
  if (lineShift !== 0) {
    for (let i = 0; i < kept.lines.length; i++) kept.lines[i] += lineShift;
    for (const reject of found) reject.line += lineShift;
  }
  // Rules judged typed values; a reject shows the text as written, read again from the chunk.
  const ruleRejects = found.length === 0 ? found : writtenValues(kernels, {
    chunk,
    params,
    recordLines: [...kept.lines, ...parseRejects.map((r) => r.line), ...found.map((r) => r.line)],
  }, found);
  const rejects = [...parseRejects, ...ruleRejects].sort((a, b) => a.line - b.line);
  const batch = kept === parsed ? parsed : kept;
  // The input goes back too: the coordinator keeps the original bytes of rejected rows and failed chunks.
  return {
    value: { batch, rejects },
    output: input,
    transfer: unique(batchBuffers(batch)).filter((b) => b !== input),
  };
}

function parseCsv(kernels: Kernels, chunk: Uint8Array, params: ParseChunkParams) {
  const dialect = params.dialect!;
  const parser = kernels.createCsvParser({
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    header: dialect.header ?? true,
    columns: params.columns.map(({ required: _, ...field }) => field),
    nullTokens: dialect.nullTokens,
    limits: dialect.limits,
  });
  const header = params.header;
  let input = withFinalNewline(chunk);
  if (header) {
    const body = input;
    input = new Uint8Array(header.bytes.length + body.length);
    input.set(header.bytes);
    input.set(body, header.bytes.length);
  }
  const first = parser.push(input);
  const last = parser.finish();
  const parsed = concatBatches(first.batch, last.batch);
  // Lines the parser reports count from the start of `input`; shift them to the original input.
  const lineShift = header ? params.firstLine - 1 - header.lines : params.firstLine - 1;
  const parseRejects: Reject[] = [...first.rejects, ...last.rejects].map((r) => ({
    line: r.line + lineShift,
    column: r.column ?? "",
    rule: r.rule,
    value: r.value,
  }));
  return { parsed, parseRejects, lineShift };
}

function parseNdjson(kernels: Kernels, chunk: Uint8Array, params: ParseChunkParams) {
  const parser = kernels.createJsonParser({ format: "ndjson", columns: params.columns });
  const first = parser.push(withFinalNewline(chunk));
  const last = parser.finish();
  const lineShift = params.firstLine - 1;
  const parsed = concatBatches(first.batch, last.batch);
  const parseRejects: Reject[] = [...first.rejects, ...last.rejects].map((r) => ({
    line: r.line + lineShift,
    column: r.column ?? "",
    rule: r.rule,
    value: r.value,
  }));
  return { parsed, parseRejects, lineShift };
}

/**
 * A chunk ends at a record boundary and gets a final newline when it lacks one, so `push()` returns every row
 * and `finish()` none; only a chunk ending in a lone CR (old Mac files) leaves a row to `finish()`, and that
 * rare case takes the slow, generic route.
 */
function concatBatches(a: Batch, b: Batch): Batch {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const rows = [...Array(a.length).keys()].map((i) => rowValues(a, i))
    .concat([...Array(b.length).keys()].map((i) => rowValues(b, i)));
  return batchFromRows(a.schema.fields, rows, { lines: [...a.lines, ...b.lines] });
}

function withFinalNewline(bytes: Uint8Array): Uint8Array {
  const last = bytes[bytes.length - 1];
  if (bytes.length === 0 || last === 0x0a || last === 0x0d) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = 0x0a;
  return out;
}

function unique(buffers: ArrayBuffer[]): ArrayBuffer[] {
  return [...new Set(buffers)];
}
