/**
 * The values of rule rejects as written in the input. Validation runs on the typed `Batch`, so a reject built
 * from it shows the parsed value: `12.5` for an amount written `0012.50`, a timestamp in its canonical form.
 * The person fixing the input needs the text they sent, so the worker reads it again from the chunk it still
 * holds, for the rejected records only (rejects are rare; accepted rows pay nothing):
 *
 * - CSV: each rejected record's bytes (from its first line to the next record's) go through the CSV kernel
 *   once more, behind the header, with every declared column read as a string and no null tokens. That is
 *   the field's text with quotes removed and doubled quotes undone, mapped to columns exactly as the typed
 *   parse mapped them (by header name, or by position), quoted newlines and all.
 * - NDJSON: the record's line through `JSON.parse` with source access: a number or literal as written, a
 *   string decoded (without its quotes).
 *
 * A null value (a `required` reject) stays null: there is no value to show.
 *
 * @module
 */
import type { Kernels } from "../kernels/mod.ts";
import { concatBytes } from "../pipeline/bytes.ts";
import type { Reject } from "../pipeline/validate.ts";
import type { ParseChunkParams } from "./parse.ts";

const LF = 0x0a;
const CR = 0x0d;
const decoder = new TextDecoder();

/** Where the rejects of one chunk come from. */
export interface RejectSource {
  /** The chunk as the worker received it (a CSV chunk after the first without its header). */
  chunk: Uint8Array;
  /** The chunk's parameters: format, columns, first line, dialect and header. */
  params: ParseChunkParams;
  /**
   * The first line of every record of the chunk, kept or rejected, in the original input's numbering: a CSV
   * record runs from its line to the next record's.
   */
  recordLines: ArrayLike<number>;
}

/**
 * `rejects` (rule rejects of rows the parser read, lines in the original input's numbering) with each non-null
 * value replaced by the text as written in `source`.
 */
export function writtenValues(kernels: Kernels, source: RejectSource, rejects: readonly Reject[]): Reject[] {
  const wanted = rejects.filter((r) => r.value !== null);
  if (wanted.length === 0) return [...rejects];
  const texts = source.params.format === "csv"
    ? csvTexts(kernels, source, wanted)
    : ndjsonTexts(source, wanted);
  return rejects.map((r) => {
    const text = texts.get(r);
    return text === undefined ? r : { ...r, value: text };
  });
}

/** Re-reads the rejected CSV records as strings; the text of each reject's field. */
function csvTexts(kernels: Kernels, source: RejectSource, rejects: readonly Reject[]): Map<Reject, string> {
  const { chunk, params } = source;
  const dialect = params.dialect!;
  const hasHeader = dialect.header ?? true;
  const toChunkLine = (line: number) => line - params.firstLine + 1;
  const starts = Int32Array.from(source.recordLines, toChunkLine).sort();
  const rows = [...new Set(rejects.map((r) => toChunkLine(r.line)))].sort((a, b) => a - b);
  // Each rejected record ends where the next record (of any kind) starts, or at the chunk's end.
  const ends: (number | undefined)[] = [];
  for (let i = 0, k = 0; i < rows.length; i++) {
    while (k < starts.length && starts[k] <= rows[i]) k++;
    ends.push(k < starts.length ? starts[k] : undefined);
  }
  const offsets = lineOffsets(chunk, [starts[0], ...rows, ...ends.filter((e) => e !== undefined)], "csv");
  const parts: Uint8Array[] = [];
  if (hasHeader) {
    // The first chunk holds the header itself, before its first record (blank lines and a BOM included).
    parts.push(params.header?.bytes ?? chunk.subarray(0, offsets.get(starts[0]) ?? chunk.length));
  }
  rows.forEach((line, i) => {
    const end = ends[i] === undefined ? chunk.length : offsets.get(ends[i]!)!;
    parts.push(terminated(chunk.subarray(offsets.get(line)!, end)));
  });
  const parser = kernels.createCsvParser({
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    header: hasHeader,
    columns: params.columns.map(({ name }) => ({ name, type: "string" as const })),
    nullTokens: [],
    limits: dialect.limits,
  });
  const texts = new Map<Reject, string>();
  let read;
  try {
    read = parser.finish(concatBytes(parts));
  } catch {
    // These records parsed before, so this cannot happen; if it did, the typed values are better than a
    // failed chunk.
    return texts;
  }
  // One row per rejected record, in order; anything else means the records were not cut as read before, and
  // the typed values are kept rather than risk showing another row's text.
  if (read.batch.length !== rows.length || read.rejects.length > 0) return texts;
  const rowOf = new Map(rows.map((line, i) => [line, i]));
  for (const r of rejects) {
    const row = rowOf.get(toChunkLine(r.line))!;
    const column = read.batch.columns[r.column];
    if (column?.type !== "string") continue;
    texts.set(r, decoder.decode(column.data.subarray(column.offsets[row], column.offsets[row + 1])));
  }
  return texts;
}

/** Reads each rejected NDJSON line again; the text of each reject's key as written. */
function ndjsonTexts(source: RejectSource, rejects: readonly Reject[]): Map<Reject, string> {
  const { chunk, params } = source;
  const lines = rejects.map((r) => r.line - params.firstLine + 1);
  const offsets = lineOffsets(chunk, [...lines, ...lines.map((l) => l + 1)], "ndjson");
  const texts = new Map<Reject, string>();
  rejects.forEach((r, i) => {
    const end = offsets.get(lines[i] + 1) ?? chunk.length;
    const text = memberText(decoder.decode(chunk.subarray(offsets.get(lines[i])!, end)), r.column);
    if (text !== undefined) texts.set(r, text);
  });
  return texts;
}

/**
 * The value of the top-level member `key` of the JSON object `line` as written: a string decoded, anything
 * else as its source text; undefined for an object or array (a string column keeps those as written anyway)
 * or when the line does not parse.
 */
export function memberText(line: string, key: string): string | undefined {
  const found: { holder: object; text: string }[] = [];
  let root: unknown;
  try {
    JSON.parse(line, function (this: object, k: string, value: unknown, context?: { source?: string }) {
      if (k === key) {
        const text = typeof value === "string" ? value : context?.source;
        if (text !== undefined) found.push({ holder: this, text });
      }
      // The last call is for the root itself, under the empty key of a wrapper.
      root = value;
      return value;
    });
  } catch {
    return undefined;
  }
  // Nested objects may use the key too: only the root's own member counts. The reviver sees the final object,
  // so a repeated key gives its last value, as the kernel keeps.
  return found.find((f) => f.holder === root)?.text;
}

/**
 * The byte offset where each of `lines` (1-based, within `bytes`) starts. CSV lines end at LF, CRLF or a lone
 * CR (inside quotes too, as the CSV kernel counts them); NDJSON lines at LF only, as the JSON kernel counts
 * them. Lines past the end are left out.
 */
function lineOffsets(
  bytes: Uint8Array,
  lines: readonly number[],
  format: "csv" | "ndjson",
): Map<number, number> {
  const wanted = [...new Set(lines)].sort((a, b) => a - b);
  const out = new Map<number, number>();
  const end = bytes.length;
  const find = (byte: number, from: number) => {
    const i = bytes.indexOf(byte, from);
    return i < 0 ? end : i;
  };
  // The next LF and (CSV only) CR at or after `at`, found natively; `end` when there is none. Behind `at`:
  // stale, to find again.
  let lf = -1;
  let cr = format === "csv" ? -1 : end;
  let line = 1;
  let at = 0;
  for (const target of wanted) {
    while (line < target) {
      if (lf < at) lf = find(LF, at);
      if (cr < at) cr = find(CR, at);
      const next = Math.min(lf, cr);
      if (next === end) return out;
      at = next === cr && lf === cr + 1 ? lf + 1 : next + 1;
      line++;
    }
    out.set(target, at);
  }
  return out;
}

/** `bytes` ending in a line terminator: the last record of a chunk may lack one. */
function terminated(bytes: Uint8Array): Uint8Array {
  const last = bytes[bytes.length - 1];
  return last === LF || last === CR ? bytes : concatBytes([bytes, Uint8Array.of(LF)]);
}
