/**
 * Streaming CSV parser that decodes straight into typed columns (Arrow layout). The host wrapper is
 * `kernels/csv.ts`; the dialect and the state block are documented in kernels/README.md.
 *
 * How it is fast: most rows go through the one-pass fast path (see "The fast path" below). The others are
 * parsed in batches of up to `CSV_S_BATCH_ROWS`, in two stages.
 * - Stage 1 (structure): each 64-byte block is loaded as four v128 vectors and compared against the
 *   delimiter, the quote, CR and LF; one 64-bit mask of "special" bytes results. Only those bytes are
 *   visited (count trailing zeros, clear lowest bit), running the quote state machine per special byte
 *   rather than per byte. Each field's bounds go to an index (8 bytes per field); row-level problems
 *   (ragged, UTF-8, quotes, sizes) reject the row right there. The same vectors tell whether a block holds
 *   a byte >= 0x80; only such blocks are UTF-8 validated.
 * - Stage 2 (values): column by column, a loop specialised for the column's type decodes that column's
 *   field of every row in the batch. No dispatch per field, branches that predict well, and the batch's
 *   bytes are still in cache. A value that does not fit its type marks its row; marked rows are rejected
 *   and squeezed out of the columns afterwards (rare, so it may be slow).
 *
 * How it is chunk-safe: a call consumes whole rows only. An incomplete last row is left to the host,
 * which prepends it to the next chunk, so any chunking parses the same rows from the same bytes. What
 * cannot be re-read (a CR that ended the previous chunk, an oversized row being skipped, line numbers)
 * lives in the state block.
 */

import { STATUS_BAD_ARGUMENT, STATUS_BAD_STATE, STATUS_OK, STATUS_UNTERMINATED_QUOTE } from "./status";
import { dateAt, digitsOf, parseBoolean, parseDecimal, parseDecimalFast, parseInt64, parseTimestampAfterDate, parseTimestampFast, timestamp24 } from "./csv_values";
import { parsedFloat, parseFloat64 } from "./float";
import { utf8BadMask, validateUtf8 } from "./utf8";

/** Layout version of the state block; the host writes it to `CSV_S_ABI` and the kernel checks it. */
export const CSV_ABI_VERSION: i32 = 2;

// ---- State block: i32 slots (the byte offset is slot × 4). ----
// Configuration, written once by the host.
/** Slot: must hold `CSV_ABI_VERSION`. */
export const CSV_S_ABI: i32 = 0;
/** Slot: delimiter byte. */
export const CSV_S_DELIMITER: i32 = 1;
/** Slot: quote byte, or 256 for no quoting. */
export const CSV_S_QUOTE: i32 = 2;
/** Slot: `CSV_FLAG_*` bits. */
export const CSV_S_FLAGS: i32 = 3;
/** Slot: largest field in bytes (as written, quotes included); longer fields reject their row. */
export const CSV_S_MAX_FIELD: i32 = 4;
/** Slot: largest row in bytes (terminator excluded); longer rows are rejected, and skipped across chunks. */
export const CSV_S_MAX_ROW: i32 = 5;
/** Slot: fields each row must have. */
export const CSV_S_FIELDS: i32 = 6;
/** Slot: number of column descriptors. */
export const CSV_S_COLUMNS: i32 = 7;
/** Slot: pointer to the column descriptors (`CSV_COLUMN_SLOTS` i32 each). */
export const CSV_S_COLUMNS_PTR: i32 = 8;
/** Slot: pointer to `CSV_S_COLUMNS` i32: the field each column reads. */
export const CSV_S_COLUMN_FIELDS_PTR: i32 = 9;
/** Slot: pointer to the null tokens, each a length byte followed by its bytes. */
export const CSV_S_NULLS_PTR: i32 = 10;
/** Slot: total bytes of the null tokens. */
export const CSV_S_NULLS_LEN: i32 = 11;
/** Slot: bit n set when some null token is n bytes long (n < 32). */
export const CSV_S_NULLS_LENGTHS: i32 = 12;
// Carried between calls.
/** Slot: 1-based line number of the first input byte. Starts at 1. */
export const CSV_S_LINE: i32 = 13;
/** Slot: offset (relative to the input, <= 0) where the first input byte's line starts. */
export const CSV_S_LINE_START: i32 = 14;
/** Slot: 1 once the byte-order mark was looked for. */
export const CSV_S_STARTED: i32 = 15;
/** Slot: 1 when the previous chunk ended with a CR that ended a row (a leading LF is then skipped). */
export const CSV_S_PENDING_CR: i32 = 16;
/** Slot: 1 while an oversized row is being skipped. */
export const CSV_S_SKIPPING: i32 = 17;
/** Slot: quote state of the skipped row (`SKIP_*`). */
export const CSV_S_SKIP_MODE: i32 = 18;
/** Slot: 1 when the skipped row's previous byte was a CR inside quotes. */
export const CSV_S_SKIP_PREV_CR: i32 = 19;
/** Slot: line of the opening quote of the skipped row's open quoted field. */
export const CSV_S_QUOTE_LINE: i32 = 20;
/** Slot: column of that quote. */
export const CSV_S_QUOTE_COLUMN: i32 = 21;
// Per call, written by the host.
/** Slot: input pointer (the host leaves 64 readable bytes after the input). */
export const CSV_S_INPUT_PTR: i32 = 22;
/** Slot: input length. */
export const CSV_S_INPUT_LEN: i32 = 23;
/** Slot: 1 when the input ends the stream. */
export const CSV_S_FINAL: i32 = 24;
/** Slot: rows the column buffers hold (and reject records the reject buffer holds). */
export const CSV_S_ROW_CAPACITY: i32 = 25;
/** Slot: rows already in the column buffers; updated by the call. */
export const CSV_S_ROWS: i32 = 26;
/** Slot: pointer to an i32 per row: the row's 1-based line. */
export const CSV_S_LINES_PTR: i32 = 27;
/** Slot: pointer to reject records (`CSV_REJECT_SLOTS` i32 each). */
export const CSV_S_REJECTS_PTR: i32 = 28;
/** Slot: reject records the buffer holds (the call stops with `CSV_STOP_ROWS_FULL` before overflowing it). */
export const CSV_S_REJECT_CAPACITY: i32 = 29;
/** Slot: reject records already written; updated by the call. */
export const CSV_S_REJECTS: i32 = 30;
// Per call, written by the kernel.
/** Slot: input bytes consumed; the rest is an incomplete row for the next call. */
export const CSV_S_CONSUMED: i32 = 31;
/** Slot: why the call returned (`CSV_STOP_*`). */
export const CSV_S_STOP: i32 = 32;
/** Slot: with `CSV_STOP_DATA_FULL`, the column whose string data is full. */
export const CSV_S_FULL_COLUMN: i32 = 33;
/** Slot: with `CSV_STOP_DATA_FULL`, the bytes the field needs. */
export const CSV_S_FULL_NEED: i32 = 34;
/** Slot: with `STATUS_UNTERMINATED_QUOTE`, the opening quote's line; with `CSV_STOP_FIELDS_DONE`, the row's. */
export const CSV_S_ERROR_LINE: i32 = 35;
/** Slot: with `STATUS_UNTERMINATED_QUOTE`, the opening quote's 1-based byte column. */
export const CSV_S_ERROR_COLUMN: i32 = 36;
/** Slot: with `CSV_STOP_FIELDS_DONE`, the number of fields in the row. */
export const CSV_S_FIELD_COUNT: i32 = 37;
/** Slot: pointer to the field index: `CSV_S_FIELDS` × `CSV_S_BATCH_ROWS` u64 (fields mode: row capacity). */
export const CSV_S_INDEX_PTR: i32 = 38;
/** Slot: rows per batch, 1..`CSV_MAX_BATCH_ROWS`. */
export const CSV_S_BATCH_ROWS: i32 = 39;
/** Slot, carried between calls: rows the fast path's lean variant gave up in the stream so far. */
export const CSV_S_LEAN_GIVE_UPS: i32 = 40;
/** Slots in a state block. */
export const CSV_STATE_SLOTS: i32 = 48;

/** Flag: an empty field (and, for non-string columns, an empty quoted field) is null. */
export const CSV_FLAG_NULL_EMPTY: i32 = 1;
/** Flag: parse one row (the header) as a list of strings into column 0, one entry per field. */
export const CSV_FLAG_FIELDS_MODE: i32 = 2;
/** Flag: read every row with the two stages, never the fast path (tests compare the two). */
export const CSV_FLAG_TWO_STAGES: i32 = 4;
/** Flag: the fast path runs its full variant from the start, never the lean one (tests compare the two). */
export const CSV_FLAG_FULL_FAST: i32 = 8;

// ---- Column descriptor: i32 slots. ----
/** Column slot: `CSV_TYPE_*`. */
export const CSV_C_TYPE: i32 = 0;
/** Column slot: decimal precision (<= 18). */
export const CSV_C_PRECISION: i32 = 1;
/** Column slot: decimal scale. */
export const CSV_C_SCALE: i32 = 2;
/** Column slot: validity bitmap (LSB first, 1 = valid); the host fills it with ones. */
export const CSV_C_VALIDITY: i32 = 3;
/** Column slot: values (8 bytes per row; 4 for dates; bits for booleans, zero-filled) or string offsets. */
export const CSV_C_VALUES: i32 = 4;
/** Column slot: string data region. */
export const CSV_C_DATA: i32 = 5;
/** Column slot: bytes the string data region holds (the host leaves 16 spare bytes after them). */
export const CSV_C_DATA_CAPACITY: i32 = 6;
/** Column slot: the string offset that the first byte of the data region has. */
export const CSV_C_DATA_BASE: i32 = 7;
/** Slots in a column descriptor. */
export const CSV_COLUMN_SLOTS: i32 = 8;

/** Type: UTF-8 string, int32 offsets + bytes. */
export const CSV_TYPE_STRING: i32 = 0;
/** Type: int64. */
export const CSV_TYPE_INT64: i32 = 1;
/** Type: float64. */
export const CSV_TYPE_FLOAT64: i32 = 2;
/** Type: decimal as an int64 scaled by 10^scale. */
export const CSV_TYPE_DECIMAL: i32 = 3;
/** Type: bit-packed boolean. */
export const CSV_TYPE_BOOLEAN: i32 = 4;
/** Type: int32 days since 1970-01-01. */
export const CSV_TYPE_DATE: i32 = 5;
/** Type: int64 microseconds since the epoch, UTC. */
export const CSV_TYPE_TIMESTAMP: i32 = 6;

// ---- Reject record: i32 slots. ----
/** Slots per reject: line, field index (-1 for the whole row), rule, value offset, value length. */
export const CSV_REJECT_SLOTS: i32 = 5;
/** Rule: the row has the wrong number of fields. */
export const CSV_RULE_RAGGED: i32 = 1;
/** Rule: a value does not conform to its column type. */
export const CSV_RULE_TYPE: i32 = 2;
/** Rule: the row is not valid UTF-8. */
export const CSV_RULE_UTF8: i32 = 3;
/** Rule: bytes follow a closing quote inside the field. */
export const CSV_RULE_QUOTE: i32 = 4;
/** Rule: a field is longer than `CSV_S_MAX_FIELD`. */
export const CSV_RULE_FIELD_SIZE: i32 = 5;
/** Rule: a row is longer than `CSV_S_MAX_ROW`. */
export const CSV_RULE_ROW_SIZE: i32 = 6;
/** Reject values of the size rules are cut to this many bytes. */
export const CSV_REJECT_VALUE_LIMIT: i32 = 1024;

/** Stop: the input is consumed up to an incomplete row (or to its end). */
export const CSV_STOP_END: i32 = 0;
/** Stop: a column's string data region is full; drain or grow it and call again with the rest. */
export const CSV_STOP_DATA_FULL: i32 = 2;
/** Stop: fields mode parsed its row. */
export const CSV_STOP_FIELDS_DONE: i32 = 3;
/**
 * Stop: the row buffers (or the reject buffer) are full; the rows so far are complete. Grow them (keeping
 * those rows) and call again with the rest.
 */
export const CSV_STOP_ROWS_FULL: i32 = 4;
/** Largest batch: the stage-2 scratch has room for this many rows. */
export const CSV_MAX_BATCH_ROWS: i32 = 4096;

const LF: u32 = 10;
const CR: u32 = 13;
const Q_UNQUOTED: i32 = 0;
const Q_IN: i32 = 1;
const Q_AFTER: i32 = 2;
// Quote states of a skipped row.
const SKIP_FIELD_START: i32 = 0;
const SKIP_IN_FIELD: i32 = 1;
const SKIP_IN_QUOTES: i32 = 2;
const SKIP_QUOTE_IN_QUOTES: i32 = 3;
// Index entry: content start in the low word; content end, a quoted bit and an escapes bit in the high word.
const END_MASK: u64 = 0x3fffffff;
const QUOTED_BIT: u64 = <u64>1 << 62;
const ESCAPES_BIT: u64 = <u64>1 << 63;
// Per batch row: the first field (in field order) whose value does not fit its type, or -1.
const BAD_FIELD: usize = memory.data(CSV_MAX_BATCH_ROWS * 4);

// Configuration and outputs of the running call. Globals keep the helpers plain functions.
let input: usize = 0;
let delimiter: u32 = 0;
let quote: u32 = 0;
let nullEmpty: bool = false;
let fieldsMode: bool = false;
let maxField: u32 = 0;
let maxRow: u32 = 0;
let fieldCount: i32 = 0;
let columnCount: i32 = 0;
let columns: usize = 0;
let columnFields: usize = 0;
let nullTokens: usize = 0;
let nullTokensLen: u32 = 0;
let nullLengths: u32 = 0;
let rows: u32 = 0;
let rowCapacity: u32 = 0;
let linesPtr: usize = 0;
let rejectsPtr: usize = 0;
let rejectCapacity: u32 = 0;
let rejects: u32 = 0;
let fullColumn: i32 = 0;
let fullNeed: u32 = 0;
let index: usize = 0;
let batchRows: u32 = 0;
// Fields per row kept in the index: the expected count (fields mode: the header's room).
let storedFields: i32 = 0;
// Rows of the current batch that passed stage 1.
let batched: u32 = 0;
// The first field-level problem of the row being parsed (rule 0: none yet).
let errRule: i32 = 0;
let errField: i32 = 0;
let errStart: u32 = 0;
let errEnd: u32 = 0;
// Line bookkeeping shared by the skip scanner and the main loop.
let line: i32 = 1;
let lineStart: i32 = 0;
let pendingCr: bool = false;

// @ts-ignore: decorator
@inline function slot(state: usize, index: i32): i32 {
  return load<i32>(state + (<usize>index << 2));
}

// @ts-ignore: decorator
@inline function setSlot(state: usize, index: i32, value: i32): void {
  store<i32>(state + (<usize>index << 2), value);
}

// @ts-ignore: decorator
@inline function columnSlot(column: usize, index: i32): i32 {
  return load<i32>(column + (<usize>index << 2));
}

// @ts-ignore: decorator
@inline function fieldError(rule: i32, field: i32, start: u32, end: u32): void {
  if (errRule == 0) {
    errRule = rule;
    errField = field;
    errStart = start;
    errEnd = end;
  }
}

/**
 * The lengths of the null tokens as bits (`nullLengths`), or none when the caller is built for a
 * configuration without tokens (`tokens` false, a constant where it is inlined; see {@link fastRows}).
 */
// @ts-ignore: decorator
@inline function tokenLengths(tokens: bool): u32 {
  return tokens ? nullLengths : 0;
}

/** Whether some null token is `n` bytes long. Most values' lengths are not: they are told without a call. */
// @ts-ignore: decorator
@inline function tokenOfLength(n: u32, tokens: bool = true): bool {
  return n < 32 && ((tokenLengths(tokens) >> n) & 1) != 0;
}

/** Whether [s, e) equals one of the configured null tokens. */
// @ts-ignore: decorator
@inline function isNullToken(s: u32, e: u32, tokens: bool = true): bool {
  return tokenOfLength(e - s, tokens) && matchesNullToken(s, e);
}

/** {@link isNullToken} once a token has the length of [s, e). */
function matchesNullToken(s: u32, e: u32): bool {
  const n = e - s;
  let t = nullTokens;
  const end = nullTokens + nullTokensLen;
  while (t < end) {
    const tn = <u32>load<u8>(t);
    if (tn == n) {
      let k: u32 = 0;
      while (k < n && load<u8>(t + 1 + k) == load<u8>(input + s + k)) k++;
      if (k == n) return true;
    }
    t += 1 + tn;
  }
  return false;
}

/** Whether [s, e) is null: empty (when empty means null) or a null token. */
// @ts-ignore: decorator
@inline function isNull(s: u32, e: u32, tokens: bool = true): bool {
  return (s == e && nullEmpty) || isNullToken(s, e, tokens);
}

// @ts-ignore: decorator
@inline function clearBit(bitmap: usize, row: u32): void {
  const p = bitmap + (row >> 3);
  store<u8>(p, load<u8>(p) & ~(<u8>1 << <u8>(row & 7)));
}

// @ts-ignore: decorator
@inline function setBit(bitmap: usize, row: u32): void {
  const p = bitmap + (row >> 3);
  store<u8>(p, load<u8>(p) | (<u8>1 << <u8>(row & 7)));
}

// @ts-ignore: decorator
@inline function getBit(bitmap: usize, row: u32): bool {
  return ((load<u8>(bitmap + (row >> 3)) >> <u8>(row & 7)) & 1) != 0;
}

/** Writes a reject record; false when the buffer is full. */
function addReject(line: i32, field: i32, rule: i32, start: u32, end: u32): bool {
  if (rejects >= rejectCapacity) return false;
  const r = rejectsPtr + (<usize>(rejects * <u32>CSV_REJECT_SLOTS) << 2);
  store<i32>(r, line);
  store<i32>(r, field, 4);
  store<i32>(r, rule, 8);
  store<i32>(r, <i32>start, 12);
  store<i32>(r, <i32>(end - start), 16);
  rejects++;
  return true;
}

/**
 * Sixteen bytes at a time, overshooting into the spare bytes both regions have (`DATA_PAD`, `INPUT_PAD`).
 * The first 32 go unconditionally: short strings are the norm, and a loop exit that depends on whether a
 * name is over 16 bytes mispredicts.
 */
// @ts-ignore: decorator
@inline function copyBytes(dst: usize, src: usize, n: u32): void {
  v128.store(dst, v128.load(src));
  v128.store(dst, v128.load(src, 16), 16);
  for (let k: u32 = 32; k < n; k += 16) v128.store(dst + k, v128.load(src + k));
}

/**
 * Copies [s, e) to dst, turning each doubled quote into one; returns the bytes written. Sixteen bytes at a
 * time up to the next quote (overshooting like {@link copyBytes}): a name with a quoted nickname takes a few
 * steps, not one per byte. Inlined, so that the lean variant of the fast path's field loop has no call (see
 * {@link fastRows}).
 */
// @ts-ignore: decorator
@inline function copyUnescaped(dst: usize, s: u32, e: u32): u32 {
  const vQuote = i8x16.splat(<i8> quote);
  let w: u32 = 0;
  let k = s;
  while (k < e) {
    const v = v128.load(input + k);
    v128.store(dst + w, v);
    const n = min<u32>(e - k, 16);
    const quotes = <u32> i8x16.bitmask(i8x16.eq(v, vQuote)) & ((<u32> 1 << n) - 1);
    if (quotes == 0) {
      w += n;
      k += n;
    } else {
      // Inside a quoted field every quote is the first of a doubled pair: the second is skipped.
      const i = <u32> ctz(quotes);
      w += i + 1;
      k += i + 2;
    }
  }
  return w;
}

// ---------------------------------------------------------------------------------------------------
// Stage 1: structure.

/**
 * Records field `field` of batch row `batched` at `entry` (its index slot: the caller steps it by a column
 * per field): raw bytes [start, end), content [cs, ce) when quoted.
 */
// @ts-ignore: decorator
@inline function recordField(field: i32, entry: usize, start: u32, end: u32, quoted: bool, cs: u32, ce: u32, escapes: bool): void {
  // Both problems are rare: one branch tells whether either is there.
  if ((<u32> quoted & <u32> (end != ce + 1)) | <u32> (end - start > maxField)) {
    if (quoted && end != ce + 1) {
      fieldError(CSV_RULE_QUOTE, field, start, end);
    } else {
      fieldError(CSV_RULE_FIELD_SIZE, field, start, start + min(end - start, <u32> CSV_REJECT_VALUE_LIMIT));
    }
  }
  // Column-major (all rows of field 0, then field 1, ...): stage 2 then reads each column sequentially.
  if (field < storedFields) {
    const s = quoted ? cs : start;
    const e = quoted ? ce : end;
    const hi = <u64> e | (quoted ? QUOTED_BIT >> 32 : 0) | (escapes ? ESCAPES_BIT >> 32 : 0);
    store<u64>(entry, <u64> s | (hi << 32));
  }
}

/** {@linkcode recordField} for an unquoted field. */
// @ts-ignore: decorator
@inline function recordPlainField(field: i32, entry: usize, start: u32, end: u32): void {
  if (end - start > maxField) {
    fieldError(CSV_RULE_FIELD_SIZE, field, start, start + min(end - start, <u32> CSV_REJECT_VALUE_LIMIT));
  }
  if (field < storedFields) store<u64>(entry, <u64> start | (<u64> end << 32));
}

/**
 * The delimiters of a block's `mask` that come before its first quote, CR or LF (all of them when there is
 * none): outside quotes they end plain fields one after another, inside quotes they are ordinary bytes.
 */
// @ts-ignore: decorator
@inline function leadingDelimiters(mask: u64, delims: u64): u64 {
  const others = mask & ~delims;
  // (others & -others) - 1: the bits below the lowest other special byte, all bits when there is none.
  return mask & delims & ((others & (0 - others)) - 1);
}

/** The index slot of field 0 of batch row `batched`. */
// @ts-ignore: decorator
@inline function rowEntry(): usize {
  return index + (<usize> batched << 3);
}

/**
 * Ends the row [rowStart, rowEnd) (terminator excluded) with `fields` fields: rejects it, or adds it to
 * the batch. Returns false, having changed nothing, when the row might not fit: a row buffer slot and a
 * reject record stay free for every row of the batch (stage 2 may reject any of them).
 */
function endRow(rowStart: u32, rowEnd: u32, fields: i32, line: i32, badUtf8: bool, lastEmpty: bool): bool {
  if (!fieldsMode && (rows + batched >= rowCapacity || rejects + batched >= rejectCapacity)) return false;
  let rule = errRule;
  let field = errField;
  let vs = errStart;
  let ve = errEnd;
  const rowLen = rowEnd - rowStart;
  if (rowLen > maxRow) {
    rule = CSV_RULE_ROW_SIZE;
    field = -1;
    vs = rowStart;
    ve = rowStart + min(rowLen, min(maxRow + 1, <u32> CSV_REJECT_VALUE_LIMIT));
  } else if (!fieldsMode && fields != fieldCount && !(fields == fieldCount + 1 && lastEmpty)) {
    rule = CSV_RULE_RAGGED;
    field = -1;
    vs = rowStart;
    ve = rowEnd;
  } else if (badUtf8) {
    rule = CSV_RULE_UTF8;
    field = -1;
    vs = rowStart;
    ve = rowEnd;
  }
  // Room was checked above (fields mode has room for its one row).
  if (rule != 0) return addReject(line, field, rule, vs, ve);
  if (!fieldsMode) store<i32>(linesPtr + ((<usize> rows + <usize> batched) << 2), line);
  batched++;
  return true;
}

/**
 * Scans an oversized row being skipped, from `pos`, with the same quote rules as the main loop but no
 * decoding. Returns where the next row starts, or -1 when the input ended inside the row. Sets the
 * unterminated-quote error slots and returns -2 when a final input ends inside quotes.
 */
function skipRow(state: usize, pos: u32, len: u32, final: bool): i32 {
  let mode = slot(state, CSV_S_SKIP_MODE);
  let prevCr = slot(state, CSV_S_SKIP_PREV_CR) != 0;
  let quoteLine = slot(state, CSV_S_QUOTE_LINE);
  let quoteColumn = slot(state, CSV_S_QUOTE_COLUMN);
  for (let i = pos; i < len; i++) {
    const c = <u32> load<u8>(input + i);
    if (mode == SKIP_QUOTE_IN_QUOTES) {
      if (c == quote) {
        mode = SKIP_IN_QUOTES;
        prevCr = false;
        continue;
      }
      mode = SKIP_IN_FIELD;
    }
    if (mode == SKIP_IN_QUOTES) {
      if (c == quote) {
        mode = SKIP_QUOTE_IN_QUOTES;
      } else if (c == CR) {
        line++;
        lineStart = <i32> i + 1;
      } else if (c == LF) {
        if (!prevCr) line++;
        lineStart = <i32> i + 1;
      }
      prevCr = c == CR;
      continue;
    }
    if (c == CR || c == LF) {
      let next = i + 1;
      if (c == CR) {
        if (next < len) {
          if (<u32> load<u8>(input + next) == LF) next++;
        } else if (!final) {
          pendingCr = true;
        }
      }
      line++;
      lineStart = <i32> next;
      setSlot(state, CSV_S_SKIPPING, 0);
      return <i32> next;
    }
    if (c == delimiter) {
      mode = SKIP_FIELD_START;
    } else if (c == quote && mode == SKIP_FIELD_START) {
      mode = SKIP_IN_QUOTES;
      quoteLine = line;
      quoteColumn = <i32> i - lineStart + 1;
    } else {
      mode = SKIP_IN_FIELD;
    }
    prevCr = false;
  }
  if (final) {
    setSlot(state, CSV_S_SKIPPING, 0);
    if (mode == SKIP_IN_QUOTES) {
      setSlot(state, CSV_S_ERROR_LINE, quoteLine);
      setSlot(state, CSV_S_ERROR_COLUMN, quoteColumn);
      return -2;
    }
    return <i32> len;
  }
  setSlot(state, CSV_S_SKIP_MODE, mode);
  setSlot(state, CSV_S_SKIP_PREV_CR, prevCr ? 1 : 0);
  setSlot(state, CSV_S_QUOTE_LINE, quoteLine);
  setSlot(state, CSV_S_QUOTE_COLUMN, quoteColumn);
  return -1;
}

// ---------------------------------------------------------------------------------------------------
// Stage 2: values, one column at a time over the rows of a batch.

// @ts-ignore: decorator
@inline function entryAt(field: i32, row: u32): u64 {
  return load<u64>(index + ((<usize> field * <usize> batchRows + <usize> row) << 3));
}

// @ts-ignore: decorator
@inline function markBad(row: u32, field: i32): void {
  const p = BAD_FIELD + (<usize> row << 2);
  const was = load<i32>(p);
  if (was < 0 || field < was) store<i32>(p, field);
}

/** Bounds of a typed value: spaces and tabs around it do not count, like `Number()` ignores them. */
let trimEnd: u32 = 0;

// @ts-ignore: decorator
@inline function trimStart(s: u32, e: u32): u32 {
  while (e > s) {
    const b = load<u8>(input + e - 1);
    if (b != 0x20 && b != 0x09) break;
    e--;
  }
  while (s < e) {
    const b = load<u8>(input + s);
    if (b != 0x20 && b != 0x09) break;
    s++;
  }
  trimEnd = e;
  return s;
}

// Each value's decoding, shared by stage 2 (column by column) and the fast path (row by row), so both write
// exactly the same values, nulls and validity bits. A `put*` function returns false when the text does not
// conform to the column's type (the caller marks or gives up the row).

/**
 * Stores the string [s, e) of row `row`: its bytes at `data + off` (doubled quotes undone when `escapes`),
 * its end offset at `end`. An empty unquoted value, or an unquoted null token, is null. Returns the next
 * offset.
 */
// @ts-ignore: decorator
@inline function putString(validity: usize, row: u32, end: usize, data: usize, off: i32, s: u32, e: u32, unquoted: u32, escapes: bool, tokens: bool = true): i32 {
  // Columns mix empty (null) values and text at random: an empty unquoted value is told without a branch.
  let nul = <u32> (s == e) & unquoted & <u32> nullEmpty;
  if (unquoted != 0 && isNullToken(s, e, tokens)) nul = 1;
  const bits = validity + (row >> 3);
  store<u8>(bits, load<u8>(bits) & ~(<u8> nul << <u8> (row & 7)));
  if (!escapes) {
    // A null's bytes are copied too, harmlessly: the next value overwrites them.
    copyBytes(data + <usize> off, input + s, e - s);
    off += <i32> select<u32>(0, e - s, nul != 0);
  } else {
    off += <i32> copyUnescaped(data + <usize> off, s, e);
  }
  store<i32>(end, off);
  return off;
}

/**
 * Whether the typed value [s, e) needs neither trimming nor a null check: not empty, no space or tab (or
 * other byte <= 0x20) at either end, and no null token of its length. Most values are such, and skip both.
 */
// @ts-ignore: decorator
@inline function plainValue(s: u32, e: u32, tokens: bool = true): bool {
  const n = e - s;
  return n != 0 && <u32> load<u8>(input + s) > 0x20 && <u32> load<u8>(input + e - 1) > 0x20 && !tokenOfLength(n, tokens);
}

/**
 * Stores the int64 or decimal [s, e) of row `row` at `dst` (a null stores 0 and clears its validity bit).
 * Returns false when the text does not conform, or when `lean` and a decimal needs the general parser.
 */
// @ts-ignore: decorator
@inline function putInteger(validity: usize, row: u32, dst: usize, s: u32, e: u32, type: i32, precision: i32, scale: i32, lean: bool, tokens: bool = true): bool {
  // The usual value first: 1..8 digits (a decimal's with its point), all of which digitsOf checks, so it has
  // no space to trim; with no null token of its length it is not null. No sign or end bytes to look at.
  const n = e - s;
  if (type == CSV_TYPE_INT64) {
    if (n - 1 < 8 && ((tokenLengths(tokens) >> n) & 1) == 0) {
      const v = digitsOf(load<u64>(input + s), n);
      if (v >= 0) {
        store<i64>(dst, v);
        return true;
      }
    }
  } else if (((tokenLengths(tokens) >> (n & 31)) & 1) == 0 && parseDecimalFast(input + s, input + e, precision, scale, dst)) {
    return true;
  }
  if (!plainValue(s, e, tokens)) {
    s = trimStart(s, e);
    e = trimEnd;
    if (isNull(s, e, tokens)) {
      clearBit(validity, row);
      store<i64>(dst, 0);
      return true;
    }
  }
  if (type == CSV_TYPE_INT64) return parseInt64(input + s, input + e, dst);
  return lean
    ? parseDecimalFast(input + s, input + e, precision, scale, dst)
    : parseDecimal(input + s, input + e, precision, scale, dst);
}

/** Stores the float64 [s, e) of row `row` at `dst`. */
// @ts-ignore: decorator
@inline function putFloat(validity: usize, row: u32, dst: usize, s: u32, e: u32): bool {
  if (!plainValue(s, e)) {
    s = trimStart(s, e);
    e = trimEnd;
    if (isNull(s, e)) {
      clearBit(validity, row);
      store<f64>(dst, 0);
      return true;
    }
  }
  if (!parseFloat64(input + s, input + e)) return false;
  store<f64>(dst, parsedFloat);
  return true;
}

/** Sets the bit of row `row` in `values` when [s, e) is true (the host cleared the bits). */
// @ts-ignore: decorator
@inline function putBoolean(validity: usize, values: usize, row: u32, s: u32, e: u32, tokens: bool = true): bool {
  // The usual spellings, `true` and `false`, told in one step, without a branch on which: no space to trim,
  // and not null without a null token of their length.
  const n = e - s;
  const word = load<u64>(input + s);
  const yes = <u32> (n == 4) & <u32> (<u32> word == 0x65757274);
  const no = <u32> (n == 5) & <u32> ((word & 0xffffffffff) == 0x65736c6166);
  if (((yes | no) & ~(tokenLengths(tokens) >> n)) != 0) {
    const p = values + (row >> 3);
    store<u8>(p, load<u8>(p) | (<u8> yes << <u8> (row & 7)));
    return true;
  }
  if (!plainValue(s, e, tokens)) {
    s = trimStart(s, e);
    e = trimEnd;
    if (isNull(s, e, tokens)) {
      clearBit(validity, row);
      return true;
    }
  }
  const v = parseBoolean(input + s, input + e);
  // Without a branch on the value: columns mix the two at random.
  const p = values + (row >> 3);
  store<u8>(p, load<u8>(p) | (<u8> (v == 1) << <u8> (row & 7)));
  return v >= 0;
}

// A date cache: the first ten bytes of the last date seen (a word and a half-word) and its days.
const CACHE_LO: usize = 0;
const CACHE_HI: usize = 8;
const CACHE_DAYS: usize = 12;
/** The date cache of stage 2, emptied for each column. */
const STAGE2_DATE_CACHE: usize = memory.data(16, 8);

// @ts-ignore: decorator
@inline function emptyDateCache(cache: usize): void {
  store<i32>(cache + CACHE_DAYS, i32.MIN_VALUE);
}

/**
 * Stores the date or timestamp [s, e) of row `row` in `values`. Consecutive rows mostly share a date, so the
 * last date's days are reused from `cache`. When `lean`, a timestamp of a shape the fast decoder does not
 * take returns false.
 */
// @ts-ignore: decorator
@inline function putTime(validity: usize, values: usize, row: u32, s: u32, e: u32, type: i32, cache: usize, lean: bool, tokens: bool = true): bool {
  const dst = type == CSV_TYPE_DATE ? values + (<usize> row << 2) : values + (<usize> row << 3);
  // The usual timestamp, `YYYY-MM-DDThh:mm:ss.fffZ`, first: a valid date and that shape leave nothing to
  // trim, and with no null token of its length it is not null. Its bytes 8..23 hold the rest of the date
  // key and the time.
  if (type == CSV_TYPE_TIMESTAMP && e - s == 24 && ((tokenLengths(tokens) >> 24) & 1) == 0) {
    const p = input + s;
    const lo = load<u64>(p);
    const t = v128.load(p, 8);
    const hi = <u16> i16x8.extract_lane_u(t, 0);
    let days = load<i32>(cache + CACHE_DAYS);
    if (lo != load<u64>(cache + CACHE_LO) || hi != load<u16>(cache + CACHE_HI)) {
      days = dateAt(p);
      store<u64>(cache + CACHE_LO, lo);
      store<u16>(cache + CACHE_HI, hi);
      store<i32>(cache + CACHE_DAYS, days);
    }
    if (days != i32.MIN_VALUE && timestamp24(t, days, dst)) return true;
  }
  if (!plainValue(s, e, tokens)) {
    s = trimStart(s, e);
    e = trimEnd;
    if (isNull(s, e, tokens)) {
      clearBit(validity, row);
      if (type == CSV_TYPE_DATE) store<i32>(dst, 0);
      else store<i64>(dst, 0);
      return true;
    }
  }
  if (e - s < 10) return false;
  const p = input + s;
  const lo = load<u64>(p);
  const hi = load<u16>(p, 8);
  let days = load<i32>(cache + CACHE_DAYS);
  if (lo != load<u64>(cache + CACHE_LO) || hi != load<u16>(cache + CACHE_HI) || days == i32.MIN_VALUE) {
    days = dateAt(p);
    store<u64>(cache + CACHE_LO, lo);
    store<u16>(cache + CACHE_HI, hi);
    store<i32>(cache + CACHE_DAYS, days);
  }
  if (days == i32.MIN_VALUE) return false;
  if (type == CSV_TYPE_DATE) {
    if (e - s != 10) return false;
    store<i32>(dst, days);
    return true;
  }
  return parseTimestampFast(p, input + e, days, dst) || (!lean && parseTimestampAfterDate(p, input + e, days, dst));
}

function decodeStrings(col: usize, field: i32, n: u32): void {
  const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
  const offsets = <usize> columnSlot(col, CSV_C_VALUES) + (<usize> rows << 2);
  const data = <usize> columnSlot(col, CSV_C_DATA) - <usize> columnSlot(col, CSV_C_DATA_BASE);
  let off = load<i32>(offsets);
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    const unquoted = <u32> ((entry & QUOTED_BIT) == 0);
    const end = offsets + ((<usize> r + 1) << 2);
    off = putString(validity, rows + r, end, data, off, <u32> entry, <u32> ((entry >> 32) & END_MASK), unquoted, (entry & ESCAPES_BIT) != 0);
  }
}

/** Room the batch's values of a string column need (an upper bound: unescaping only shrinks). */
function stringBytes(field: i32, n: u32): u64 {
  let total: u64 = 0;
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    total += <u64> ((<u32> ((entry >> 32) & END_MASK)) - <u32> entry);
  }
  return total;
}

function decodeInt64s(col: usize, field: i32, n: u32, type: i32): void {
  const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
  const values = <usize> columnSlot(col, CSV_C_VALUES) + (<usize> rows << 3);
  const precision = columnSlot(col, CSV_C_PRECISION);
  const scale = columnSlot(col, CSV_C_SCALE);
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    const dst = values + (<usize> r << 3);
    if (!putInteger(validity, rows + r, dst, <u32> entry, <u32> ((entry >> 32) & END_MASK), type, precision, scale, false)) markBad(r, field);
  }
}

function decodeFloat64s(col: usize, field: i32, n: u32): void {
  const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
  const values = <usize> columnSlot(col, CSV_C_VALUES) + (<usize> rows << 3);
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    if (!putFloat(validity, rows + r, values + (<usize> r << 3), <u32> entry, <u32> ((entry >> 32) & END_MASK))) markBad(r, field);
  }
}

function decodeBooleans(col: usize, field: i32, n: u32): void {
  const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
  const values = <usize> columnSlot(col, CSV_C_VALUES);
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    if (!putBoolean(validity, values, rows + r, <u32> entry, <u32> ((entry >> 32) & END_MASK))) markBad(r, field);
  }
}

function decodeTimes(col: usize, field: i32, n: u32, type: i32): void {
  const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
  const values = <usize> columnSlot(col, CSV_C_VALUES);
  emptyDateCache(STAGE2_DATE_CACHE);
  for (let r: u32 = 0; r < n; r++) {
    const entry = entryAt(field, r);
    if (!putTime(validity, values, rows + r, <u32> entry, <u32> ((entry >> 32) & END_MASK), type, STAGE2_DATE_CACHE, false)) markBad(r, field);
  }
}

/** Moves the kept rows of a batch (those with no type error) together, in every column and in `lines`. */
function squeeze(n: u32): u32 {
  let kept: u32 = 0;
  for (let r: u32 = 0; r < n; r++) {
    if (load<i32>(BAD_FIELD + (<usize> r << 2)) < 0) kept++;
  }
  for (let c: i32 = 0; c < columnCount; c++) {
    const col = columns + (<usize> (c * CSV_COLUMN_SLOTS) << 2);
    const type = columnSlot(col, CSV_C_TYPE);
    const validity = <usize> columnSlot(col, CSV_C_VALIDITY);
    const values = <usize> columnSlot(col, CSV_C_VALUES);
    const data = <usize> columnSlot(col, CSV_C_DATA) - <usize> columnSlot(col, CSV_C_DATA_BASE);
    let k: u32 = 0;
    let srcStart = type == CSV_TYPE_STRING ? load<i32>(values + (<usize> rows << 2)) : 0;
    let dstEnd = srcStart;
    for (let r: u32 = 0; r < n; r++) {
      const from = rows + r;
      let srcEnd: i32 = 0;
      if (type == CSV_TYPE_STRING) srcEnd = load<i32>(values + ((<usize> from + 1) << 2));
      if (load<i32>(BAD_FIELD + (<usize> r << 2)) < 0) {
        const to = rows + k;
        if (getBit(validity, from)) setBit(validity, to);
        else clearBit(validity, to);
        if (type == CSV_TYPE_STRING) {
          const len = srcEnd - srcStart;
          memory.copy(data + <usize> dstEnd, data + <usize> srcStart, <usize> len);
          dstEnd += len;
          store<i32>(values + ((<usize> to + 1) << 2), dstEnd);
        } else if (type == CSV_TYPE_BOOLEAN) {
          if (getBit(values, from)) setBit(values, to);
          else clearBit(values, to);
        } else if (type == CSV_TYPE_DATE) {
          store<i32>(values + (<usize> to << 2), load<i32>(values + (<usize> from << 2)));
        } else {
          store<i64>(values + (<usize> to << 3), load<i64>(values + (<usize> from << 3)));
        }
        k++;
      }
      srcStart = srcEnd;
    }
    // The vacated rows go back to what the host filled in, for the next batch.
    for (let to = rows + kept; to < rows + n; to++) {
      setBit(validity, to);
      if (type == CSV_TYPE_BOOLEAN) clearBit(values, to);
    }
  }
  let k: u32 = 0;
  for (let r: u32 = 0; r < n; r++) {
    if (load<i32>(BAD_FIELD + (<usize> r << 2)) < 0) {
      store<i32>(linesPtr + ((<usize> rows + k) << 2), load<i32>(linesPtr + ((<usize> rows + r) << 2)));
      k++;
    }
  }
  return kept;
}

/**
 * Stage 2 for the `batched` rows of the batch, whose bytes span `span` input bytes: decodes every column,
 * rejects rows with type errors, and adds the rest to the output. Returns false, having changed nothing,
 * when a string column's data region cannot take the batch (`fullColumn`, `fullNeed` tell which and how
 * much).
 */
function flushBatch(span: u32): bool {
  const n = batched;
  if (n == 0) return true;
  for (let c: i32 = 0; c < columnCount; c++) {
    const col = columns + (<usize> (c * CSV_COLUMN_SLOTS) << 2);
    if (columnSlot(col, CSV_C_TYPE) != CSV_TYPE_STRING) continue;
    const used = <u64> (load<i32>(<usize> columnSlot(col, CSV_C_VALUES) + (<usize> rows << 2)) - columnSlot(col, CSV_C_DATA_BASE));
    const capacity = <u64> <u32> columnSlot(col, CSV_C_DATA_CAPACITY);
    // The batch's rows span `span` input bytes, which bounds any one column's text: usually enough.
    if (used + <u64> span <= capacity) continue;
    const need = stringBytes(load<i32>(columnFields + (<usize> c << 2)), n);
    if (used + need > capacity) {
      fullColumn = c;
      fullNeed = <u32> min(need, <u64> 0x7fffffff);
      return false;
    }
  }
  memory.fill(BAD_FIELD, 0xff, <usize> n << 2);
  for (let c: i32 = 0; c < columnCount; c++) {
    const col = columns + (<usize> (c * CSV_COLUMN_SLOTS) << 2);
    const field = load<i32>(columnFields + (<usize> c << 2));
    const type = columnSlot(col, CSV_C_TYPE);
    if (type == CSV_TYPE_STRING) decodeStrings(col, field, n);
    else if (type == CSV_TYPE_INT64 || type == CSV_TYPE_DECIMAL) decodeInt64s(col, field, n, type);
    else if (type == CSV_TYPE_FLOAT64) decodeFloat64s(col, field, n);
    else if (type == CSV_TYPE_BOOLEAN) decodeBooleans(col, field, n);
    else decodeTimes(col, field, n, type);
  }
  let bad = false;
  for (let r: u32 = 0; r < n; r++) {
    const field = load<i32>(BAD_FIELD + (<usize> r << 2));
    if (field >= 0) {
      bad = true;
      const entry = entryAt(field, r);
      addReject(load<i32>(linesPtr + ((<usize> rows + <usize> r) << 2)), field, CSV_RULE_TYPE, <u32> entry, <u32> ((entry >> 32) & END_MASK));
    }
  }
  rows += bad ? squeeze(n) : n;
  batched = 0;
  return true;
}

/** Fields mode: the recorded fields of the row become the entries of string column 0. */
function flushFields(count: i32): void {
  const n = <u32> min(count, <i32> rowCapacity);
  const offsets = <usize> columnSlot(columns, CSV_C_VALUES);
  const data = <usize> columnSlot(columns, CSV_C_DATA);
  let off: i32 = 0;
  store<i32>(offsets, 0);
  for (let f: u32 = 0; f < n; f++) {
    const entry = load<u64>(index + (<usize> f << 3));
    const s = <u32> entry;
    const e = <u32> ((entry >> 32) & END_MASK);
    if ((entry & ESCAPES_BIT) == 0) {
      copyBytes(data + <usize> off, input + s, e - s);
      off += <i32> (e - s);
    } else {
      off += <i32> copyUnescaped(data + <usize> off, s, e);
    }
    store<i32>(offsets + ((<usize> f + 1) << 2), off);
  }
}

// ---------------------------------------------------------------------------------------------------
// The fast path: a row in one pass.
//
// Most rows of most files are plain: every field ends at the next delimiter, a quoted field closes before
// its delimiter, no CR inside quotes, ASCII or valid UTF-8, the right field count. The fast path reads such a
// row field after field: the field's end is the next bit of a 64-byte window's mask of special bytes (a quoted
// field's closing quote is found with 16-byte compares), and the value is decoded and stored right away, while
// its bytes are in L1. Nothing goes through the field index. Any row it does not take whole (a type error, a
// ragged row, a blank line, a bare CR, a row over the field size limit, invalid UTF-8, no room left, the end
// of the input) it undoes and leaves to the two stages, which judge it by the full rules and
// reject it if it must be; the fast path then resumes after it. Both paths decode values with the same
// `put*` functions, so the output does not depend on which path read a row. A file the fast path keeps
// giving up on (every field quoted with escapes, say) switches it off for the rest of the call.

/** Bytes of a field's plan. */
const PLAN_BYTES: usize = 48;
// Plan slots: the column's type (-1: no column reads the field), then its buffers and decimal shape.
const P_TYPE: usize = 0;
const P_VALIDITY: usize = 4;
const P_VALUES: usize = 8;
/** String columns: the data region minus its base offset (offsets index it directly). */
const P_DATA: usize = 12;
/** String columns: the largest end offset the data region holds. */
const P_LIMIT: usize = 16;
const P_PRECISION: usize = 20;
const P_SCALE: usize = 24;
/** Date and timestamp columns: the column's date cache (16 bytes). */
const P_DATE_CACHE: usize = 32;
/** Widest row the fast path takes; wider ones go through the two stages. */
const FAST_MAX_FIELDS: i32 = 256;
/** Per field of a row, in field order: what the fast path does with it. */
const FAST_PLAN: usize = memory.data(FAST_MAX_FIELDS * <i32> PLAN_BYTES, 16);
/** Rows given up before the fast path may be switched off, and the share of rows that switches it off. */
const FAST_GIVE_UPS_MIN: u32 = 16;
const FAST_GIVE_UP_SHARE: u32 = 16;
/**
 * Rows the lean variant of the fast path may give up in a stream before the full one takes the rest. A row
 * given up costs a few rows' time, so this many cost nothing in any stream, while a stream whose rows often
 * need the full variant (non-ASCII text, decimals with a sign) switches within its first chunk.
 */
const LEAN_GIVE_UPS_MAX: u32 = 64;

let fastOn: bool = false;
/** Set when the fast path stopped because the row buffers are full. */
let fastFull: bool = false;
let fastRowsTaken: u32 = 0;
let fastGiveUps: u32 = 0;
/** Whether the fast path runs its lean variant (see {@link fastRows}). */
let fastLean: bool = false;
/** `CSV_FLAG_FULL_FAST`. */
let fullFast: bool = false;
let leanGiveUps: u32 = 0;
/** The quote byte for vector compares: the delimiter again when there is no quoting (never a quote then). */
let quoteByte: u32 = 0;
/**
 * The fast path's end of the last window (or 16 bytes of a quoted field) read with a byte >= 0x80: a row
 * that starts before it may hold one. One value for this, not a flag per window and one per row, and a
 * global, not a local: the field loop keeps so many values live that each one more costs stack traffic on
 * every field, while this one is written only when a window holds such a byte and read once per row.
 */
let highEnd: u32 = 0;

/** Fills the plan and sets `fastLean`; false when the fast path cannot serve this call's configuration. */
function planFastPath(): bool {
  if (fieldsMode || fieldCount > FAST_MAX_FIELDS) return false;
  fastLean = !fullFast && leanGiveUps < LEAN_GIVE_UPS_MAX;
  for (let f: i32 = 0; f < fieldCount; f++) store<i32>(FAST_PLAN + <usize> f * PLAN_BYTES + P_TYPE, -1);
  for (let c: i32 = 0; c < columnCount; c++) {
    const field = load<i32>(columnFields + (<usize> c << 2));
    if (field < 0 || field >= fieldCount) return false;
    const plan = FAST_PLAN + <usize> field * PLAN_BYTES;
    // Two columns reading one field: left to stage 2.
    if (load<i32>(plan + P_TYPE) >= 0) return false;
    const col = columns + (<usize> (c * CSV_COLUMN_SLOTS) << 2);
    const type = columnSlot(col, CSV_C_TYPE);
    // Every float needs parseFloat64's call: the lean variant would give up every row.
    if (type == CSV_TYPE_FLOAT64) fastLean = false;
    store<i32>(plan + P_TYPE, type);
    store<i32>(plan + P_VALIDITY, columnSlot(col, CSV_C_VALIDITY));
    store<i32>(plan + P_VALUES, columnSlot(col, CSV_C_VALUES));
    store<i32>(plan + P_DATA, columnSlot(col, CSV_C_DATA) - columnSlot(col, CSV_C_DATA_BASE));
    store<i32>(plan + P_LIMIT, columnSlot(col, CSV_C_DATA_BASE) + columnSlot(col, CSV_C_DATA_CAPACITY));
    store<i32>(plan + P_PRECISION, columnSlot(col, CSV_C_PRECISION));
    store<i32>(plan + P_SCALE, columnSlot(col, CSV_C_SCALE));
    emptyDateCache(plan + P_DATE_CACHE);
  }
  return true;
}

/** Puts back what a given-up row wrote into the bits of row `rows` (values and offsets are overwritten). */
function undoFastRow(): void {
  for (let f: i32 = 0; f < fieldCount; f++) {
    const plan = FAST_PLAN + <usize> f * PLAN_BYTES;
    const type = load<i32>(plan + P_TYPE);
    if (type < 0) continue;
    setBit(<usize> load<i32>(plan + P_VALIDITY), rows);
    if (type == CSV_TYPE_BOOLEAN) clearBit(<usize> load<i32>(plan + P_VALUES), rows);
  }
}

/**
 * The special bytes (delimiter, quote, LF, CR) among the 64 bytes at `input + at`, as bits. When the four
 * have distinct low nibbles (`byNibble`; the usual delimiters and quotes do), one table lookup per 16 bytes
 * tells them: a byte is special when it equals the `table` entry of its low nibble (the other entries
 * cannot equal a byte with that nibble). Else each is compared for.
 */
// @ts-ignore: decorator
@inline function specialsAt(at: u32, len: u32, byNibble: bool, table: v128, vDelim: v128, vQuote: v128, vLf: v128, vCr: v128): u64 {
  const p = input + at;
  const v0 = v128.load(p);
  const v1 = v128.load(p, 16);
  const v2 = v128.load(p, 32);
  const v3 = v128.load(p, 48);
  let m0: i32, m1: i32, m2: i32, m3: i32;
  if (byNibble) {
    const low = i8x16.splat(0x0f);
    m0 = i8x16.bitmask(i8x16.eq(i8x16.swizzle(table, v128.and(v0, low)), v0));
    m1 = i8x16.bitmask(i8x16.eq(i8x16.swizzle(table, v128.and(v1, low)), v1));
    m2 = i8x16.bitmask(i8x16.eq(i8x16.swizzle(table, v128.and(v2, low)), v2));
    m3 = i8x16.bitmask(i8x16.eq(i8x16.swizzle(table, v128.and(v3, low)), v3));
  } else {
    m0 = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v0, vDelim), i8x16.eq(v0, vQuote)), v128.or(i8x16.eq(v0, vLf), i8x16.eq(v0, vCr))));
    m1 = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v1, vDelim), i8x16.eq(v1, vQuote)), v128.or(i8x16.eq(v1, vLf), i8x16.eq(v1, vCr))));
    m2 = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v2, vDelim), i8x16.eq(v2, vQuote)), v128.or(i8x16.eq(v2, vLf), i8x16.eq(v2, vCr))));
    m3 = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v3, vDelim), i8x16.eq(v3, vQuote)), v128.or(i8x16.eq(v3, vLf), i8x16.eq(v3, vCr))));
  }
  const m = <u64> <u32> m0 | (<u64> <u32> m1 << 16) | (<u64> <u32> m2 << 32) | (<u64> <u32> m3 << 48);
  // None past the input's end: a field end taken from the mask is then inside the input without a check.
  const room = len - at;
  return select<u64>(m, m & ((<u64> 1 << <u64> room) - 1), room >= 64);
}

/** {@link specialsAt}'s table: entry i is the special byte whose low nibble is i, else one whose is not. */
const NIBBLE_TABLE: usize = memory.data(16, 16);

/** Whether one of the 64 bytes at `input + at` is >= 0x80. */
// @ts-ignore: decorator
@inline function highAt(at: u32): bool {
  const p = input + at;
  return i8x16.bitmask(v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)))) != 0;
}

/**
 * Takes rows at `pos` with the fast path until one it gives up, the end of the input, or full row buffers
 * (`fastFull`). Returns where it stopped: the start of the row it did not take.
 *
 * Its field loop is built twice. Any call in a loop, however rarely taken, makes the engine keep the loop's
 * values on the stack around it, to be stored and loaded again on every field; so the lean variant has none:
 * it gives a row up where the full one would call a general decoder or the UTF-8 check, and the two stages,
 * which decode with the same functions, read it. After `LEAN_GIVE_UPS_MAX` such rows in a stream the full
 * variant takes the rest (the lean one made the orders kernel ~4 % faster: A/B medians 0.951, 0.968).
 *
 * The lean one is built once more for calls without a null token besides the empty value (the default of
 * declared columns): every value's test for a token of its length, a global kept on the stack, a shift and a
 * branch, is then gone (the orders kernel ~6 % faster: A/B medians 0.936, 0.939, 0.920; 8 KiB of code).
 */
function fastRows(pos: u32, len: u32): u32 {
  if (!fastLean) return fastRowsAll(pos, len);
  return nullLengths == 0 ? fastRowsPlain(pos, len) : fastRowsLean(pos, len);
}

function fastRowsLean(pos: u32, len: u32): u32 {
  return fastRowsOf(pos, len, true);
}

function fastRowsPlain(pos: u32, len: u32): u32 {
  return fastRowsOf(pos, len, true, false);
}

function fastRowsAll(pos: u32, len: u32): u32 {
  return fastRowsOf(pos, len, false);
}

/**
 * {@link fastRows}, lean or full; without `tokens`, for calls whose `nullLengths` is 0.
 *
 * Field ends come from a window of 64 input bytes whose special bytes are bits, consumed lowest first, so
 * finding the next field's end does not wait for the last field's decoding (a 16-byte compare from each
 * field's start would chain every field behind the one before). A quoted field is read with 16-byte compares
 * for its closing quote, and the window starts over after it.
 */
// @ts-ignore: decorator
@inline function fastRowsOf(pos: u32, len: u32, lean: bool, tokens: bool = true): u32 {
  const vDelim = i8x16.splat(<i8> delimiter);
  const vQuote = i8x16.splat(<i8> quoteByte);
  const vLf = i8x16.splat(<i8> LF);
  const vCr = i8x16.splat(<i8> CR);
  // The table is built for each call here, not once in planFastPath: read from a global, the same flag made
  // the loop 3-7 % slower (measured); twenty stores per call are nothing next to that.
  for (let i: u32 = 0; i < 16; i++) store<u8>(NIBBLE_TABLE + i, <u8> (i ^ 1));
  store<u8>(NIBBLE_TABLE + (LF & 15), <u8> LF);
  store<u8>(NIBBLE_TABLE + (CR & 15), <u8> CR);
  store<u8>(NIBBLE_TABLE + (delimiter & 15), <u8> delimiter);
  store<u8>(NIBBLE_TABLE + (quoteByte & 15), <u8> quoteByte);
  // Distinct nibbles: each special is still its entry (the quote byte is the delimiter without quoting).
  const byNibble = <u32> load<u8>(NIBBLE_TABLE + (LF & 15)) == LF && <u32> load<u8>(NIBBLE_TABLE + (CR & 15)) == CR &&
    <u32> load<u8>(NIBBLE_TABLE + (delimiter & 15)) == delimiter;
  const table = v128.load(NIBBLE_TABLE);
  const first = rows;
  const maxSpan = min(maxRow, maxField);
  // The delimiter and quote compared on every field, in locals: read from their globals each time, the loop
  // was about 1 % slower (measured).
  const delim = delimiter;
  const quoteAt = quote;
  const lastPlan = FAST_PLAN + <usize> (fieldCount - 1) * PLAN_BYTES;
  let p = pos;
  // The window: special bytes after the read position among the 64 bytes at `base`.
  let base = pos;
  let specials = specialsAt(base, len, byNibble, table, vDelim, vQuote, vLf, vCr);
  highEnd = highAt(base) ? base + 64 : 0;
  while (p < len) {
    if (rows >= rowCapacity) {
      fastFull = true;
      break;
    }
    const row = rows;
    // The row's line, stored now: the line breaks inside quotes then go straight to `line`, not to one more
    // value live across the field loop. A row given up puts `line` back from here.
    store<i32>(linesPtr + (<usize> row << 2), line);
    let plan = FAST_PLAN;
    let q = p;
    let next: u32 = 0;
    while (true) {
      let s = q;
      // The byte that ends the field: a delimiter, or the row's terminator.
      let c: u32 = 0;
      let e: u32 = 0;
      let unquoted: u32 = 1;
      let escapes = false;
      if (<u32> load<u8>(input + q) == quoteAt) {
        unquoted = 0;
        s = q + 1;
        let k = s;
        while (true) {
          if (k >= len) break;
          const v = v128.load(input + k);
          const quotes = i8x16.bitmask(i8x16.eq(v, vQuote));
          // The lanes before the first quote (all of them when there is none).
          const before = (quotes & (0 - quotes)) - 1;
          if ((i8x16.bitmask(v) & before) != 0) highEnd = k + 16;
          line += popcnt<i32>(i8x16.bitmask(i8x16.eq(v, vLf)) & before);
          if ((i8x16.bitmask(i8x16.eq(v, vCr)) & before) != 0) break;
          if (quotes == 0) {
            k += 16;
            continue;
          }
          const close = k + <u32> ctz<i32>(quotes);
          if (close + 1 >= len) break;
          if (<u32> load<u8>(input + close + 1) == quote) {
            escapes = true;
            k = close + 2;
            continue;
          }
          e = close;
          break;
        }
        // No closing quote (or a CR inside quotes, or the end of the input first): not taken.
        if (e == 0) break;
        q = e + 1;
        c = <u32> load<u8>(input + q);
        // The window starts over at the byte after the closing quote, which ends the field.
        base = q;
        specials = specialsAt(base, len, byNibble, table, vDelim, vQuote, vLf, vCr) & ~(<u64> 1);
        if (highAt(base)) highEnd = base + 64;
      } else {
        while (specials == 0) {
          base += 64;
          if (base >= len) break;
          specials = specialsAt(base, len, byNibble, table, vDelim, vQuote, vLf, vCr);
          if (highAt(base)) highEnd = base + 64;
        }
        if (specials == 0) break;
        e = base + <u32> ctz<u64>(specials);
        specials &= specials - 1;
        q = e;
        c = <u32> load<u8>(input + q);
        // A quote inside an unquoted field is an ordinary byte: rare, left to the two stages.
        if (c == quoteAt) break;
      }
      // The plan's slots in pairs: one load for the type and validity, one for the value buffers.
      const head = load<u64>(plan + P_TYPE);
      const validity = <usize> <u32> (head >> 32);
      const buffers = load<u64>(plan + P_VALUES);
      const values = <usize> <u32> buffers;
      let ok = true;
      // One jump on the field's type (-1: no column reads it).
      switch (<i32> head) {
        case CSV_TYPE_STRING: {
          const off = load<i32>(values + (<usize> row << 2));
          // Room for the value as written (unescaping only shrinks it); else stage 2 reports the region full.
          ok = <i64> off + <i64> (e - s) <= <i64> load<i32>(plan + P_LIMIT);
          if (ok) putString(validity, row, values + ((<usize> row + 1) << 2), <usize> <u32> (buffers >> 32), off, s, e, unquoted, escapes, tokens);
          break;
        }
        case CSV_TYPE_INT64: {
          ok = putInteger(validity, row, values + (<usize> row << 3), s, e, CSV_TYPE_INT64, 0, 0, lean, tokens);
          break;
        }
        case CSV_TYPE_DECIMAL: {
          const shape = load<u64>(plan + P_PRECISION);
          ok = putInteger(validity, row, values + (<usize> row << 3), s, e, CSV_TYPE_DECIMAL, <i32> shape, <i32> (shape >> 32), lean, tokens);
          break;
        }
        case CSV_TYPE_FLOAT64: {
          // Never lean: a float needs parseFloat64's call.
          ok = !lean && putFloat(validity, row, values + (<usize> row << 3), s, e);
          break;
        }
        case CSV_TYPE_BOOLEAN: {
          ok = putBoolean(validity, values, row, s, e, tokens);
          break;
        }
        case CSV_TYPE_DATE: {
          ok = putTime(validity, values, row, s, e, CSV_TYPE_DATE, plan + P_DATE_CACHE, lean, tokens);
          break;
        }
        case CSV_TYPE_TIMESTAMP: {
          ok = putTime(validity, values, row, s, e, CSV_TYPE_TIMESTAMP, plan + P_DATE_CACHE, lean, tokens);
          break;
        }
      }
      if (!ok) break;
      if (plan == lastPlan) {
        // The row's terminator: LF or CRLF (a bare CR may be half of a CRLF split across chunks).
        if (c == LF) {
          next = q + 1;
        } else if (c == CR && q + 1 < len && <u32> load<u8>(input + q + 1) == LF) {
          next = q + 2;
          // The LF is the window's next special, or the first byte after the window.
          if (q + 1 - base < 64) {
            specials &= specials - 1;
          } else {
            base = next;
            specials = specialsAt(base, len, byNibble, table, vDelim, vQuote, vLf, vCr);
            if (highAt(base)) highEnd = base + 64;
          }
        }
        break;
      }
      if (c != delim) break;
      q++;
      plan += PLAN_BYTES;
    }
    // A blank line is not a row. A row longer than a field may be is left to the two stages, which
    // check each field's size.
    if (next == 0 || q == p || q - p > maxSpan) break;
    if (highEnd > p) {
      if (lean) break;
      validateUtf8(input, p, q, q, p);
      if (utf8BadMask != 0) break;
    }
    rows = row + 1;
    line++;
    lineStart = <i32> next;
    p = next;
  }
  if (p < len && !fastFull) {
    undoFastRow();
    line = load<i32>(linesPtr + (<usize> rows << 2));
    if (lean) {
      // Not counted below: the full variant may take such rows.
      leanGiveUps++;
      if (leanGiveUps >= LEAN_GIVE_UPS_MAX) fastLean = false;
    } else {
      fastGiveUps++;
      if (fastGiveUps >= FAST_GIVE_UPS_MIN && fastGiveUps * FAST_GIVE_UP_SHARE > fastRowsTaken + rows - first) {
        fastOn = false;
      }
    }
  }
  fastRowsTaken += rows - first;
  return p;
}

/** Stores the carried line state for a call that consumed `consumed` bytes, and the outputs. */
function finishCall(state: usize, consumed: u32, stop: i32): void {
  setSlot(state, CSV_S_CONSUMED, <i32> consumed);
  setSlot(state, CSV_S_STOP, stop);
  setSlot(state, CSV_S_LINE, line);
  setSlot(state, CSV_S_LINE_START, lineStart - <i32> consumed);
  setSlot(state, CSV_S_PENDING_CR, pendingCr ? 1 : 0);
  setSlot(state, CSV_S_ROWS, <i32> rows);
  setSlot(state, CSV_S_REJECTS, <i32> rejects);
  setSlot(state, CSV_S_FULL_COLUMN, fullColumn);
  setSlot(state, CSV_S_FULL_NEED, <i32> fullNeed);
  setSlot(state, CSV_S_LEAN_GIVE_UPS, <i32> leanGiveUps);
}

// Where the current batch started, to give it back whole when stage 2 finds no room for it.
let batchPos: u32 = 0;
let batchLine: i32 = 0;
let batchLineStart: i32 = 0;
let batchRejects: u32 = 0;
let batchCr: bool = false;

// @ts-ignore: decorator
@inline function markBatch(pos: u32, cr: bool): void {
  batchPos = pos;
  batchLine = line;
  batchLineStart = lineStart;
  batchRejects = rejects;
  batchCr = cr;
}

/**
 * Stops before the row that starts at `rowStart` (line `rowLine`) because the buffers may not hold it:
 * the rows of the batch before it go through stage 2, and the next call starts with that row.
 */
function rowsFull(state: usize, rowStart: u32, rowLine: i32): i32 {
  if (!flushBatch(rowStart - batchPos)) return rollBack(state);
  line = rowLine;
  lineStart = <i32> rowStart;
  pendingCr = false;
  finishCall(state, rowStart, CSV_STOP_ROWS_FULL);
  return STATUS_OK;
}

/** Stops at `at` because the fast path found the row buffers full (no batch is pending then). */
function fastRowsFull(state: usize, at: u32): i32 {
  pendingCr = false;
  finishCall(state, at, CSV_STOP_ROWS_FULL);
  return STATUS_OK;
}

/** Gives the current batch back: the next call starts where it started. */
function rollBack(state: usize): i32 {
  batched = 0;
  rejects = batchRejects;
  line = batchLine;
  lineStart = batchLineStart;
  pendingCr = batchCr && batchPos == <u32> slot(state, CSV_S_INPUT_LEN);
  finishCall(state, batchPos, CSV_STOP_DATA_FULL);
  return STATUS_OK;
}

/**
 * Parses the input described by the state block at `state` (`CSV_STATE_SLOTS` i32, 4-byte aligned):
 * whole rows go to the column buffers or to the rejects, and the call reports how far it got in
 * `CSV_S_CONSUMED` and why it returned in `CSV_S_STOP`. Returns `STATUS_OK`,
 * `STATUS_UNTERMINATED_QUOTE` (final input ended inside quotes; position in the error slots) or a
 * negative status for a bad state block.
 */
export function csv_parse(state: usize): i32 {
  if (state == 0 || (state & 3) != 0) return STATUS_BAD_ARGUMENT;
  if (slot(state, CSV_S_ABI) != CSV_ABI_VERSION) return STATUS_BAD_STATE;
  delimiter = <u32> slot(state, CSV_S_DELIMITER);
  quote = <u32> slot(state, CSV_S_QUOTE);
  if (delimiter > 255 || delimiter == CR || delimiter == LF || delimiter == quote) return STATUS_BAD_ARGUMENT;
  if (quote == CR || quote == LF) return STATUS_BAD_ARGUMENT;
  // Without quoting, compare against the delimiter twice: the quote branch is then never taken.
  quoteByte = quote > 255 ? delimiter : quote;
  const flags = slot(state, CSV_S_FLAGS);
  nullEmpty = (flags & CSV_FLAG_NULL_EMPTY) != 0;
  fieldsMode = (flags & CSV_FLAG_FIELDS_MODE) != 0;
  fullFast = (flags & CSV_FLAG_FULL_FAST) != 0;
  maxField = <u32> slot(state, CSV_S_MAX_FIELD);
  maxRow = <u32> slot(state, CSV_S_MAX_ROW);
  fieldCount = slot(state, CSV_S_FIELDS);
  columnCount = slot(state, CSV_S_COLUMNS);
  columns = <usize> slot(state, CSV_S_COLUMNS_PTR);
  columnFields = <usize> slot(state, CSV_S_COLUMN_FIELDS_PTR);
  nullTokens = <usize> slot(state, CSV_S_NULLS_PTR);
  nullTokensLen = <u32> slot(state, CSV_S_NULLS_LEN);
  nullLengths = <u32> slot(state, CSV_S_NULLS_LENGTHS);
  input = <usize> slot(state, CSV_S_INPUT_PTR);
  const len = <u32> slot(state, CSV_S_INPUT_LEN);
  const final = slot(state, CSV_S_FINAL) != 0;
  rowCapacity = <u32> slot(state, CSV_S_ROW_CAPACITY);
  rows = <u32> slot(state, CSV_S_ROWS);
  linesPtr = <usize> slot(state, CSV_S_LINES_PTR);
  rejectsPtr = <usize> slot(state, CSV_S_REJECTS_PTR);
  rejectCapacity = <u32> slot(state, CSV_S_REJECT_CAPACITY);
  rejects = <u32> slot(state, CSV_S_REJECTS);
  index = <usize> slot(state, CSV_S_INDEX_PTR);
  batchRows = fieldsMode ? 1 : <u32> slot(state, CSV_S_BATCH_ROWS);
  storedFields = fieldsMode ? <i32> rowCapacity : fieldCount;
  batched = 0;
  fullColumn = -1;
  fullNeed = 0;
  line = slot(state, CSV_S_LINE);
  lineStart = slot(state, CSV_S_LINE_START);
  pendingCr = slot(state, CSV_S_PENDING_CR) != 0;
  leanGiveUps = <u32> slot(state, CSV_S_LEAN_GIVE_UPS);
  if (input == 0 || index == 0 || rows > rowCapacity || batchRows == 0 || batchRows > <u32> CSV_MAX_BATCH_ROWS) {
    return STATUS_BAD_STATE;
  }
  if (!fieldsMode && (fieldCount <= 0 || columnCount < 0)) return STATUS_BAD_STATE;
  if (len == 0 && !final) {
    // Nothing to read; in particular a pending CR stays pending.
    finishCall(state, 0, CSV_STOP_END);
    return STATUS_OK;
  }

  let pos: u32 = 0;
  if (pendingCr) {
    pendingCr = false;
    // The CR already counted as the line break; an LF right after it belongs to the same break.
    if (len > 0 && <u32> load<u8>(input) == LF) {
      pos = 1;
      lineStart = 1;
    }
  }
  if (slot(state, CSV_S_STARTED) == 0) {
    const avail = len - pos;
    const b0 = avail > 0 ? <u32> load<u8>(input + pos) : 0;
    const b1 = avail > 1 ? <u32> load<u8>(input + pos + 1) : 0;
    const b2 = avail > 2 ? <u32> load<u8>(input + pos + 2) : 0;
    // A byte-order mark may still be arriving: wait for three bytes unless the input is final.
    const prefix = avail == 0 || (b0 == 0xef && (avail == 1 || (b1 == 0xbb && avail == 2)));
    if (prefix && !final) {
      finishCall(state, pos, CSV_STOP_END);
      return STATUS_OK;
    }
    if (avail >= 3 && b0 == 0xef && b1 == 0xbb && b2 == 0xbf) {
      pos += 3;
      lineStart = <i32> pos;
    }
    setSlot(state, CSV_S_STARTED, 1);
  }
  if (slot(state, CSV_S_SKIPPING) != 0) {
    const next = skipRow(state, pos, len, final);
    if (next == -2) {
      finishCall(state, len, CSV_STOP_END);
      return STATUS_UNTERMINATED_QUOTE;
    }
    if (next < 0) {
      finishCall(state, len, CSV_STOP_END);
      return STATUS_OK;
    }
    pos = <u32> next;
  }

  fastOn = (flags & CSV_FLAG_TWO_STAGES) == 0 && planFastPath();
  fastFull = false;
  fastRowsTaken = 0;
  fastGiveUps = 0;
  if (fastOn && pos < len) {
    const next = fastRows(pos, len);
    if (next != pos) {
      pos = next;
      pendingCr = false;
    }
    if (fastFull) return fastRowsFull(state, pos);
  }

  const vDelim = i8x16.splat(<i8> delimiter);
  const vQuote = i8x16.splat(<i8> quoteByte);
  const vLf = i8x16.splat(<i8> LF);
  const vCr = i8x16.splat(<i8> CR);

  let rowStart = pos;
  let rowLine = line;
  let fieldStart = pos;
  let field: i32 = 0;
  let qs = Q_UNQUOTED;
  let cs: u32 = 0;
  let ce: u32 = 0;
  let escapes = false;
  let quoteLine: i32 = 0;
  let quoteColumn: i32 = 0;
  let rowBadUtf8 = false;
  let validated = pos;
  let skipNext: u64 = 0;
  let needMore = false;
  let fieldsDone = false;
  let fieldsEnd: u32 = 0;
  // A row skipped just above may have ended in a CR that was the last byte.
  let crAtEnd = pendingCr;
  errRule = 0;
  markBatch(pos, crAtEnd);
  // Index slot of the current field; a field is a column of `batchRows` entries further.
  let entry = rowEntry();
  const fieldStride = <usize> batchRows << 3;

  let b = pos;
  let halt = false;
  // Where the block loop starts over after the fast path took rows (0: it goes on).
  let restart: u32 = 0;
  while (b < len) {
    const p = input + b;
    const v0 = v128.load(p);
    const v1 = v128.load(p, 16);
    const v2 = v128.load(p, 32);
    const v3 = v128.load(p, 48);
    const d0 = i8x16.eq(v0, vDelim);
    const d1 = i8x16.eq(v1, vDelim);
    const d2 = i8x16.eq(v2, vDelim);
    const d3 = i8x16.eq(v3, vDelim);
    const m0 = i8x16.bitmask(v128.or(v128.or(d0, i8x16.eq(v0, vQuote)), v128.or(i8x16.eq(v0, vLf), i8x16.eq(v0, vCr))));
    const m1 = i8x16.bitmask(v128.or(v128.or(d1, i8x16.eq(v1, vQuote)), v128.or(i8x16.eq(v1, vLf), i8x16.eq(v1, vCr))));
    const m2 = i8x16.bitmask(v128.or(v128.or(d2, i8x16.eq(v2, vQuote)), v128.or(i8x16.eq(v2, vLf), i8x16.eq(v2, vCr))));
    const m3 = i8x16.bitmask(v128.or(v128.or(d3, i8x16.eq(v3, vQuote)), v128.or(i8x16.eq(v3, vLf), i8x16.eq(v3, vCr))));
    let mask = <u64> <u32> m0 | (<u64> <u32> m1 << 16) | (<u64> <u32> m2 << 32) | (<u64> <u32> m3 << 48);
    // Delimiters, the common special byte: told from the mask, without reading the byte again.
    const delims = <u64> <u32> i8x16.bitmask(d0) | (<u64> <u32> i8x16.bitmask(d1) << 16) |
      (<u64> <u32> i8x16.bitmask(d2) << 32) | (<u64> <u32> i8x16.bitmask(d3) << 48);
    const rest = len - b;
    if (rest < 64) mask &= (<u64> 1 << <u64> rest) - 1;
    mask &= ~skipNext;
    skipNext = 0;
    if (qs == Q_IN) mask ^= leadingDelimiters(mask, delims);
    let bad: u64 = 0;
    if (i8x16.bitmask(v128.or(v128.or(v0, v1), v128.or(v2, v3))) != 0) {
      const from = max(validated, b);
      const to = min(b + 64, len);
      if (from < to) {
        validated = validateUtf8(input, from, to, len, b);
        bad = utf8BadMask;
      }
    }
    while (mask != 0) {
      if (qs == Q_UNQUOTED) {
        // The common case: delimiters ending unquoted fields (so no escapes either), up to the next quote,
        // CR or LF, in a loop of their own.
        let run = leadingDelimiters(mask, delims);
        mask ^= run;
        if (run != 0 && b + 63 - <u32> clz<u64>(run) - fieldStart > maxField) {
          // A field of the run may be too long (rare): check each.
          while (run != 0) {
            const i = b + <u32> ctz<u64>(run);
            run &= run - 1;
            recordPlainField(field, entry, fieldStart, i);
            field++;
            entry += fieldStride;
            fieldStart = i + 1;
          }
        }
        // No field of the run is longer than the run: the loop need not check their sizes.
        while (run != 0) {
          const i = b + <u32> ctz<u64>(run);
          run &= run - 1;
          if (field < storedFields) store<u64>(entry, <u64> fieldStart | (<u64> i << 32));
          field++;
          entry += fieldStride;
          fieldStart = i + 1;
        }
        if (mask == 0) break;
      }
      // Anything else: a quote, CR or LF, or a delimiter inside or after quotes.
      const t = <u32> ctz<u64>(mask);
      mask &= mask - 1;
      const i = b + t;
      const c = <u32> load<u8>(input + i);
      if (c == delimiter && qs == Q_AFTER) {
        recordField(field, entry, fieldStart, i, true, cs, ce, escapes);
        field++;
        entry += fieldStride;
        fieldStart = i + 1;
        qs = Q_UNQUOTED;
        escapes = false;
        continue;
      }
      if (qs == Q_IN) {
        if (c == quote) {
          if (i + 1 < len) {
            if (<u32> load<u8>(input + i + 1) == quote) {
              escapes = true;
              if (t == 63) skipNext = 1;
              else mask &= ~(<u64> 1 << <u64> (t + 1));
              mask ^= leadingDelimiters(mask, delims);
              continue;
            }
          } else if (!final) {
            // Closing quote or the first of a doubled pair: the next chunk decides.
            needMore = true;
            halt = true;
            break;
          }
          qs = Q_AFTER;
          ce = i;
        } else if (c == LF) {
          line++;
          lineStart = <i32> i + 1;
        } else if (c == CR) {
          if (i + 1 >= len || <u32> load<u8>(input + i + 1) != LF) {
            line++;
            lineStart = <i32> i + 1;
          }
        }
        if (qs == Q_IN) mask ^= leadingDelimiters(mask, delims);
        continue;
      }
      if (c == quote) {
        // Only a quote that starts a field opens a quoted field; elsewhere it is an ordinary byte
        // (or, after a closing quote, garbage that the field's end reports).
        if (i == fieldStart) {
          qs = Q_IN;
          mask ^= leadingDelimiters(mask, delims);
          cs = i + 1;
          quoteLine = line;
          quoteColumn = <i32> i - lineStart + 1;
        }
        continue;
      }
      // CR or LF outside quotes: the row ends.
      let termEnd = i + 1;
      let crHere = false;
      if (c == CR) {
        if (i + 1 < len) {
          if (<u32> load<u8>(input + i + 1) == LF) {
            termEnd = i + 2;
            if (t == 63) skipNext = 1;
            else mask &= ~(<u64> 1 << <u64> (t + 1));
          }
        } else if (!final) {
          crHere = true;
        }
      }
      const upTo: u64 = t == 63 ? 0xffffffffffffffff : (<u64> 1 << <u64> (t + 1)) - 1;
      const badRow = rowBadUtf8 || (bad & upTo) != 0;
      bad &= ~upTo;
      rowBadUtf8 = false;
      line++;
      lineStart = <i32> termEnd;
      crAtEnd = crHere;
      // A blank line (no bytes before the terminator) is not a row.
      if (field != 0 || fieldStart != i || qs != Q_UNQUOTED) {
        recordField(field, entry, fieldStart, i, qs == Q_AFTER, cs, ce, escapes);
        if (!endRow(rowStart, i, field + 1, rowLine, badRow, fieldStart == i && qs == Q_UNQUOTED)) {
          return fieldsMode ? STATUS_BAD_STATE : rowsFull(state, rowStart, rowLine);
        }
        if (fieldsMode) {
          fieldsDone = true;
          fieldsEnd = termEnd;
          setSlot(state, CSV_S_FIELD_COUNT, field + 1);
          setSlot(state, CSV_S_ERROR_LINE, rowLine);
          halt = true;
          break;
        }
        if (batched == batchRows) {
          if (!flushBatch(termEnd - batchPos)) return rollBack(state);
          markBatch(termEnd, crHere);
        }
      }
      rowStart = termEnd;
      rowLine = line;
      fieldStart = termEnd;
      field = 0;
      qs = Q_UNQUOTED;
      escapes = false;
      errRule = 0;
      if (fastOn && termEnd < len) {
        // Back to the fast path, which writes at `rows`: the batch goes through stage 2 first.
        if (!flushBatch(termEnd - batchPos)) return rollBack(state);
        markBatch(termEnd, crHere);
        const next = fastRows(termEnd, len);
        if (fastFull) return fastRowsFull(state, next);
        if (next != termEnd) {
          // Rows were taken: the block loop starts over at the row the fast path left.
          rowStart = next;
          rowLine = line;
          fieldStart = next;
          crAtEnd = false;
          markBatch(next, false);
          restart = next;
          entry = rowEntry();
          halt = true;
          break;
        }
      }
      entry = rowEntry();
    }
    if (restart != 0) {
      b = restart;
      restart = 0;
      halt = false;
      skipNext = 0;
      rowBadUtf8 = false;
      validated = b;
      continue;
    }
    if (halt) break;
    if (bad != 0) rowBadUtf8 = true;
    b += 64;
  }

  if (fieldsDone) {
    // Even a rejected header row gets its entries: without a header, only its width is wanted.
    flushFields(<i32> slot(state, CSV_S_FIELD_COUNT));
    pendingCr = crAtEnd;
    finishCall(state, fieldsEnd, CSV_STOP_FIELDS_DONE);
    return STATUS_OK;
  }
  if (final && !needMore && qs != Q_IN && rowStart < len) {
    // The last row has no terminator; the end of input ends it.
    recordField(field, entry, fieldStart, len, qs == Q_AFTER, cs, ce, escapes);
    if (!endRow(rowStart, len, field + 1, rowLine, rowBadUtf8, fieldStart == len && qs == Q_UNQUOTED)) {
      return fieldsMode ? STATUS_BAD_STATE : rowsFull(state, rowStart, rowLine);
    }
    if (fieldsMode) {
      flushFields(field + 1);
      setSlot(state, CSV_S_FIELD_COUNT, field + 1);
      setSlot(state, CSV_S_ERROR_LINE, rowLine);
      finishCall(state, len, CSV_STOP_FIELDS_DONE);
      return STATUS_OK;
    }
    rowStart = len;
    crAtEnd = false;
  }
  if (!fieldsMode && !flushBatch(len - batchPos)) return rollBack(state);
  if (final && !needMore && qs == Q_IN) {
    setSlot(state, CSV_S_ERROR_LINE, quoteLine);
    setSlot(state, CSV_S_ERROR_COLUMN, quoteColumn);
    line = rowLine;
    lineStart = <i32> rowStart;
    finishCall(state, rowStart, CSV_STOP_END);
    return STATUS_UNTERMINATED_QUOTE;
  }
  if (rowStart == len) {
    // Every row ended; a CR as the very last byte may still be followed by an LF in the next chunk.
    pendingCr = crAtEnd && !final;
    finishCall(state, len, CSV_STOP_END);
    return STATUS_OK;
  }
  if (!fieldsMode && len - rowStart > maxRow) {
    // The incomplete row is already too long: reject it now and skip the rest of it as it arrives,
    // so the host never carries more than `maxRow` bytes.
    const cut = min(len - rowStart, min(maxRow + 1, <u32> CSV_REJECT_VALUE_LIMIT));
    if (!addReject(rowLine, -1, CSV_RULE_ROW_SIZE, rowStart, rowStart + cut)) return rowsFull(state, rowStart, rowLine);
    let mode = SKIP_IN_FIELD;
    if (qs == Q_IN) mode = needMore ? SKIP_QUOTE_IN_QUOTES : SKIP_IN_QUOTES;
    else if (qs == Q_UNQUOTED && fieldStart == len) mode = SKIP_FIELD_START;
    setSlot(state, CSV_S_SKIPPING, 1);
    setSlot(state, CSV_S_SKIP_MODE, mode);
    setSlot(state, CSV_S_SKIP_PREV_CR, <u32> load<u8>(input + len - 1) == CR && qs == Q_IN ? 1 : 0);
    setSlot(state, CSV_S_QUOTE_LINE, quoteLine);
    setSlot(state, CSV_S_QUOTE_COLUMN, quoteColumn);
    pendingCr = false;
    finishCall(state, len, CSV_STOP_END);
    return STATUS_OK;
  }
  line = rowLine;
  lineStart = <i32> rowStart;
  pendingCr = false;
  finishCall(state, rowStart, CSV_STOP_END);
  return STATUS_OK;
}

/**
 * Upper bound on the rows in [ptr, ptr + len): one more than the CR and LF bytes in it (the host reads
 * 64 bytes past `len`). The host sizes the column buffers with it before calling `csv_parse`.
 */
export function csv_count_breaks(ptr: usize, len: u32): u32 {
  const vLf = i8x16.splat(<i8> LF);
  const vCr = i8x16.splat(<i8> CR);
  let count: u32 = 0;
  let i: u32 = 0;
  while (i + 16 <= len) {
    const v = v128.load(ptr + i);
    count += <u32> popcnt<i32>(i8x16.bitmask(v128.or(i8x16.eq(v, vLf), i8x16.eq(v, vCr))));
    i += 16;
  }
  while (i < len) {
    const c = <u32> load<u8>(ptr + i);
    if (c == LF || c == CR) count++;
    i++;
  }
  return count + 1;
}
