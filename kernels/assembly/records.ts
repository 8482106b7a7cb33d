/**
 * CSV record-boundary scanner: the chunker's kernel. It counts the records in a chunk and reports the
 * offset just past the last complete one, so the host can cut a byte stream at record boundaries before
 * handing pieces to parser workers. Quote state is carried across chunks in a state block, so every way
 * of chunking the same bytes yields the same records and the same boundaries.
 *
 * Rules (RFC 4180, with the lenient choices a parser needs; kernels/README.md is the reference):
 * - A record ends at LF, CR or CRLF outside quotes. The boundary is just past the terminator; a CR is only
 *   known to be a whole terminator when the next byte is seen, so a chunk ending in CR reports that record
 *   in the next call (or in `finish_records`).
 * - A quote opens a quoted field only at the start of a field (record start or just after a delimiter);
 *   anywhere else it is an ordinary byte. Inside a quoted field a doubled quote is a quote and CR/LF are
 *   data; a quote followed by anything else closes the field.
 * - An empty line is a boundary but not a record.
 * - `lines` counts every terminator, inside quotes too, for line numbers in syntax errors.
 */

import { STATUS_BAD_ARGUMENT, STATUS_BAD_STATE, STATUS_OK, STATUS_UNTERMINATED_QUOTE } from "./status";

// State block layout. All fields little-endian; a zeroed block is a fresh stream.
/** State offset (u64): bytes scanned so far in this stream. */
export const SCAN_STATE_CONSUMED: i32 = 0;
/** State offset (u64): stream offset where the record in progress starts. */
export const SCAN_STATE_RECORD_START: i32 = 8;
/** State offset (u64): complete records so far. */
export const SCAN_STATE_RECORDS: i32 = 16;
/** State offset (u64): line terminators so far, inside quoted fields too. */
export const SCAN_STATE_LINES: i32 = 24;
/** State offset (u32): quote mode, one of the `SCAN_MODE_*` values. */
export const SCAN_STATE_MODE: i32 = 32;
/** State offset (u32): `SCAN_FLAG_*` bits. */
export const SCAN_STATE_FLAGS: i32 = 36;
/** State offset (u32): the last byte of the previous chunk. */
export const SCAN_STATE_LAST_BYTE: i32 = 40;
/** State offset (u32), output: records that ended in the last chunk. */
export const SCAN_STATE_CHUNK_RECORDS: i32 = 44;
/** State offset (i32), output: offset in the last chunk just past its last record boundary, -1 if none. */
export const SCAN_STATE_CUT: i32 = 48;
/** Bytes in a state block (room to grow without changing the size). */
export const SCAN_STATE_SIZE: i32 = 64;

/** Mode: outside a quoted field. */
export const SCAN_MODE_UNQUOTED: u32 = 0;
/** Mode: inside a quoted field. */
export const SCAN_MODE_QUOTED: u32 = 1;
/** Mode: a quote was the last byte seen inside a quoted field (closing, or the first of a doubled quote). */
export const SCAN_MODE_QUOTE_IN_QUOTED: u32 = 2;

/** Flag: the previous chunk ended with a CR that terminates a record; its boundary is still open. */
export const SCAN_FLAG_PENDING_CR: u32 = 1;
/** Flag: `finish_records` was called; the block takes no more chunks. */
export const SCAN_FLAG_FINISHED: u32 = 2;
/** Flag: the stream has shown a CR, so its windows are read with CRs in mind from the next chunk's start. */
export const SCAN_FLAG_SAW_CR: u32 = 4;

const CR: u32 = 13;
const LF: u32 = 10;

// Working copies of the counters while a call runs. Record ends are rare next to bytes scanned, so
// globals cost nothing measurable and keep `endRecord` a plain function.
let base: u64 = 0;
let recordStart: u64 = 0;
let records: u64 = 0;
let lines: u64 = 0;
let chunkRecords: u32 = 0;
let cut: i32 = -1;

/** Puts the counters a scan keeps in locals back into their globals. */
// @ts-ignore: decorator
@inline function setCounters(start: u64, nRecords: u64, nLines: u64, nChunk: u32, lastCut: i32): void {
  recordStart = start;
  records = nRecords;
  lines = nLines;
  chunkRecords = nChunk;
  cut = lastCut;
}

/** Closes the record that started at `recordStart`; the terminator spans [termStart, boundary). */
// @ts-ignore: decorator
@inline function endRecord(termStart: u64, boundary: u64): void {
  // A terminator right at the record start is an empty line: a boundary but not a record.
  if (recordStart < termStart) {
    records++;
    chunkRecords++;
  }
  lines++;
  recordStart = boundary;
  cut = <i32>(boundary - base);
}

// @ts-ignore: decorator
@inline function validBytes(delimiter: u32, quote: u32): bool {
  return delimiter < 256 && quote < 256 && delimiter != quote &&
    delimiter != CR && delimiter != LF && quote != CR && quote != LF;
}

// @ts-ignore: decorator
@inline function loadState(state: usize): bool {
  base = load<u64>(state, SCAN_STATE_CONSUMED);
  recordStart = load<u64>(state, SCAN_STATE_RECORD_START);
  records = load<u64>(state, SCAN_STATE_RECORDS);
  lines = load<u64>(state, SCAN_STATE_LINES);
  chunkRecords = 0;
  cut = -1;
  return recordStart <= base && load<u32>(state, SCAN_STATE_MODE) <= SCAN_MODE_QUOTE_IN_QUOTED &&
    (load<u32>(state, SCAN_STATE_FLAGS) & SCAN_FLAG_FINISHED) == 0;
}

// @ts-ignore: decorator
@inline function storeState(state: usize, consumed: u64, mode: u32, flags: u32, lastByte: u32): void {
  store<u64>(state, consumed, SCAN_STATE_CONSUMED);
  store<u64>(state, recordStart, SCAN_STATE_RECORD_START);
  store<u64>(state, records, SCAN_STATE_RECORDS);
  store<u64>(state, lines, SCAN_STATE_LINES);
  store<u32>(state, mode, SCAN_STATE_MODE);
  store<u32>(state, flags, SCAN_STATE_FLAGS);
  store<u32>(state, lastByte, SCAN_STATE_LAST_BYTE);
  store<u32>(state, chunkRecords, SCAN_STATE_CHUNK_RECORDS);
  store<i32>(state, cut, SCAN_STATE_CUT);
}

/** Bit `k` set when byte `at + k` is a quote, CR or LF, for the fewer than 64 bytes left at `at`. */
// @ts-ignore: decorator
@inline function tailSpecials(ptr: usize, at: u32, len: u32, quote: u32): u64 {
  let mask: u64 = 0;
  for (let k: u32 = 0; at + k < len; k++) {
    const c = <u32>load<u8>(ptr + at + k);
    if (c == quote || c == CR || c == LF) mask |= (<u64>1) << k;
  }
  return mask;
}

/** Bit `k` set when byte `k` of the 64 in `a`, `b`, `c`, `d` equals the byte splatted in `v`. */
// @ts-ignore: decorator
@inline function eq64(a: v128, b: v128, c: v128, d: v128, v: v128): u64 {
  return <u64>(<u32>i8x16.bitmask(i8x16.eq(a, v)) | (<u32>i8x16.bitmask(i8x16.eq(b, v)) << 16)) |
    (<u64>(<u32>i8x16.bitmask(i8x16.eq(c, v)) | (<u32>i8x16.bitmask(i8x16.eq(d, v)) << 16)) << 32);
}

/** Bit `k` set when an odd number of bits at `0..k` of `x` are set. */
// @ts-ignore: decorator
@inline function prefixXor(x: u64): u64 {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// Where the window loop stands between stretches (bit 0 of each: the state at the next window's first byte).
let quotedBit: u64 = 0;
let recordStartBit: u64 = 0;
let fieldStartBit: u64 = 0;
/** Set when a window broke the window rules: it must be read byte by byte. */
let stopped = false;
/** The quotes, CRs and LFs of the window that set `stopped`, for the byte-by-byte reading. */
let stopSpecials: u64 = 0;
/** Set when a window stopped the loop for its CRs, so that the next windows are read with CRs in mind. */
let sawCr = false;
/** Windows in a stretch of the window loop. */
const STRETCH_WINDOWS: u32 = 64;

/**
 * Reads whole 64-byte windows of `[ptr + at, ptr + end)` while they follow the rules below; returns where it
 * stopped. A window whose quotes pair up as RFC 4180 has them is read at once: every quote toggles the quoted
 * state (a doubled quote toggles twice), so the state after byte k is the parity of the quotes up to k. That
 * holds when each quote that opens a field stands at a field start (or right after a closing quote: a
 * doubled one). A window that breaks the rule, or ends in a closing quote or a CR (the next byte decides
 * whether the quote is doubled, whether the CR is a CRLF), sets `stopped` and is left to the byte-by-byte
 * reading.
 *
 * Works on the globals (`recordStart`, `records`, `lines`, `chunkRecords`, `cut`, the `*Bit`s) through
 * locals. Inlined four times, with `skipEmpty` and `crlf` constants, so that each loop does only the work
 * it needs. Skipping windows without quotes and line breaks pays on long records, where most windows are
 * such, and costs more than it saves on short ones, where whether a window is such is as good as random (the
 * branch mispredicts). Without `crlf` a window with a CR stops the loop (and sets `sawCr`); with it, CRs
 * (CRLFs and lone ones) are read in the window, which costs LF-only input ~5% when done always. The loop
 * has no other data-dependent branch, for the same reason as the skip.
 */
// @ts-ignore: decorator
@inline function readWindows(
  ptr: usize,
  at: u32,
  end: u32,
  delimiter: u32,
  quote: u32,
  skipEmpty: bool,
  crlf: bool,
): u32 {
  const quotes = i8x16.splat(<i8>quote);
  const crs = i8x16.splat(<i8>CR);
  const lfs = i8x16.splat(<i8>LF);
  const delimiters = i8x16.splat(<i8>delimiter);
  const origin = base;
  let quoted = quotedBit;
  let recordStarts = recordStartBit;
  let fieldStarts = fieldStartBit;
  // Only the records found and the last record end are kept while the loop runs; the globals they move (the
  // counters, the record start and the cut) are updated after it.
  let found: u32 = 0;
  let lastEnd: u32 = U32.MAX_VALUE;
  let nLines = lines;
  while (at + 64 <= end) {
    // Bit masks, bit k for byte at + k.
    const p = ptr + at;
    const a = v128.load(p);
    const b = v128.load(p, 16);
    const c = v128.load(p, 32);
    const d = v128.load(p, 48);
    const q = eq64(a, b, c, d, quotes);
    const lf = eq64(a, b, c, d, lfs);
    const anyCr = !crlf && v128.any_true(
      v128.or(v128.or(i8x16.eq(a, crs), i8x16.eq(b, crs)), v128.or(i8x16.eq(c, crs), i8x16.eq(d, crs))),
    );
    let cr: u64 = 0;
    if (crlf) {
      cr = eq64(a, b, c, d, crs);
    } else if (anyCr) {
      sawCr = true;
      stopped = true;
      stopSpecials = q | lf | eq64(a, b, c, d, crs);
      break;
    }
    if (skipEmpty && (q | lf | cr) == 0) {
      recordStarts = 0;
      fieldStarts = <u64>(<u32>load<u8>(p, 63) == delimiter);
      at += 64;
      continue;
    }
    const delims = eq64(a, b, c, d, delimiters);
    const inside = prefixXor(q) ^ (0 - quoted);
    const before = (inside << 1) | quoted;
    const opens = q & ~before;
    const closes = q & before;
    // Terminators outside quotes: an LF, a CRLF or a lone CR. `ends` has their LFs and CRs (a boundary is
    // just past each; for a CRLF the last one, past the LF, counts), `terminators` their first bytes. A CR at
    // the window's end goes byte by byte: whether an LF follows is in the next window.
    const crEnds = cr & ~inside;
    const ends = (lf & ~inside) | crEnds;
    const terminators = (lf & ~inside & ~(cr << 1)) | crEnds;
    const stray = opens & ~(((delims | ends | closes) << 1) | fieldStarts);
    if ((stray | ((closes | cr) >> 63)) != 0) {
      stopped = true;
      stopSpecials = q | lf | cr;
      break;
    }
    // Every LF and CR is one line, but the LF of a CRLF.
    nLines += popcnt((lf & ~(cr << 1)) | cr);
    // A terminator right after another one (or at the record start) is an empty line, not a record.
    found += <u32>popcnt(terminators & ~((ends << 1) | recordStarts));
    lastEnd = select<u32>(at + 64 - <u32>clz(ends), lastEnd, ends != 0);
    quoted = inside >> 63;
    recordStarts = ends >> 63;
    fieldStarts = (delims | ends) >> 63;
    at += 64;
  }
  quotedBit = quoted;
  recordStartBit = recordStarts;
  fieldStartBit = fieldStarts;
  records += found;
  chunkRecords += found;
  lines = nLines;
  if (lastEnd != U32.MAX_VALUE) {
    recordStart = origin + lastEnd;
    cut = <i32>lastEnd;
  }
  return at;
}

/**
 * Scans one chunk `[ptr, ptr + len)` of a CSV stream whose state block is at `state` (`SCAN_STATE_SIZE`
 * bytes, 8-byte aligned, zeroed for a new stream). Writes the outputs (`SCAN_STATE_CHUNK_RECORDS`,
 * `SCAN_STATE_CUT`) and the carried state back to the block. Returns a status code.
 */
export function scan_records(state: usize, ptr: usize, len: u32, delimiter: u32, quote: u32): i32 {
  if (state == 0 || (state & 7) != 0 || !validBytes(delimiter, quote)) return STATUS_BAD_ARGUMENT;
  if (!loadState(state)) return STATUS_BAD_STATE;
  let mode = load<u32>(state, SCAN_STATE_MODE);
  let flags = load<u32>(state, SCAN_STATE_FLAGS);
  sawCr = (flags & SCAN_FLAG_SAW_CR) != 0;
  let lastByte = load<u32>(state, SCAN_STATE_LAST_BYTE);
  if (len == 0) {
    storeState(state, base, mode, flags, lastByte);
    return STATUS_OK;
  }
  const quotes = i8x16.splat(<i8>quote);
  let i: u32 = 0;
  const first = <u32>load<u8>(ptr);
  if (flags & SCAN_FLAG_PENDING_CR) {
    flags &= ~SCAN_FLAG_PENDING_CR;
    // CR then LF is one terminator: the LF below closes it. Anything else closes it right here.
    if (first != LF) endRecord(base - 1, base);
  }
  if (mode == SCAN_MODE_QUOTE_IN_QUOTED) {
    if (first == quote) {
      mode = SCAN_MODE_QUOTED;
      i = 1;
    } else {
      mode = SCAN_MODE_UNQUOTED;
    }
  }
  // The counters live in locals while the loop runs; globals cost a memory access each.
  let start = recordStart;
  let nRecords = records;
  let nLines = lines;
  let nChunk = chunkRecords;
  let lastCut = cut;
  let at = i;
  const crs = i8x16.splat(<i8>CR);
  const lfs = i8x16.splat(<i8>LF);
  const origin = base; // stream offset of `ptr`, in a local
  while (at < len) {
    let mask: u64;
    if (at + 64 <= len) {
      const prev = at > 0 ? <u32>load<u8>(ptr + at - 1) : lastByte;
      // A CR before the window may end its record here (CRLF) or just before: byte by byte. Otherwise whole
      // windows (readWindows), in stretches.
      if (prev != CR) {
        quotedBit = <u64>(mode == SCAN_MODE_QUOTED);
        recordStartBit = <u64>(origin + at == start);
        fieldStartBit = recordStartBit | <u64>(prev == delimiter);
        stopped = false;
        setCounters(start, nRecords, nLines, nChunk, lastCut);
        // The first stretch reads every window; the next ones skip empty windows after long lines.
        let skipEmpty = false;
        while (!stopped && at + 64 <= len) {
          const linesBefore = lines;
          const end = min(len, at + STRETCH_WINDOWS * 64);
          if (sawCr) {
            at = skipEmpty
              ? readWindows(ptr, at, end, delimiter, quote, true, true)
              : readWindows(ptr, at, end, delimiter, quote, false, true);
          } else {
            at = skipEmpty
              ? readWindows(ptr, at, end, delimiter, quote, true, false)
              : readWindows(ptr, at, end, delimiter, quote, false, false);
          }
          skipEmpty = lines - linesBefore < <u64>(STRETCH_WINDOWS / 2);
        }
        start = recordStart;
        nRecords = records;
        nLines = lines;
        nChunk = chunkRecords;
        lastCut = cut;
        mode = quotedBit != 0 ? SCAN_MODE_QUOTED : SCAN_MODE_UNQUOTED;
        if (at + 64 > len) continue;
        mask = stopSpecials;
      } else {
        const p = ptr + at;
        const a = v128.load(p);
        const b = v128.load(p, 16);
        const c = v128.load(p, 32);
        const d = v128.load(p, 48);
        mask = eq64(a, b, c, d, quotes) | eq64(a, b, c, d, lfs) | eq64(a, b, c, d, crs);
      }
    } else {
      // Fewer than 64 bytes left: byte by byte.
      mask = tailSpecials(ptr, at, len, quote);
      if (mask == 0) break;
    }
    let next = at + 64;
    // Each set bit is one special byte, handled in order; a doubled quote clears its second bit.
    while (mask != 0) {
      i = at + <u32>ctz(mask);
      mask &= mask - 1;
      const c = <u32>load<u8>(ptr + i);
      const prev = i > 0 ? <u32>load<u8>(ptr + i - 1) : lastByte;
      if (mode == SCAN_MODE_QUOTED) {
        if (c == quote) {
          if (i + 1 == len) {
            mode = SCAN_MODE_QUOTE_IN_QUOTED;
          } else if (<u32>load<u8>(ptr + i + 1) == quote) {
            if (i + 1 < at + 64) mask &= mask - 1;
            else next = i + 2;
          } else {
            mode = SCAN_MODE_UNQUOTED;
          }
        } else if (c == CR || prev != CR) {
          nLines++;
        }
        continue;
      }
      if (c == quote) {
        if (origin + i == start || prev == delimiter) mode = SCAN_MODE_QUOTED;
        continue;
      }
      let termStart: u64;
      if (c == LF) {
        termStart = prev == CR ? origin + i - 1 : origin + i;
      } else if (i + 1 == len) {
        flags |= SCAN_FLAG_PENDING_CR;
        continue;
      } else if (<u32>load<u8>(ptr + i + 1) == LF) {
        continue; // the LF closes this CRLF
      } else {
        termStart = origin + i;
      }
      // Same as endRecord, on the locals.
      if (start < termStart) {
        nRecords++;
        nChunk++;
      }
      nLines++;
      start = origin + i + 1;
      lastCut = <i32>(i + 1);
    }
    at = next;
  }
  setCounters(start, nRecords, nLines, nChunk, lastCut);
  if (sawCr) flags |= SCAN_FLAG_SAW_CR;
  storeState(state, base + len, mode, flags, <u32>load<u8>(ptr + len - 1));
  return STATUS_OK;
}

/**
 * Ends the stream: closes a pending CR and a last record without a terminator, and marks the block
 * finished. `SCAN_STATE_CUT` is 0 when carried bytes form a last record, -1 when nothing was pending.
 * Returns `STATUS_UNTERMINATED_QUOTE` when the stream ended inside a quoted field.
 */
export function finish_records(state: usize): i32 {
  if (state == 0 || (state & 7) != 0) return STATUS_BAD_ARGUMENT;
  if (!loadState(state)) return STATUS_BAD_STATE;
  const mode = load<u32>(state, SCAN_STATE_MODE);
  let flags = load<u32>(state, SCAN_STATE_FLAGS);
  let status = STATUS_OK;
  if (flags & SCAN_FLAG_PENDING_CR) {
    endRecord(base - 1, base);
  } else if (recordStart < base) {
    if (mode == SCAN_MODE_QUOTED) status = STATUS_UNTERMINATED_QUOTE;
    records++;
    chunkRecords++;
    recordStart = base;
    cut = 0;
  }
  flags = SCAN_FLAG_FINISHED;
  storeState(state, base, SCAN_MODE_UNQUOTED, flags, load<u32>(state, SCAN_STATE_LAST_BYTE));
  return status;
}
