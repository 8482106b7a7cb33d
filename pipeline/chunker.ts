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
import { BufferFreeList } from "./bytes.ts";

/** One chunk of records. */
export interface Chunk {
  /** 0-based position of the chunk in its input. */
  sequence: number;
  /**
   * Whole records (the first chunk of a CSV input also holds its header), at the start of a buffer of their own
   * (taken from {@linkcode ChunkOptions.buffers}, and possibly longer than the chunk) that the chunker never
   * touches again: the consumer may move it to a worker as it is, and give it back once done with the chunk.
   */
  bytes: Uint8Array<ArrayBuffer>;
  /** 1-based line in the input where the chunk starts. */
  firstLine: number;
  /**
   * Line terminators in the chunk, quoted ones included (the next chunk starts that many lines later). The
   * chunk holds at most one record more (the input's last, unterminated): parsers size their buffers from it.
   */
  lines: number;
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
  /**
   * Where the chunks' buffers come from; the consumer gives each back once done with its chunk, so that the
   * next chunks are copied into memory already mapped. Default: new buffers every time.
   */
  buffers?: BufferFreeList;
  /**
   * Where the input starts in a larger one of which it is the rest, from a record boundary: its offset and its
   * 1-based line. Blocks stay aligned to the larger input's start, so the chunks are those of the whole input
   * from the first one ending past `offset` (the first one starts at `offset`). Default: the input is whole.
   */
  start?: { offset: number; line: number };
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
  const kernels = options.kernels;
  const buffers = options.buffers ?? new BufferFreeList(0);
  // The scanner never sees a quote byte when quoting is off: NUL stands in, as it cannot start a field here.
  const scan = options.format === "csv"
    ? new RecordScanState({
      delimiter: options.delimiter ?? ",",
      quote: options.quote === null ? "\0" : options.quote ?? '"',
    })
    : undefined;

  // The bytes not handed out yet, stream offsets [start, pos), are `held[0, pos - start)`: a buffer of ours, the
  // next chunk's. Each piece of input is scanned, a block at a time, and copied in right away, so a producer may
  // reuse its buffers. CSV input is read once: the scanner copies it into linear memory a cache-sized piece at a
  // time and from there into the chunk's buffer.
  let start = options.start?.offset ?? 0;
  let held: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  let pos = start; // stream offset read so far
  let blockEnd = (Math.floor(start / targetBytes) + 1) * targetBytes;
  // The last record boundary in the current block (stream offset, -1 for none) and the scanner's lines there.
  let cut = -1;
  let cutLines = 0;
  // Scanner lines at `start`. After a chunk cut off at the size limit, the next one counts its lines itself.
  let startLines = 0;
  let recount = false;
  let sequence = 0;
  let line = options.start?.line ?? 1;

  /** Makes room for `n` more bytes after the held ones; returns where they go. */
  const room = (n: number): number => {
    const heldLength = pos - start;
    if (heldLength + n > held.length) {
      // Room to the end of the block, where a chunk is cut; twice that once a record spans blocks.
      const grown = new Uint8Array(buffers.take(Math.max(heldLength + n, blockEnd - start, held.length * 2)));
      grown.set(held.subarray(0, heldLength));
      if (held.length > 0) buffers.give(held.buffer);
      held = grown;
    }
    return heldLength;
  };

  /** Hands out the next `n` held bytes. */
  const take = (n: number): Uint8Array<ArrayBuffer> => {
    const bytes = held.subarray(0, n);
    // The chunk keeps the buffer; the rest (usually part of one record) moves to the next one.
    const rest = held.subarray(n, pos - start);
    held = rest.length === 0 ? new Uint8Array(0) : new Uint8Array(buffers.take(rest.length + targetBytes));
    held.set(rest);
    start += n;
    return bytes;
  };

  const chunk = (bytes: Uint8Array<ArrayBuffer>, lines: number): Chunk => {
    const out = { sequence: sequence++, bytes, firstLine: line, lines, offset: start - bytes.length };
    line += lines;
    return out;
  };

  /** Holds `segment`, the block's bytes from stream offset `pos`, and finds its last boundary. */
  const holdSegment = (segment: Uint8Array) => {
    const at = room(segment.length);
    if (scan) {
      // The scanner copies the bytes in as it goes: each piece is still in cache from the scan.
      const found = kernels.scanRecords(scan, segment, { copyTo: held.subarray(at) }).cut;
      if (found === null) return;
      cut = pos + found;
      // After the cut come no boundaries: quoted line breaks only, and perhaps a CR whose boundary is pending
      // (the scanner counts that line once it sees the next byte).
      const rest = segment.subarray(found);
      const pendingCr = rest.length > 0 && rest[rest.length - 1] === CR && !scan.inQuotes;
      cutLines = scan.lines - countLines(rest) + (pendingCr ? 1 : 0);
    } else {
      held.set(segment, at);
      const found = segment.lastIndexOf(LF);
      if (found >= 0) cut = pos + found + 1;
    }
  };

  /** Ends the current block: the chunk up to its last boundary, or a record over the size limit. */
  const endBlock = (): Chunk | null => {
    let out: Chunk | null = null;
    if (cut >= 0) {
      if (cut > start) {
        const bytes = take(cut - start);
        out = chunk(bytes, scan && !recount ? cutLines - startLines : countLines(bytes));
      }
      startLines = cutLines;
      recount = false;
    } else if (pos - start > maxRecordBytes) {
      const bytes = take(pos - start);
      out = chunk(bytes, countLines(bytes));
      startLines = scan ? scan.lines : 0;
      recount = true;
    }
    cut = -1;
    blockEnd = pos + targetBytes;
    return out;
  };

  for await (const piece of input) {
    for (let at = 0; at < piece.length;) {
      const segment = piece.subarray(at, at + blockEnd - pos);
      holdSegment(segment);
      pos += segment.length;
      at += segment.length;
      if (pos === blockEnd) {
        const out = endBlock();
        if (out !== null) yield out;
      }
    }
  }
  if (pos > blockEnd - targetBytes) {
    // The last, short block.
    const out = endBlock();
    if (out !== null) yield out;
  }
  if (pos > start) yield chunk(take(pos - start), 0);
}

/** Line terminators in `bytes`: LF, CRLF and a lone CR each end one line. */
export function countLines(bytes: Uint8Array): number {
  let lines = countByte(bytes, LF);
  // Lone CRs are rare; only look for them when a CR is present at all.
  for (let at = bytes.indexOf(CR); at >= 0; at = bytes.indexOf(CR, at + 1)) {
    if (bytes[at + 1] !== LF) lines++;
  }
  return lines;
}

const ONES = 0x01010101;
const LOW7 = 0x7f7f7f7f;

/** How many bytes of `bytes` equal `byte`: four at a time, in 32-bit words. */
function countByte(bytes: Uint8Array, byte: number): number {
  let count = 0;
  let i = 0;
  // Up to a 4-byte aligned offset in the buffer, byte by byte.
  const head = Math.min(bytes.length, (4 - (bytes.byteOffset & 3)) & 3);
  for (; i < head; i++) if (bytes[i] === byte) count++;
  const words = (bytes.length - i) >> 2;
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    const pattern = Math.imul(byte, ONES);
    // Each byte lane of `sums` counts matches in that lane; 255 words at most before a lane could overflow.
    for (let w = 0; w < words;) {
      const end = Math.min(words, w + 255);
      let sums = 0;
      for (; w < end; w++) {
        const x = view[w] ^ pattern;
        // The top bit of each lane is set exactly when the lane is zero, that is, when the byte matched.
        sums += (~(((x & LOW7) + LOW7) | x | LOW7) >>> 7) & ONES;
      }
      count += (sums & 0xff) + ((sums >>> 8) & 0xff) + ((sums >>> 16) & 0xff) + (sums >>> 24);
    }
    i += words << 2;
  }
  for (; i < bytes.length; i++) if (bytes[i] === byte) count++;
  return count;
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
