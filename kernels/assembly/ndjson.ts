/**
 * Streaming NDJSON and JSON-array reader that decodes objects straight into typed columns (Arrow layout)
 * for a declared schema. The host wrapper is `kernels/ndjson.ts`.
 *
 * How it is fast: records are found first (NDJSON: an SIMD search for the LF, which also tells whether
 * the line holds any byte >= 0x80, so ASCII lines skip UTF-8 validation). The byte at the record's end
 * is then replaced by a NUL sentinel, and the record is parsed by a scalar recursive-descent parser
 * that needs no bounds checks: every scan stops at the sentinel, because NUL is never valid JSON. String
 * bodies are scanned 16 bytes at a time for `"`, `\` and control bytes. Keys are matched against the
 * schema by predicting the next column (producers repeat their key order), falling back to a hash
 * table. Values are decoded on the spot with the CSV value decoders (`csv_values.ts`, `float.ts`).
 *
 * How it is chunk-safe: a call consumes whole records only; the host prepends the rest to the next
 * chunk. What cannot be re-read (line number, the byte-order-mark check, where in the top-level array
 * the input is) lives in the state block.
 */

import { STATUS_BAD_ARGUMENT, STATUS_BAD_STATE, STATUS_OK } from "./status";
import { parseDate, parseDecimal, parseInt64, parseTimestamp } from "./csv_values";
import { parsedFloat, parseFloat64 } from "./float";

/** Layout version of the state block; the host writes it to `JSON_S_ABI` and the kernel checks it. */
export const JSON_ABI_VERSION: i32 = 1;

// ---- State block: i32 slots (the byte offset is slot × 4). ----
/** Slot: must hold `JSON_ABI_VERSION`. */
export const JSON_S_ABI: i32 = 0;
/** Slot: `JSON_MODE_*`. */
export const JSON_S_MODE: i32 = 1;
/** Slot: number of column descriptors. */
export const JSON_S_COLUMNS: i32 = 2;
/** Slot: pointer to the column descriptors (`JSON_COLUMN_SLOTS` i32 each). */
export const JSON_S_COLUMNS_PTR: i32 = 3;
/** Slot: pointer to the key hash table: i32 entries, column + 1 or 0 for empty, FNV-1a, linear probing. */
export const JSON_S_HASH_PTR: i32 = 4;
/** Slot: entries in the hash table minus one (a power of two minus one). */
export const JSON_S_HASH_MASK: i32 = 5;
/** Slot: pointer to a scratch region at least as long as the input (escaped keys and dates decode there). */
export const JSON_S_SCRATCH_PTR: i32 = 6;
/** Slot: 1-based line number of the first input byte (carried). */
export const JSON_S_LINE: i32 = 7;
/** Slot: 1 once the byte-order mark was looked for (carried). */
export const JSON_S_STARTED: i32 = 8;
/** Slot: array mode: where the input starts relative to the top-level array (`JSON_OUTER_*`, carried). */
export const JSON_S_OUTER: i32 = 9;
/** Slot: input pointer (the host leaves 64 writable bytes after the input). */
export const JSON_S_INPUT_PTR: i32 = 10;
/** Slot: input length. */
export const JSON_S_INPUT_LEN: i32 = 11;
/** Slot: 1 when the input ends the stream. */
export const JSON_S_FINAL: i32 = 12;
/** Slot: rows the column buffers hold. */
export const JSON_S_ROW_CAPACITY: i32 = 13;
/** Slot: rows already in the column buffers; updated by the call. */
export const JSON_S_ROWS: i32 = 14;
/** Slot: pointer to an i32 per row: the row's 1-based line. */
export const JSON_S_LINES_PTR: i32 = 15;
/** Slot: pointer to reject records (`JSON_REJECT_SLOTS` i32 each). */
export const JSON_S_REJECTS_PTR: i32 = 16;
/** Slot: reject records the buffer holds. */
export const JSON_S_REJECT_CAPACITY: i32 = 17;
/** Slot: reject records already written; updated by the call. */
export const JSON_S_REJECTS: i32 = 18;
/** Slot (out): input bytes consumed; the rest is an incomplete record for the next call. */
export const JSON_S_CONSUMED: i32 = 19;
/** Slot (out): why the call returned (`JSON_STOP_*`). */
export const JSON_S_STOP: i32 = 20;
/** Slot: largest record in bytes (NDJSON: the line without its LF; arrays: the trimmed element). */
export const JSON_S_MAX_RECORD: i32 = 21;
/** Slots in a state block. */
export const JSON_STATE_SLOTS: i32 = 24;

/** Mode: one JSON object per line. */
export const JSON_MODE_NDJSON: i32 = 0;
/** Mode: the elements of top-level JSON arrays (several arrays, or lone objects, may follow each other). */
export const JSON_MODE_ARRAY: i32 = 1;

/** Outer state: outside any top-level array. */
export const JSON_OUTER_OUTSIDE: i32 = 0;
/** Outer state: right after a top-level `[`. */
export const JSON_OUTER_FIRST: i32 = 1;
/** Outer state: right after a separating `,`. */
export const JSON_OUTER_NEXT: i32 = 2;

// ---- Column descriptor: i32 slots. ----
/** Column slot: `JSON_TYPE_*`. */
export const JSON_C_TYPE: i32 = 0;
/** Column slot: decimal precision (<= 18). */
export const JSON_C_PRECISION: i32 = 1;
/** Column slot: decimal scale. */
export const JSON_C_SCALE: i32 = 2;
/** Column slot: 1 when a missing or null value rejects the row. */
export const JSON_C_REQUIRED: i32 = 3;
/** Column slot: pointer to the key's UTF-8 bytes. */
export const JSON_C_KEY_PTR: i32 = 4;
/** Column slot: the key's length in bytes. */
export const JSON_C_KEY_LEN: i32 = 5;
/** Column slot: validity bitmap (LSB first, 1 = valid); the kernel writes every bit of each row. */
export const JSON_C_VALIDITY: i32 = 6;
/** Column slot: values (8 bytes per row; 4 for dates; bits for booleans) or string offsets (row + 1). */
export const JSON_C_VALUES: i32 = 7;
/** Column slot: string data region. */
export const JSON_C_DATA: i32 = 8;
/** Column slot: bytes the data region holds (the host leaves 16 spare bytes after them). */
export const JSON_C_DATA_CAPACITY: i32 = 9;
/** Column slot (kernel scratch): the current record's state of the column (`CELL_*`). */
export const JSON_C_CELL: i32 = 10;
/** Column slot (kernel scratch): start of the value that set the cell, relative to the input. */
export const JSON_C_VALUE_START: i32 = 11;
/** Column slot (kernel scratch): length of that value. */
export const JSON_C_VALUE_LEN: i32 = 12;
/** Column slot (kernel scratch): decoded string length, or the boolean. */
export const JSON_C_SCRATCH: i32 = 13;
/**
 * Column slot: the key's first four bytes, zero-padded, little-endian, when the key is at most 8 bytes
 * and needs no escaping in JSON (so its text matches as written); else 0 with `JSON_C_KEY_HI` = -1.
 */
export const JSON_C_KEY_LO: i32 = 14;
/** Column slot: the key's bytes 4 to 7, zero-padded, or -1 when the key has no fast match. */
export const JSON_C_KEY_HI: i32 = 15;
/** Slots in a column descriptor. */
export const JSON_COLUMN_SLOTS: i32 = 16;

/** Type: UTF-8 string, int32 offsets + bytes. */
export const JSON_TYPE_STRING: i32 = 0;
/** Type: int64. */
export const JSON_TYPE_INT64: i32 = 1;
/** Type: float64. */
export const JSON_TYPE_FLOAT64: i32 = 2;
/** Type: decimal as an int64 scaled by 10^scale. */
export const JSON_TYPE_DECIMAL: i32 = 3;
/** Type: bit-packed boolean. */
export const JSON_TYPE_BOOLEAN: i32 = 4;
/** Type: int32 days since 1970-01-01. */
export const JSON_TYPE_DATE: i32 = 5;
/** Type: int64 microseconds since the epoch, UTC. */
export const JSON_TYPE_TIMESTAMP: i32 = 6;

// ---- Reject record: i32 slots. ----
/** Slots per reject: line, column (-1 for the whole record), rule, value offset, value length. */
export const JSON_REJECT_SLOTS: i32 = 5;
/** Rule: the record is not a JSON object (syntax error, or another kind of value). */
export const JSON_RULE_JSON: i32 = 1;
/** Rule: a value has the wrong JSON type or does not fit the column type. */
export const JSON_RULE_TYPE: i32 = 2;
/** Rule: a required column is missing or null. */
export const JSON_RULE_REQUIRED: i32 = 3;
/** Rule: the record is not valid UTF-8. */
export const JSON_RULE_UTF8: i32 = 4;
/** Rule: the record is longer than `JSON_S_MAX_RECORD`; its value is cut to `JSON_REJECT_VALUE_LIMIT`. */
export const JSON_RULE_SIZE: i32 = 5;
/** Values of size rejects are cut to this many bytes. */
export const JSON_REJECT_VALUE_LIMIT: i32 = 1024;

/** Stop: the input is consumed up to an incomplete record (or to its end). */
export const JSON_STOP_END: i32 = 0;
/** Stop: the reject buffer is full; drain it and call again with the rest. */
export const JSON_STOP_REJECTS_FULL: i32 = 1;
/** Stop: the row buffers are full (the host sized them too small). */
export const JSON_STOP_ROWS_FULL: i32 = 2;

/** Nesting deeper than this inside one record rejects the record. */
export const JSON_MAX_DEPTH: i32 = 1024;

const CELL_ABSENT: i32 = 0;
const CELL_NULL: i32 = 1;
const CELL_VALUE: i32 = 2;
const CELL_BAD: i32 = 3;

const LF: u32 = 0x0a;
const QUOTE: u32 = 0x22;
const BACKSLASH: u32 = 0x5c;

// Configuration and outputs of the running call.
let input: usize = 0;
let columns: usize = 0;
let columnCount: i32 = 0;
let hashTable: usize = 0;
let hashMask: u32 = 0;
let scratch: usize = 0;
let rows: u32 = 0;
let rowCapacity: u32 = 0;
let linesPtr: usize = 0;
let rejectsPtr: usize = 0;
let rejectCapacity: u32 = 0;
let rejects: u32 = 0;
let maxRecord: u32 = 0;
// The column the previous key matched; the next key is predicted to be the one after it.
let lastColumn: i32 = -1;
// Set by scanString: the string held a backslash escape.
let stringEscapes: bool = false;
// Set by scanNumber: the number has neither a fraction nor an exponent.
let numberIsInteger: bool = false;
// Set by the record finders: the record holds a byte >= 0x80.
let recordHigh: bool = false;
// Set by writeString when a data region would overflow (a host sizing bug, reported as BAD_STATE).
let overflow: bool = false;
const STACK: usize = memory.data(JSON_MAX_DEPTH);

// @ts-ignore: decorator
@inline function slot(state: usize, index: i32): i32 {
  return load<i32>(state + (<usize>index << 2));
}

// @ts-ignore: decorator
@inline function setSlot(state: usize, index: i32, value: i32): void {
  store<i32>(state + (<usize>index << 2), value);
}

// @ts-ignore: decorator
@inline function columnAt(c: i32): usize {
  return columns + (<usize>(c * JSON_COLUMN_SLOTS) << 2);
}

// @ts-ignore: decorator
@inline function get(col: usize, index: i32): i32 {
  return load<i32>(col + (<usize>index << 2));
}

// @ts-ignore: decorator
@inline function put(col: usize, index: i32, value: i32): void {
  store<i32>(col + (<usize>index << 2), value);
}

// @ts-ignore: decorator
@inline function isDigit(c: u32): bool {
  return c - 0x30 <= 9;
}

/** Skips JSON whitespace (space, tab, CR, LF). */
// @ts-ignore: decorator
@inline function skipWs(p: usize): usize {
  let c = <u32>load<u8>(p);
  while (c <= 0x20 && (c == 0x20 || c == LF || c == 0x0d || c == 0x09)) {
    p++;
    c = <u32>load<u8>(p);
  }
  return p;
}

// @ts-ignore: decorator
@inline function hexDigit(c: u32): u32 {
  if (c - 0x30 <= 9) return c - 0x30;
  const l = (c | 0x20) - 0x61;
  return l <= 5 ? l + 10 : 0xff;
}

/** Four hex digits at p as a number, or a number above 0xffff when one is not a hex digit. */
function hex4(p: usize): u32 {
  const a = hexDigit(<u32>load<u8>(p));
  const b = hexDigit(<u32>load<u8>(p, 1));
  const c = hexDigit(<u32>load<u8>(p, 2));
  const d = hexDigit(<u32>load<u8>(p, 3));
  if ((a | b | c | d) > 15) return 0x10000;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

/**
 * Scans a string body from p (just after the opening quote) to its closing quote, checking escapes.
 * Returns the closing quote's position, or 0 for a bad escape or a raw control byte (which includes the
 * record-end sentinel). Sets `stringEscapes`.
 */
function scanString(p: usize): usize {
  let escapes = false;
  const vQuote = i8x16.splat(<i8>QUOTE);
  const vSlash = i8x16.splat(<i8>BACKSLASH);
  const vSpace = i8x16.splat(0x20);
  while (true) {
    const v = v128.load(p);
    const m = i8x16.bitmask(v128.or(v128.or(i8x16.eq(v, vQuote), i8x16.eq(v, vSlash)), i8x16.lt_u(v, vSpace)));
    if (m == 0) {
      p += 16;
      continue;
    }
    p += <usize>ctz<i32>(m);
    const c = <u32>load<u8>(p);
    if (c == QUOTE) {
      stringEscapes = escapes;
      return p;
    }
    if (c != BACKSLASH) return 0;
    escapes = true;
    const n = <u32>load<u8>(p, 1);
    if (n == 0x75) {
      if (hex4(p + 2) > 0xffff) return 0;
      p += 6;
    } else if (n == QUOTE || n == BACKSLASH || n == 0x2f || n == 0x62 || n == 0x66 || n == 0x6e || n == 0x72 || n == 0x74) {
      p += 2;
    } else {
      return 0;
    }
  }
}

/** Writes code point `cp` as UTF-8 at w; returns the position after it. */
function putUtf8(w: usize, cp: u32): usize {
  if (cp < 0x80) {
    store<u8>(w, <u8>cp);
    return w + 1;
  }
  if (cp < 0x800) {
    store<u8>(w, <u8>(0xc0 | (cp >> 6)));
    store<u8>(w, <u8>(0x80 | (cp & 0x3f)), 1);
    return w + 2;
  }
  if (cp < 0x10000) {
    store<u8>(w, <u8>(0xe0 | (cp >> 12)));
    store<u8>(w, <u8>(0x80 | ((cp >> 6) & 0x3f)), 1);
    store<u8>(w, <u8>(0x80 | (cp & 0x3f)), 2);
    return w + 3;
  }
  store<u8>(w, <u8>(0xf0 | (cp >> 18)));
  store<u8>(w, <u8>(0x80 | ((cp >> 12) & 0x3f)), 1);
  store<u8>(w, <u8>(0x80 | ((cp >> 6) & 0x3f)), 2);
  store<u8>(w, <u8>(0x80 | (cp & 0x3f)), 3);
  return w + 4;
}

/**
 * Decodes the string body [s, e), already checked by `scanString`, into dst; returns the bytes written,
 * never more than e - s. A surrogate pair becomes one code point; a lone surrogate becomes U+FFFD, as
 * `TextEncoder` would make of what `JSON.parse` returns.
 */
function decodeEscaped(s: usize, e: usize, dst: usize): u32 {
  let w = dst;
  let p = s;
  while (p < e) {
    const c = <u32>load<u8>(p);
    if (c != BACKSLASH) {
      store<u8>(w, <u8>c);
      w++;
      p++;
      continue;
    }
    const n = <u32>load<u8>(p, 1);
    if (n != 0x75) {
      let b = n;
      if (n == 0x62) b = 0x08;
      else if (n == 0x66) b = 0x0c;
      else if (n == 0x6e) b = 0x0a;
      else if (n == 0x72) b = 0x0d;
      else if (n == 0x74) b = 0x09;
      store<u8>(w, <u8>b);
      w++;
      p += 2;
      continue;
    }
    let cp = hex4(p + 2);
    p += 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (p + 6 <= e && <u32>load<u8>(p) == BACKSLASH && <u32>load<u8>(p, 1) == 0x75) {
        const lo = hex4(p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        } else {
          cp = 0xfffd;
        }
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    w = putUtf8(w, cp);
  }
  return <u32>(w - dst);
}

/**
 * Scans a number by the JSON grammar from p; returns its end, or 0 when it does not match. Sets
 * `numberIsInteger`. What follows the number is left to the caller's structure checks.
 */
function scanNumber(p: usize): usize {
  let i = p;
  let integer = true;
  if (<u32>load<u8>(i) == 0x2d) i++;
  let c = <u32>load<u8>(i);
  if (c == 0x30) {
    i++;
  } else if (c - 0x31 <= 8) {
    i++;
    while (isDigit(<u32>load<u8>(i))) i++;
  } else {
    return 0;
  }
  if (<u32>load<u8>(i) == 0x2e) {
    i++;
    integer = false;
    if (!isDigit(<u32>load<u8>(i))) return 0;
    i++;
    while (isDigit(<u32>load<u8>(i))) i++;
  }
  if ((<u32>load<u8>(i) | 0x20) == 0x65) {
    i++;
    integer = false;
    c = <u32>load<u8>(i);
    if (c == 0x2b || c == 0x2d) i++;
    if (!isDigit(<u32>load<u8>(i))) return 0;
    i++;
    while (isDigit(<u32>load<u8>(i))) i++;
  }
  numberIsInteger = integer;
  return i;
}

/** `true`, `false` or `null` at p: returns the position after it, or 0. */
function scanLiteral(p: usize): usize {
  const c = <u32>load<u8>(p);
  if (c == 0x74) return load<u32>(p) == 0x65757274 ? p + 4 : 0;
  if (c == 0x66) return load<u32>(p, 1) == 0x65736c61 ? p + 5 : 0;
  return load<u32>(p) == 0x6c6c756e ? p + 4 : 0;
}

/**
 * Checks one JSON value of any kind starting at p (after whitespace); returns its end, or 0 when it is not
 * valid JSON or nests deeper than `JSON_MAX_DEPTH`. Iterative: a hostile record cannot exhaust the stack.
 */
function skipValue(p: usize): usize {
  let depth: i32 = 0;
  while (true) {
    // A value starts at p.
    p = skipWs(p);
    let c = <u32>load<u8>(p);
    let opened = false;
    if (c == QUOTE) {
      p = scanString(p + 1);
      if (p == 0) return 0;
      p++;
    } else if (c == 0x2d || isDigit(c)) {
      p = scanNumber(p);
      if (p == 0) return 0;
    } else if (c == 0x74 || c == 0x66 || c == 0x6e) {
      p = scanLiteral(p);
      if (p == 0) return 0;
    } else if (c == 0x7b || c == 0x5b) {
      if (depth >= JSON_MAX_DEPTH) return 0;
      const close = c + 2;
      store<u8>(STACK + <usize>depth, <u8>close);
      depth++;
      p = skipWs(p + 1);
      if (<u32>load<u8>(p) == close) {
        p++;
        depth--;
      } else {
        opened = true;
        if (c == 0x7b) {
          // The first key of an object.
          if (<u32>load<u8>(p) != QUOTE) return 0;
          p = scanString(p + 1);
          if (p == 0) return 0;
          p = skipWs(p + 1);
          if (<u32>load<u8>(p) != 0x3a) return 0;
          p++;
        }
      }
    } else {
      return 0;
    }
    if (opened) continue;
    // After a value: close containers or move to the next element.
    while (true) {
      if (depth == 0) return p;
      p = skipWs(p);
      const close = <u32>load<u8>(STACK + <usize>(depth - 1));
      c = <u32>load<u8>(p);
      if (c == close) {
        p++;
        depth--;
        continue;
      }
      if (c != 0x2c) return 0;
      p = skipWs(p + 1);
      if (close == 0x7d) {
        if (<u32>load<u8>(p) != QUOTE) return 0;
        p = scanString(p + 1);
        if (p == 0) return 0;
        p = skipWs(p + 1);
        if (<u32>load<u8>(p) != 0x3a) return 0;
        p++;
      }
      break;
    }
  }
}

/** Whether column `col`'s key equals the n bytes at s. */
function keyEquals(col: usize, s: usize, n: u32): bool {
  if (<u32>get(col, JSON_C_KEY_LEN) != n) return false;
  let k = <usize>get(col, JSON_C_KEY_PTR);
  let i = s;
  while (n >= 8) {
    if (load<u64>(k) != load<u64>(i)) return false;
    k += 8;
    i += 8;
    n -= 8;
  }
  while (n > 0) {
    if (load<u8>(k) != load<u8>(i)) return false;
    k++;
    i++;
    n--;
  }
  return true;
}

/** The column whose key is the string body [ks, ke), or -1 for a key the schema does not declare. */
function lookup(ks: usize, ke: usize, escapes: bool): i32 {
  let s = ks;
  let n = <u32>(ke - ks);
  if (escapes) {
    n = decodeEscaped(ks, ke, scratch);
    s = scratch;
  }
  let c = lastColumn + 1;
  if (c >= columnCount) c = 0;
  if (c < columnCount && keyEquals(columnAt(c), s, n)) {
    lastColumn = c;
    return c;
  }
  // FNV-1a, mirrored by the host when it builds the table.
  let h: u32 = 0x811c9dc5;
  for (let k: u32 = 0; k < n; k++) h = (h ^ <u32>load<u8>(s + k)) * 0x01000193;
  h &= hashMask;
  while (true) {
    const v = load<i32>(hashTable + (<usize>h << 2));
    if (v == 0) return -1;
    if (keyEquals(columnAt(v - 1), s, n)) {
      lastColumn = v - 1;
      return v - 1;
    }
    h = (h + 1) & hashMask;
  }
}

// @ts-ignore: decorator
@inline function setCell(col: usize, cell: i32, start: usize, end: usize): void {
  put(col, JSON_C_CELL, cell);
  put(col, JSON_C_VALUE_START, <i32>(start - input));
  put(col, JSON_C_VALUE_LEN, <i32>(end - start));
}

/** Writes the string body [s, e) (decoding escapes) as the current row's value of string column `col`. */
function writeString(col: usize, s: usize, e: usize, escapes: bool, raw: bool): void {
  const offsets = <usize>get(col, JSON_C_VALUES);
  const start = <u32>load<i32>(offsets + (<usize>rows << 2));
  const n = <u32>(e - s);
  if (<u64>start + <u64>n > <u64><u32>get(col, JSON_C_DATA_CAPACITY)) {
    overflow = true;
    put(col, JSON_C_SCRATCH, 0);
    return;
  }
  const dst = <usize>get(col, JSON_C_DATA) + start;
  let written = n;
  if (escapes && !raw) {
    written = decodeEscaped(s, e, dst);
  } else {
    // Sixteen bytes at a time, overshooting into the spare bytes both regions have: short strings are
    // the norm and a `memory.copy` call costs more than the copy.
    for (let k: u32 = 0; k < n; k += 16) v128.store(dst + k, v128.load(s + k));
  }
  put(col, JSON_C_SCRATCH, <i32>written);
}

// "Infinity" as one little-endian word, and "NaN" as three bytes.
const INFINITY_WORD: u64 = 0x7974696e69666e49;
const NAN_BYTES: u32 = 0x4e614e;

/**
 * Reads the string body [s, e) (escapes decoded first) as the current row's value of the int64, decimal or
 * float64 column `col`; false when it does not fit. JSON writers put numbers in strings to keep them exact
 * (ids beyond 2^53, decimals; weir's own sinks do), so int64 and decimal take the text of a JSON number by
 * the same rules as the number itself; float64 takes only the non-finite values JSON cannot write as numbers.
 */
function numberInString(col: usize, type: i32, s: usize, e: usize, escapes: bool): bool {
  if (escapes) {
    const n = decodeEscaped(s, e, scratch);
    s = scratch;
    e = scratch + n;
    // The scratch region is longer than the input: room for the sentinel that stops `scanNumber`.
    store<u8>(e, 0);
  }
  const dst = <usize>get(col, JSON_C_VALUES) + (<usize>rows << 3);
  if (type == JSON_TYPE_FLOAT64) {
    const n = e - s;
    const neg = n == 9 && <u32>load<u8>(s) == 0x2d;
    if ((n == 8 || neg) && load<u64>(e - 8) == INFINITY_WORD) {
      store<f64>(dst, neg ? -Infinity : Infinity);
      return true;
    }
    if (n == 3 && (<u32>load<u16>(s) | (<u32>load<u8>(s, 2) << 16)) == NAN_BYTES) {
      store<f64>(dst, NaN);
      return true;
    }
    return false;
  }
  // The body must be exactly one JSON number: `scanNumber` stops at the closing quote (or the sentinel).
  if (scanNumber(s) != e) return false;
  if (type == JSON_TYPE_INT64) return numberIsInteger && parseInt64(s, e, dst);
  return parseDecimal(s, e, get(col, JSON_C_PRECISION), get(col, JSON_C_SCALE), dst);
}

/** Parses the value at p for column c; returns its end, or 0 for a syntax error. */
function parseValue(p: usize, c: i32): usize {
  const col = columnAt(c);
  const type = get(col, JSON_C_TYPE);
  const b = <u32>load<u8>(p);
  if (b == QUOTE) {
    const s = p + 1;
    const e = scanString(s);
    if (e == 0) return 0;
    const escapes = stringEscapes;
    if (type == JSON_TYPE_STRING) {
      writeString(col, s, e, escapes, false);
      setCell(col, CELL_VALUE, p, e + 1);
    } else if (type == JSON_TYPE_DATE || type == JSON_TYPE_TIMESTAMP) {
      let ds = s;
      let de = e;
      if (escapes) {
        ds = scratch;
        de = scratch + decodeEscaped(s, e, scratch);
      }
      const values = <usize>get(col, JSON_C_VALUES);
      const ok = type == JSON_TYPE_DATE
        ? parseDate(ds, de, values + (<usize>rows << 2))
        : parseTimestamp(ds, de, values + (<usize>rows << 3));
      setCell(col, ok ? CELL_VALUE : CELL_BAD, p, e + 1);
    } else if (type == JSON_TYPE_BOOLEAN) {
      setCell(col, CELL_BAD, p, e + 1);
    } else {
      setCell(col, numberInString(col, type, s, e, escapes) ? CELL_VALUE : CELL_BAD, p, e + 1);
    }
    return e + 1;
  }
  if (b == 0x2d || isDigit(b)) {
    const e = scanNumber(p);
    if (e == 0) return 0;
    const dst = <usize>get(col, JSON_C_VALUES) + (<usize>rows << 3);
    let ok = false;
    if (type == JSON_TYPE_INT64) {
      ok = numberIsInteger && parseInt64(p, e, dst);
    } else if (type == JSON_TYPE_FLOAT64) {
      ok = parseFloat64(p, e);
      if (ok) store<f64>(dst, parsedFloat);
    } else if (type == JSON_TYPE_DECIMAL) {
      ok = parseDecimal(p, e, get(col, JSON_C_PRECISION), get(col, JSON_C_SCALE), dst);
    }
    setCell(col, ok ? CELL_VALUE : CELL_BAD, p, e);
    return e;
  }
  if (b == 0x74 || b == 0x66 || b == 0x6e) {
    const e = scanLiteral(p);
    if (e == 0) return 0;
    if (b == 0x6e) {
      setCell(col, CELL_NULL, p, e);
    } else if (type == JSON_TYPE_BOOLEAN) {
      put(col, JSON_C_SCRATCH, b == 0x74 ? 1 : 0);
      setCell(col, CELL_VALUE, p, e);
    } else {
      setCell(col, CELL_BAD, p, e);
    }
    return e;
  }
  if (b == 0x7b || b == 0x5b) {
    const e = skipValue(p);
    if (e == 0) return 0;
    if (type == JSON_TYPE_STRING) {
      writeString(col, p, e, false, true);
      setCell(col, CELL_VALUE, p, e);
    } else {
      setCell(col, CELL_BAD, p, e);
    }
    return e;
  }
  return 0;
}

/**
 * Parses the record [s, end) whose byte at `end` is the NUL sentinel. Returns false when it is not one
 * JSON object; cells of declared columns are set as values are met.
 */
function parseRecord(s: usize, end: usize): bool {
  lastColumn = -1;
  let p = skipWs(s);
  if (<u32>load<u8>(p) != 0x7b) return false;
  p = skipWs(p + 1);
  if (<u32>load<u8>(p) == 0x7d) {
    p++;
  } else {
    while (true) {
      if (<u32>load<u8>(p) != QUOTE) return false;
      // Producers repeat their key order: try the column after the last one matched, as written.
      let c = lastColumn + 1;
      if (c >= columnCount) c = 0;
      let ke: usize = 0;
      if (c < columnCount) {
        const col = columnAt(c);
        const n = <usize>get(col, JSON_C_KEY_LEN);
        const hi = get(col, JSON_C_KEY_HI);
        if (hi != -1 && <u32>load<u8>(p + 1 + n) == QUOTE) {
          const word = load<u64>(p + 1) & (n == 8 ? <u64>-1 : (<u64>1 << (<u64>n << 3)) - 1);
          if (word == ((<u64><u32>hi << 32) | <u64><u32>get(col, JSON_C_KEY_LO))) {
            ke = p + 1 + n;
            lastColumn = c;
          }
        }
      }
      if (ke == 0) {
        ke = scanString(p + 1);
        if (ke == 0) return false;
        c = lookup(p + 1, ke, stringEscapes);
      }
      p = skipWs(ke + 1);
      if (<u32>load<u8>(p) != 0x3a) return false;
      p = skipWs(p + 1);
      p = c < 0 ? skipValue(p) : parseValue(p, c);
      if (p == 0) return false;
      p = skipWs(p);
      const d = <u32>load<u8>(p);
      if (d == 0x2c) {
        p = skipWs(p + 1);
        continue;
      }
      if (d != 0x7d) return false;
      p++;
      break;
    }
  }
  return skipWs(p) == end;
}

/** Whether [s, e) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
function validUtf8(s: usize, e: usize): bool {
  let i = s;
  while (i < e) {
    const c = <u32>load<u8>(i);
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: usize = 0;
    let lo: u32 = 0x80;
    let hi: u32 = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      else if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      else if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + n >= e) return false;
    const c1 = <u32>load<u8>(i + 1);
    if (c1 < lo || c1 > hi) return false;
    for (let k: usize = 2; k <= n; k++) {
      const ck = <u32>load<u8>(i + k);
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    i += n + 1;
  }
  return true;
}

// @ts-ignore: decorator
@inline function writeBit(bitmap: usize, row: u32, on: bool): void {
  const p = bitmap + (row >> 3);
  const bit = <u8>1 << <u8>(row & 7);
  store<u8>(p, on ? load<u8>(p) | bit : load<u8>(p) & ~bit);
}

/** Writes a reject record; false when the buffer is full. */
function addReject(line: i32, column: i32, rule: i32, start: u32, length: u32): bool {
  if (rejects >= rejectCapacity) return false;
  const r = rejectsPtr + (<usize>(rejects * <u32>JSON_REJECT_SLOTS) << 2);
  store<i32>(r, line);
  store<i32>(r, column, 4);
  store<i32>(r, rule, 8);
  store<i32>(r, <i32>start, 12);
  store<i32>(r, <i32>length, 16);
  rejects++;
  return true;
}

/** Clears every cell for the next record. */
function clearCells(): void {
  for (let c: i32 = 0; c < columnCount; c++) put(columnAt(c), JSON_C_CELL, CELL_ABSENT);
}

/**
 * Parses the record [s, e) (relative to the input; the byte at e must be writable) that starts on
 * `line`, and keeps or rejects it; a record-level reject reports [s, valueEnd). Returns a `JSON_STOP_*`
 * code: `JSON_STOP_END` to go on.
 */
function record(s: u32, e: u32, line: i32, valueEnd: u32): i32 {
  if (e - s > maxRecord) {
    const cut = min(valueEnd - s, <u32>JSON_REJECT_VALUE_LIMIT);
    return addReject(line, -1, JSON_RULE_SIZE, s, cut) ? JSON_STOP_END : JSON_STOP_REJECTS_FULL;
  }
  const endPtr = input + e;
  const saved = load<u8>(endPtr);
  store<u8>(endPtr, 0);
  const syntaxOk = parseRecord(input + s, endPtr);
  store<u8>(endPtr, saved);
  let rule: i32 = 0;
  let column: i32 = -1;
  let vs = s;
  let vn = valueEnd - s;
  if (!syntaxOk) rule = JSON_RULE_JSON;
  else if (recordHigh && !validUtf8(input + s, endPtr)) rule = JSON_RULE_UTF8;
  // One pass writes row `rows` of every column and finds the first bad one. A rejected record leaves
  // row `rows` half-written, which is harmless: the next kept record writes every column of it again.
  const r = rows;
  for (let c: i32 = 0; c < columnCount; c++) {
    const col = columnAt(c);
    const cell = get(col, JSON_C_CELL);
    put(col, JSON_C_CELL, CELL_ABSENT);
    const valid = cell == CELL_VALUE;
    if (!valid && rule == 0 && (cell == CELL_BAD || get(col, JSON_C_REQUIRED) != 0)) {
      rule = cell == CELL_BAD ? JSON_RULE_TYPE : JSON_RULE_REQUIRED;
      column = c;
      vs = cell == CELL_ABSENT ? s : <u32>get(col, JSON_C_VALUE_START);
      vn = cell == CELL_ABSENT ? 0 : <u32>get(col, JSON_C_VALUE_LEN);
    }
    if (r >= rowCapacity) continue;
    writeBit(<usize>get(col, JSON_C_VALIDITY), r, valid);
    const type = get(col, JSON_C_TYPE);
    const values = <usize>get(col, JSON_C_VALUES);
    if (type == JSON_TYPE_STRING) {
      const at = values + (<usize>r << 2);
      store<i32>(at, load<i32>(at) + (valid ? get(col, JSON_C_SCRATCH) : 0), 4);
    } else if (type == JSON_TYPE_BOOLEAN) {
      writeBit(values, r, valid && get(col, JSON_C_SCRATCH) != 0);
    } else if (!valid) {
      // Zero the slot so that the output bytes do not depend on what the arena held before.
      if (type == JSON_TYPE_DATE) store<i32>(values + (<usize>r << 2), 0);
      else store<i64>(values + (<usize>r << 3), 0);
    }
  }
  if (rule != 0) return addReject(line, column, rule, vs, vn) ? JSON_STOP_END : JSON_STOP_REJECTS_FULL;
  if (r >= rowCapacity) return JSON_STOP_ROWS_FULL;
  store<i32>(linesPtr + (<usize>r << 2), line);
  rows = r + 1;
  return JSON_STOP_END;
}

/**
 * The first LF at or after `from` (relative to the input), or `len` when there is none before `len`.
 * Sets `recordHigh` when a byte >= 0x80 lies before it (or near it: a false alarm only costs a check).
 */
function findLf(from: u32, len: u32): u32 {
  const vLf = i8x16.splat(<i8>LF);
  let high = v128.splat<i64>(0);
  let i = from;
  while (i < len) {
    const v = v128.load(input + i);
    high = v128.or(high, v);
    const m = i8x16.bitmask(i8x16.eq(v, vLf));
    if (m != 0) {
      const at = i + <u32>ctz<i32>(m);
      recordHigh = i8x16.bitmask(high) != 0;
      return at < len ? at : len;
    }
    i += 16;
  }
  recordHigh = i8x16.bitmask(high) != 0;
  return len;
}

/** Whether [s, e) (relative to the input) holds a byte >= 0x80. */
function anyHigh(s: u32, e: u32): bool {
  let high = v128.splat<i64>(0);
  let i = s;
  while (i + 16 <= e) {
    high = v128.or(high, v128.load(input + i));
    i += 16;
  }
  if (i8x16.bitmask(high) != 0) return true;
  while (i < e) {
    if (<u32>load<u8>(input + i) >= 0x80) return true;
    i++;
  }
  return false;
}

/** skipWs that stops at `end` too (the byte there is not a sentinel). */
function skipWsBounded(p: usize, end: usize): usize {
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c != 0x20 && c != 0x0d && c != 0x09 && c != LF) break;
    p++;
  }
  return p;
}

// Outputs of the running call.
let consumed: u32 = 0;
let line: i32 = 1;
let outer: i32 = 0;

/** NDJSON: one record per line. Returns the stop code; sets `consumed` and `line`. */
function runNdjson(pos: u32, len: u32, final: bool): i32 {
  while (pos < len) {
    const nl = findLf(pos, len);
    if (nl == len && !final) break;
    // A blank (or all-whitespace) line is not a record.
    if (skipWsBounded(input + pos, input + nl) < input + nl) {
      // A rejected line is reported without its CR.
      let e = nl;
      if (e > pos && <u32>load<u8>(input + e - 1) == 0x0d) e--;
      const stop = record(pos, nl, line, e);
      if (stop != JSON_STOP_END) {
        consumed = pos;
        return stop;
      }
    }
    line++;
    pos = nl + 1;
  }
  consumed = min(pos, len);
  return JSON_STOP_END;
}

/** Line breaks (LFs) in [s, e), relative to the input. */
function countLf(s: u32, e: u32): i32 {
  let n: i32 = 0;
  for (let i = s; i < e; i++) if (<u32>load<u8>(input + i) == LF) n++;
  return n;
}

/** The end of [s, e) without trailing whitespace. */
function trimEnd(s: u32, e: u32): u32 {
  while (e > s) {
    const c = <u32>load<u8>(input + e - 1);
    if (c != 0x20 && c != LF && c != 0x0d && c != 0x09) break;
    e--;
  }
  return e;
}

/** Past the closing quote of the string whose body starts at i, or -1 when the input ends first. */
function skipStringBody(i: u32, len: u32): i32 {
  while (i < len) {
    const c = <u32>load<u8>(input + i);
    if (c == QUOTE) return <i32>(i + 1);
    i += c == BACKSLASH ? 2 : 1;
  }
  return -1;
}

/**
 * Array mode: where the element starting at `from` ends: the first `,` or `]` outside strings and
 * brackets. Brackets are only counted, not matched: a malformed element may run on, and the parser
 * rejects it. Returns `len` at the end of a final input, or -1 when more input may follow.
 */
function scanElement(from: u32, len: u32, final: bool): i32 {
  let depth: i32 = 0;
  let i = from;
  while (i < len) {
    const c = <u32>load<u8>(input + i);
    if (c == QUOTE) {
      const next = skipStringBody(i + 1, len);
      if (next < 0) break;
      i = <u32>next;
      continue;
    }
    if (c == 0x7b || c == 0x5b) {
      depth++;
    } else if (c == 0x7d || c == 0x5d) {
      if (depth > 0) depth--;
      else if (c == 0x5d) return <i32>i;
    } else if (c == 0x2c && depth == 0) {
      return <i32>i;
    }
    i++;
  }
  return final ? <i32>len : -1;
}

/**
 * Array mode, outside any array: where the lone top-level value at `from` ends. An object or a string
 * ends after its closing bracket or quote; anything else at the next whitespace or structural byte
 * (at least one byte). Returns `len` at the end of a final input, or -1 when more input may follow.
 */
function scanLone(from: u32, len: u32, final: bool): i32 {
  const c0 = <u32>load<u8>(input + from);
  let i = from + 1;
  if (c0 == 0x7b) {
    let depth: i32 = 1;
    while (i < len) {
      const c = <u32>load<u8>(input + i);
      if (c == QUOTE) {
        const next = skipStringBody(i + 1, len);
        if (next < 0) break;
        i = <u32>next;
        continue;
      }
      if (c == 0x7b || c == 0x5b) depth++;
      else if (c == 0x7d || c == 0x5d) depth--;
      i++;
      if (depth == 0) return <i32>i;
    }
    return final ? <i32>len : -1;
  }
  if (c0 == QUOTE) {
    const next = skipStringBody(i, len);
    return next >= 0 ? next : final ? <i32>len : -1;
  }
  while (i < len) {
    const c = <u32>load<u8>(input + i);
    if (c <= 0x20 || c == 0x2c || c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d || c == QUOTE) return <i32>i;
    i++;
  }
  return final ? <i32>len : -1;
}

/** Array mode. Returns the stop code; sets `consumed`, `line` and `outer`. */
function runArray(pos: u32, len: u32, final: bool): i32 {
  consumed = pos;
  while (true) {
    const at = <u32>(skipWsBounded(input + pos, input + len) - input);
    if (at >= len) {
      if (final) {
        line += countLf(pos, len);
        consumed = len;
      }
      return JSON_STOP_END;
    }
    const recordLine = line + countLf(pos, at);
    let next: u32 = 0;
    let nextOuter = JSON_OUTER_OUTSIDE;
    let stop = JSON_STOP_END;
    if (outer == JSON_OUTER_OUTSIDE) {
      if (<u32>load<u8>(input + at) == 0x5b) {
        next = at + 1;
        nextOuter = JSON_OUTER_FIRST;
      } else {
        // Not an array at the top level: a lone object is a record, anything else a rejected one.
        const end = scanLone(at, len, final);
        if (end < 0) return JSON_STOP_END;
        next = <u32>end;
        recordHigh = anyHigh(at, next);
        stop = record(at, next, recordLine, next);
      }
    } else {
      const end = scanElement(at, len, final);
      if (end < 0) return JSON_STOP_END;
      const sep = <u32>end < len ? <u32>load<u8>(input + end) : 0;
      next = sep != 0 ? <u32>end + 1 : len;
      nextOuter = sep == 0x2c ? JSON_OUTER_NEXT : JSON_OUTER_OUTSIDE;
      const e = trimEnd(at, <u32>end);
      if (e > at) {
        recordHigh = anyHigh(at, e);
        stop = record(at, e, recordLine, e);
      } else if (!(outer == JSON_OUTER_FIRST && sep == 0x5d)) {
        // An empty element: `[1,,2]`, a trailing comma, or an array cut off.
        stop = addReject(recordLine, -1, JSON_RULE_JSON, at, 0) ? JSON_STOP_END : JSON_STOP_REJECTS_FULL;
      }
    }
    if (stop != JSON_STOP_END) return stop;
    line = recordLine + countLf(at, next);
    outer = nextOuter;
    pos = next;
    consumed = pos;
  }
}

/**
 * Parses the input described by the state block at `state` (`JSON_STATE_SLOTS` i32, 4-byte aligned):
 * whole records go to the column buffers or to the rejects, and the call reports how far it got in
 * `JSON_S_CONSUMED` and why it returned in `JSON_S_STOP`. Writes a NUL at the end of each record while
 * parsing it (and restores the byte), so the input must be writable, with 64 bytes after it.
 */
export function json_parse(state: usize): i32 {
  if (state == 0 || (state & 3) != 0) return STATUS_BAD_ARGUMENT;
  if (slot(state, JSON_S_ABI) != JSON_ABI_VERSION) return STATUS_BAD_STATE;
  const mode = slot(state, JSON_S_MODE);
  columnCount = slot(state, JSON_S_COLUMNS);
  columns = <usize>slot(state, JSON_S_COLUMNS_PTR);
  hashTable = <usize>slot(state, JSON_S_HASH_PTR);
  hashMask = <u32>slot(state, JSON_S_HASH_MASK);
  scratch = <usize>slot(state, JSON_S_SCRATCH_PTR);
  line = slot(state, JSON_S_LINE);
  outer = slot(state, JSON_S_OUTER);
  input = <usize>slot(state, JSON_S_INPUT_PTR);
  const len = <u32>slot(state, JSON_S_INPUT_LEN);
  const final = slot(state, JSON_S_FINAL) != 0;
  rowCapacity = <u32>slot(state, JSON_S_ROW_CAPACITY);
  rows = <u32>slot(state, JSON_S_ROWS);
  linesPtr = <usize>slot(state, JSON_S_LINES_PTR);
  rejectsPtr = <usize>slot(state, JSON_S_REJECTS_PTR);
  rejectCapacity = <u32>slot(state, JSON_S_REJECT_CAPACITY);
  rejects = <u32>slot(state, JSON_S_REJECTS);
  maxRecord = <u32>slot(state, JSON_S_MAX_RECORD);
  overflow = false;
  if (mode != JSON_MODE_NDJSON && mode != JSON_MODE_ARRAY) return STATUS_BAD_ARGUMENT;
  if (input == 0 || columnCount < 0 || rows > rowCapacity || hashTable == 0 || scratch == 0) return STATUS_BAD_STATE;
  if (outer < JSON_OUTER_OUTSIDE || outer > JSON_OUTER_NEXT) return STATUS_BAD_STATE;
  clearCells();

  let pos: u32 = 0;
  if (slot(state, JSON_S_STARTED) == 0) {
    const b0 = len > 0 ? <u32>load<u8>(input) : 0;
    const b1 = len > 1 ? <u32>load<u8>(input + 1) : 0;
    const b2 = len > 2 ? <u32>load<u8>(input + 2) : 0;
    // A byte-order mark may still be arriving: wait for three bytes unless the input is final.
    const prefix = len == 0 || (b0 == 0xef && (len == 1 || (b1 == 0xbb && len == 2)));
    if (prefix && !final) {
      finish(state, 0, JSON_STOP_END);
      return STATUS_OK;
    }
    if (len >= 3 && b0 == 0xef && b1 == 0xbb && b2 == 0xbf) pos = 3;
    setSlot(state, JSON_S_STARTED, 1);
  }
  const stop = mode == JSON_MODE_NDJSON ? runNdjson(pos, len, final) : runArray(pos, len, final);
  finish(state, consumed, stop);
  return overflow ? STATUS_BAD_STATE : STATUS_OK;
}

function finish(state: usize, used: u32, stop: i32): void {
  setSlot(state, JSON_S_CONSUMED, <i32>used);
  setSlot(state, JSON_S_STOP, stop);
  setSlot(state, JSON_S_LINE, line);
  setSlot(state, JSON_S_OUTER, outer);
  setSlot(state, JSON_S_ROWS, <i32>rows);
  setSlot(state, JSON_S_REJECTS, <i32>rejects);
}

/**
 * Upper bound on the rows in [ptr, ptr + len): the `{` bytes in it, since every row is an object that
 * starts with one (the host reads 16 bytes past `len`).
 */
export function json_count_rows(ptr: usize, len: u32): u32 {
  const vBrace = i8x16.splat(0x7b);
  let count: u32 = 0;
  let i: u32 = 0;
  while (i + 16 <= len) {
    count += <u32>popcnt<i32>(i8x16.bitmask(i8x16.eq(v128.load(ptr + i), vBrace)));
    i += 16;
  }
  while (i < len) {
    if (<u32>load<u8>(ptr + i) == 0x7b) count++;
    i++;
  }
  return count;
}
