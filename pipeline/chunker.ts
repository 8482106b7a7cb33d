/**
 * The chunker: cuts an input byte stream into chunks that end at record boundaries, so that workers can parse
 * them independently and in parallel. CSV boundaries come from the record-scanner kernel, which carries quote
 * state across reads (a newline inside quotes is not a boundary); NDJSON boundaries are newlines, which JSON
 * never holds raw inside a string.
 *
 * Cuts depend on the bytes alone, never on how the network delivered them: the input is read in blocks of
 * exactly `targetBytes` and each chunk ends at the last boundary of a block. A retried upload therefore yields
 * the same chunks with the same sequence numbers, which is what makes sink writes idempotent per chunk.
 *
 * @module
 */
import { type RecordKernels, RecordScanState } from "../kernels/mod.ts";

/** One chunk of records. */
export interface Chunk {
  /** 0-based position of the chunk in its input. */
  sequence: number;
  /** Whole records (the first chunk of a CSV input also holds its header). */
  bytes: Uint8Array;
  /** 1-based line in the input where the chunk starts. */
  firstLine: number;
  /** Offset of the chunk in the input. */
  offset: number;
}

/** Options for {@linkcode chunkRecords}. */
export interface ChunkOptions {
  format: "csv" | "ndjson";
  /** The record scanner (CSV). */
  kernels: RecordKernels;
  delimiter?: string;
  /** The quote character; null turns quoting off. Default `"`. */
  quote?: string | null;
  /** Block size, and so the usual chunk size. Default 4 MiB (larger transfers cost more than they save). */
  targetBytes?: number;
  /**
   * A record longer than this is cut anyway, so that memory stays bounded; the parser then rejects what it
   * cannot read. Default 64 MiB.
   */
  maxRecordBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Cuts `input` into chunks of whole records. */
export async function* chunkRecords(
  input: AsyncIterable<Uint8Array>,
  options: ChunkOptions,
): AsyncGenerator<Chunk> {
  const targetBytes = options.targetBytes ?? 4 << 20;
  const maxRecordBytes = options.maxRecordBytes ?? 64 << 20;
  // The scanner never sees a quote byte when quoting is off: NUL stands in, as it cannot start a field here.
  const scan = options.format === "csv"
    ? new RecordScanState({
      delimiter: options.delimiter ?? ",",
      quote: options.quote === null ? "\0" : options.quote ?? '"',
    })
    : undefined;
  let sequence = 0;
  let offset = 0;
  let line = 1;
  let carry: Uint8Array = new Uint8Array(0);

  const emit = (bytes: Uint8Array): Chunk => {
    const chunk = { sequence: sequence++, bytes, firstLine: line, offset };
    offset += bytes.length;
    line += countLines(bytes);
    return chunk;
  };

  for await (const block of blocks(input, targetBytes)) {
    const cut = scan ? options.kernels.scanRecords(scan, block).cut : lastNewline(block);
    if (cut === null) {
      carry = concat(carry, block);
      if (carry.length > maxRecordBytes) {
        yield emit(carry);
        carry = new Uint8Array(0);
      }
      continue;
    }
    const whole = concat(carry, block.subarray(0, cut));
    carry = block.slice(cut);
    if (whole.length > 0) yield emit(whole);
  }
  if (carry.length > 0) yield emit(carry);
}

/** Re-slices a stream into blocks of exactly `size` bytes (the last may be shorter). */
async function* blocks(input: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let block = new Uint8Array(size);
  let filled = 0;
  for await (const piece of input) {
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(size - filled, piece.length - at);
      block.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        yield block;
        block = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.subarray(0, filled);
}

function lastNewline(block: Uint8Array): number | null {
  const at = block.lastIndexOf(LF);
  return at < 0 ? null : at + 1;
}

/** Line terminators in `bytes`: LF, CRLF and a lone CR each end one line. */
export function countLines(bytes: Uint8Array): number {
  let lines = 0;
  for (let at = bytes.indexOf(LF); at >= 0; at = bytes.indexOf(LF, at + 1)) lines++;
  // Lone CRs are rare; only look for them when a CR is present at all.
  for (let at = bytes.indexOf(CR); at >= 0; at = bytes.indexOf(CR, at + 1)) {
    if (bytes[at + 1] !== LF) lines++;
  }
  return lines;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The header record of a CSV input: its bytes (without a BOM or leading blank lines, with its terminator), the
 * lines it spans, and the offset in `bytes` just past it (where the data starts). Workers put it before every
 * chunk but the first. Null when no complete record is present.
 */
export function csvHeader(
  bytes: Uint8Array,
  quote: string | null,
): { bytes: Uint8Array; lines: number; end: number } | null {
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (bytes[start] === LF || bytes[start] === CR) start++;
  const q = quote === null ? -1 : quote.charCodeAt(0);
  let inQuotes = false;
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === q) inQuotes = !inQuotes;
    else if (!inQuotes && (b === LF || b === CR)) {
      const end = b === CR && bytes[i + 1] === LF ? i + 2 : i + 1;
      const record = bytes.slice(start, end);
      return { bytes: record, lines: countLines(record), end };
    }
  }
  return null;
}
