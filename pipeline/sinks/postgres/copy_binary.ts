/**
 * Encodes a {@linkcode Batch} in PostgreSQL's binary `COPY` format, straight from its typed arrays. The server
 * then stores each value as it comes instead of parsing text: for the orders table that costs it about half
 * the CPU of CSV (no numeric, timestamptz or integer parsing), and on a machine where the database shares the
 * cores with weir that CPU is the limit.
 *
 * The stream is the 19-byte header, then per row a 16-bit field count and per field a 32-bit length (-1 for a
 * null) and the value in the column type's binary receive format, then a -1 trailer. Which format a value
 * takes depends on the column it lands in (an int64 may land in a `numeric` column): {@linkcode binaryFormat}
 * picks it from the column's type, and the server rejects a value whose format does not fit its column.
 *
 * The format is row by row, but the encoder works column by column (a tight loop per column, no per-cell
 * dispatch): it first sums each row's size, then cuts the rows into pieces of about `chunkBytes`, and fills
 * each piece one column at a time, every row keeping a cursor to where its next field goes. The formats of the
 * types weir creates have loops of their own: one loop calling a function per format would call it through a
 * single call site, which V8 does not inline; only the conversions into wider columns share `writer`.
 *
 * @module
 */

import type { Batch, Column, Field, StringColumn } from "../../batch.ts";

/** The binary receive formats weir writes: one per PostgreSQL type a weir field can land in. */
export type BinaryFormat = "int8" | "float8" | "numeric" | "bool" | "date" | "timestamp" | "text";

/**
 * The binary format of a `field` landing in a column of type `columnType` (as `format_type` prints it;
 * `timestamp` serves both timestamp types, which share their format). Only the pairs the sink's type check
 * accepts are known; any other is a `TypeError`.
 */
export function binaryFormat(field: Field, columnType: string): BinaryFormat {
  const format = columnType === "bigint"
    ? "int8"
    : columnType === "double precision"
    ? "float8"
    : /^numeric\b/.test(columnType)
    ? "numeric"
    : columnType === "boolean"
    ? "bool"
    : columnType === "date"
    ? "date"
    : /^timestamp\b/.test(columnType)
    ? "timestamp"
    : columnType === "text" || columnType.startsWith("character varying")
    ? "text"
    : undefined;
  if (format === undefined || !ENCODABLE[field.type].includes(format)) {
    throw new TypeError(`Cannot write a ${field.type} field to a ${columnType} column in binary COPY`);
  }
  return format;
}

const ENCODABLE: Record<Field["type"], readonly BinaryFormat[]> = {
  int64: ["int8", "numeric"],
  float64: ["float8", "numeric"],
  decimal: ["numeric"],
  boolean: ["bool"],
  date: ["date", "timestamp"],
  timestamp: ["timestamp"],
  string: ["text"],
};

/** Options for {@linkcode encodeCopyBinary}. */
export interface CopyBinaryOptions {
  /** The format of each field of the batch's schema, in field order (see {@linkcode binaryFormat}). */
  formats: readonly BinaryFormat[];
  /** First row to encode. Default 0. */
  from?: number;
  /** Row after the last one to encode. Default `batch.length`. */
  to?: number;
  /** Target size of each yielded chunk in bytes (a larger cell makes a larger chunk). Default 1 MiB. */
  chunkBytes?: number;
  /** Prefix every row with its row index as an extra first `int8` field (for last-row-wins upserts). */
  rowNumber?: boolean;
}

// "PGCOPY\n\377\r\n\0", then 32-bit flags (0: no OIDs) and header extension length (0).
const HEADER = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
const TWO_32 = 4294967296;
// |hi| below this keeps hi * 2^32 + lo inside Number.MAX_SAFE_INTEGER.
const SAFE_HI = 0x200000;
/** PostgreSQL counts dates and timestamps from 2000-01-01: 10 957 days after weir's 1970-01-01. */
const PG_EPOCH_DAYS = 10_957;
const PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400_000_000;
const PG_EPOCH_HI = Math.floor(PG_EPOCH_MICROS / TWO_32);
const PG_EPOCH_LO = PG_EPOCH_MICROS - PG_EPOCH_HI * TWO_32;
const MICROS_PER_DAY = 86_400_000_000n;
const INT32_MIN = -0x80000000;
const INT64_MIN_FINITE = -(2n ** 63n) + 1n;
// numeric's sign word.
const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
const POW10 = Array.from({ length: 19 }, (_, i) => 10 ** i);

/**
 * Where a piece is written: its bytes, a view for the multi-byte values, and each row's cursor (the offset
 * of the row's next field; row `r` of the piece starting at row `first` is at `cursors[r - first]`).
 */
interface Piece {
  bytes: Uint8Array;
  view: DataView;
  cursors: Int32Array;
  first: number;
}

/** One column's encoding: the bytes each row takes, and the writing of rows into a piece. */
interface ColumnEncoder {
  /** Adds the bytes of rows `[from, to)` (length words included) to `sizes[row - from]`. */
  size(sizes: Int32Array, from: number, to: number): void;
  /** Writes rows `[piece.first, to)` at their cursors and advances the cursors. */
  write(piece: Piece, to: number): void;
}

/**
 * Yields the binary COPY encoding of rows `[from, to)` of `batch`, header and trailer included, in chunks of
 * about `chunkBytes` (a chunk holds whole rows, at least one).
 *
 * @example
 * ```ts
 * import { batchFromRows } from "../../batch.ts";
 * import { encodeCopyBinary } from "./copy_binary.ts";
 * const batch = batchFromRows([{ name: "id", type: "int64" }], [[1n]]);
 * const bytes = [...encodeCopyBinary(batch, { formats: ["int8"] })].flatMap((chunk) => [...chunk]);
 * // header (19) + field count (2) + length (4) + value (8) + trailer (2)
 * if (bytes.length !== 35 || bytes[33] !== 0xff) throw new Error(`${bytes}`);
 * ```
 */
export function* encodeCopyBinary(batch: Batch, options: CopyBinaryOptions): Generator<Uint8Array> {
  const from = options.from ?? 0;
  const to = options.to ?? batch.length;
  const chunkBytes = Math.max(1024, options.chunkBytes ?? 1 << 20);
  const fields = batch.schema.fields;
  if (options.formats.length !== fields.length) {
    throw new TypeError(`Expected ${fields.length} binary formats, got ${options.formats.length}`);
  }
  const encoders = fields.map((f, i) => columnEncoder(batch.columns[f.name], options.formats[i]));
  if (options.rowNumber) encoders.unshift(rowNumberEncoder());

  // Each row: its 16-bit field count and its fields.
  const sizes = new Int32Array(to - from).fill(2);
  for (const encoder of encoders) encoder.size(sizes, from, to);

  let start = from;
  let header = true;
  while (start < to || header) {
    // Whole rows up to about chunkBytes (the header rides in the first piece, the trailer in the last).
    let bytes = header ? HEADER.length : 0;
    let end = start;
    while (end < to && (end === start || bytes + sizes[end - from] <= chunkBytes)) {
      bytes += sizes[end++ - from];
    }
    if (end === to) bytes += 2;
    const buffer = new Uint8Array(bytes);
    const piece: Piece = {
      bytes: buffer,
      view: new DataView(buffer.buffer),
      cursors: new Int32Array(end - start),
      first: start,
    };
    let at = 0;
    if (header) {
      piece.bytes.set(HEADER);
      at = HEADER.length;
      header = false;
    }
    const fieldCount = encoders.length;
    for (let row = start; row < end; row++) {
      piece.view.setInt16(at, fieldCount);
      piece.cursors[row - start] = at + 2;
      at += sizes[row - from];
    }
    for (const encoder of encoders) encoder.write(piece, end);
    if (end === to) piece.view.setInt16(at, -1);
    yield piece.bytes;
    start = end;
  }
}

/** A column's validity bitmap, or undefined when it has no nulls. */
function validityOf(column: Column): Uint8Array | undefined {
  return column.nullCount > 0 ? column.validity : undefined;
}

/** Writes a null (length -1) at `at`; returns the offset after it. */
function writeNull(view: DataView, at: number): number {
  view.setInt32(at, -1);
  return at + 4;
}

/** Whether row `row` is null in `validity` (absent: no nulls). */
function isNullAt(validity: Uint8Array | undefined, row: number): boolean {
  return validity !== undefined && ((validity[row >> 3] >> (row & 7)) & 1) === 0;
}

/** Sizes of a column whose every value takes `width` bytes: `4 + width`, or 4 for a null. */
function fixedSize(column: Column, width: number): ColumnEncoder["size"] {
  const validity = validityOf(column);
  return (sizes, from, to) => {
    for (let row = from; row < to; row++) sizes[row - from] += isNullAt(validity, row) ? 4 : 4 + width;
  };
}

/** Sizes of a column whose value at `row` takes `width(row)` bytes. */
function variableSize(column: Column, width: (row: number) => number): ColumnEncoder["size"] {
  const validity = validityOf(column);
  return (sizes, from, to) => {
    for (let row = from; row < to; row++) sizes[row - from] += isNullAt(validity, row) ? 4 : 4 + width(row);
  };
}

/**
 * A writer that writes a null's -1 length itself and hands every other row to `value(view, at, row)`,
 * which writes the length and the value at `at` and returns the offset after them.
 */
function writer(
  column: Column,
  value: (view: DataView, at: number, row: number, bytes: Uint8Array) => number,
): ColumnEncoder["write"] {
  const validity = validityOf(column);
  return ({ bytes, view, cursors, first }, to) => {
    for (let row = first; row < to; row++) {
      const at = cursors[row - first];
      cursors[row - first] = isNullAt(validity, row) ? writeNull(view, at) : value(view, at, row, bytes);
    }
  };
}

/** The encoder of `column` in `format` (a pair {@linkcode binaryFormat} accepted). */
function columnEncoder(column: Column, format: BinaryFormat): ColumnEncoder {
  switch (column.type) {
    case "int64":
      return format === "int8"
        ? int8Encoder(column, column.values)
        : numericEncoder(column, column.values, 0);
    case "decimal":
      return numericEncoder(column, column.values, column.scale);
    case "timestamp":
      return timestampEncoder(column, column.values);
    case "float64": {
      const values = column.values;
      if (format === "numeric") {
        return {
          size: variableSize(column, (row) => numericFloat(values[row], undefined, 0) - 4),
          write: writer(column, (view, at, row) => numericFloat(values[row], view, at)),
        };
      }
      return float8Encoder(column, values);
    }
    case "boolean":
      return boolEncoder(column, column.values);
    case "date": {
      const values = column.values;
      if (format === "timestamp") {
        // Midnight UTC of the day (the text format's midnight is the session's time zone's, UTC for weir).
        return {
          size: fixedSize(column, 8),
          write: writer(column, (view, at, row) => {
            const micros = BigInt(values[row] - PG_EPOCH_DAYS) * MICROS_PER_DAY;
            view.setInt32(at, 8);
            // Beyond int64 (far beyond the server's range): the smallest finite value, which it rejects.
            view.setBigInt64(at + 4, BigInt.asIntN(64, micros) === micros ? micros : INT64_MIN_FINITE);
            return at + 12;
          }),
        };
      }
      return dateEncoder(column, values);
    }
    case "string":
      return textEncoder(column);
  }
}

/** The 32-bit halves of an int64 array (little-endian, as every platform Deno runs on). */
function words(values: BigInt64Array): Int32Array {
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

function int8Encoder(column: Column, values: BigInt64Array): ColumnEncoder {
  const w = words(values);
  const validity = validityOf(column);
  return {
    size: fixedSize(column, 8),
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        view.setInt32(at, 8);
        view.setInt32(at + 4, w[2 * row + 1]);
        view.setInt32(at + 8, w[2 * row]);
        cursors[row - first] = at + 12;
      }
    },
  };
}

function float8Encoder(column: Column, values: Float64Array): ColumnEncoder {
  const validity = validityOf(column);
  return {
    size: fixedSize(column, 8),
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        view.setInt32(at, 8);
        view.setFloat64(at + 4, values[row]);
        cursors[row - first] = at + 12;
      }
    },
  };
}

function dateEncoder(column: Column, values: Int32Array): ColumnEncoder {
  const validity = validityOf(column);
  return {
    size: fixedSize(column, 4),
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        view.setInt32(at, 4);
        // Below int32 (or on -infinity's INT32_MIN): the smallest finite value, which the server rejects.
        view.setInt32(at + 4, Math.max(INT32_MIN + 1, values[row] - PG_EPOCH_DAYS));
        cursors[row - first] = at + 8;
      }
    },
  };
}

function boolEncoder(column: Column, values: Uint8Array): ColumnEncoder {
  const validity = validityOf(column);
  return {
    size: fixedSize(column, 1),
    write({ bytes, view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        view.setInt32(at, 1);
        bytes[at + 4] = (values[row >> 3] >> (row & 7)) & 1;
        cursors[row - first] = at + 5;
      }
    },
  };
}

function rowNumberEncoder(): ColumnEncoder {
  return {
    size(sizes, from, to) {
      for (let row = from; row < to; row++) sizes[row - from] += 12;
    },
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        view.setInt32(at, 8);
        view.setInt32(at + 4, 0);
        view.setInt32(at + 8, row);
        cursors[row - first] = at + 12;
      }
    },
  };
}

function timestampEncoder(column: Column, values: BigInt64Array): ColumnEncoder {
  const w = words(values);
  const validity = validityOf(column);
  return {
    size: fixedSize(column, 8),
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        // µs since 1970 minus µs from 1970 to 2000, on the 32-bit halves (no BigInt per row).
        let lo = (w[2 * row] >>> 0) - PG_EPOCH_LO;
        let hi = w[2 * row + 1] - PG_EPOCH_HI;
        if (lo < 0) {
          lo += TWO_32;
          hi--;
        }
        // Wrapped below int64, or landed on -infinity's bit pattern: the smallest finite value instead, which
        // the server rejects as out of range, as it rejects such a timestamp in text.
        if (hi < INT32_MIN || (hi === INT32_MIN && lo === 0)) {
          hi = INT32_MIN;
          lo = 1;
        }
        view.setInt32(at, 8);
        view.setInt32(at + 4, hi);
        view.setUint32(at + 8, lo);
        cursors[row - first] = at + 12;
      }
    },
  };
}

function textEncoder(column: StringColumn): ColumnEncoder {
  const { offsets, data } = column;
  const source = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const validity = validityOf(column);
  return {
    size(sizes, from, to) {
      for (let row = from; row < to; row++) {
        sizes[row - from] += isNullAt(validity, row) ? 4 : 4 + offsets[row + 1] - offsets[row];
      }
    },
    write({ bytes, view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        let at = cursors[row - first];
        if (isNullAt(validity, row)) {
          cursors[row - first] = writeNull(view, at);
          continue;
        }
        const start = offsets[row];
        const length = offsets[row + 1] - start;
        view.setInt32(at, length);
        at += 4;
        if (length < 64) {
          // Short strings (most cells): four bytes at a time, then the rest; subarray() + set() costs more.
          let i = 0;
          for (; i + 4 <= length; i += 4) view.setUint32(at + i, source.getUint32(start + i, true), true);
          for (; i < length; i++) bytes[at + i] = data[start + i];
        } else {
          bytes.set(data.subarray(start, start + length), at);
        }
        cursors[row - first] = at + length;
      }
    },
  };
}

// numeric's binary form: 16-bit digit count, weight (the base-10000 exponent of the first digit), sign and
// display scale, then the base-10000 digits, most significant first, without trailing zero digits.

// Scratch for the base-10000 digits, least significant first: a float64's shortest decimal form (up to 17
// digits and 308 zeros, or 324 fraction digits mostly leading zeros) needs at most 83 of them.
const groups = new Int32Array(96);

/** Int64 cells (the value × 10^-scale) as numeric. */
function numericEncoder(column: Column, values: BigInt64Array, scale: number): ColumnEncoder {
  const w = words(values);
  const validity = validityOf(column);
  /** Writes the cell at `row` (or only measures it without `view`); returns the offset after it. */
  const cell = (view: DataView | undefined, at: number, row: number) => {
    const hi = w[2 * row + 1];
    if (hi < SAFE_HI && hi >= -SAFE_HI) {
      const n = hi * TWO_32 + (w[2 * row] >>> 0);
      return numeric(Math.abs(n), n < 0, scale, view, at);
    }
    const value = values[row];
    return numericBig(value < 0n ? -value : value, value < 0n, scale, view, at);
  };
  return {
    size(sizes, from, to) {
      for (let row = from; row < to; row++) {
        sizes[row - from] += isNullAt(validity, row) ? 4 : cell(undefined, 0, row);
      }
    },
    write({ view, cursors, first }, to) {
      for (let row = first; row < to; row++) {
        const at = cursors[row - first];
        cursors[row - first] = isNullAt(validity, row) ? writeNull(view, at) : cell(view, at, row);
      }
    },
  };
}

/**
 * The numeric `abs` × 10^-scale (`abs` a safe integer ≥ 0), without BigInt while it stays safe: written at
 * `at` when `view` is given, else only measured. Returns the offset after it.
 */
function numeric(
  abs: number,
  negative: boolean,
  scale: number,
  view: DataView | undefined,
  at: number,
): number {
  // Pad the fraction to whole base-10000 digits, so that the digits fall on the decimal point.
  const pad = (4 - (scale & 3)) & 3;
  const padded = abs * POW10[pad];
  if (padded > Number.MAX_SAFE_INTEGER) return numericBig(BigInt(abs), negative, scale, view, at);
  let n = 0;
  // Division and remainder of doubles are slow: int32 arithmetic while the value fits, a - q * 10000 beyond.
  if (padded <= 0x7fffffff) {
    for (let a = padded | 0, q = 0; a > 0; a = q) {
      q = (a / 10000) | 0;
      groups[n++] = a - q * 10000;
    }
  } else {
    for (let a = padded, q = 0; a > 0; a = q) {
      q = Math.floor(a / 10000);
      groups[n++] = a - q * 10000;
    }
  }
  return numericDigits(n, negative, scale, pad, view, at);
}

/** The numeric `abs` × 10^-scale for any `abs` ≥ 0; as {@linkcode numeric}. */
function numericBig(
  abs: bigint,
  negative: boolean,
  scale: number,
  view: DataView | undefined,
  at: number,
): number {
  const pad = (4 - (scale & 3)) & 3;
  let n = 0;
  for (let a = abs * 10n ** BigInt(pad); a > 0n; a /= 10000n) groups[n++] = Number(a % 10000n);
  return numericDigits(n, negative, scale, pad, view, at);
}

/** Writes (or measures) the numeric whose `n` digits (the value × 10^(scale + pad)) are in `groups`. */
function numericDigits(
  n: number,
  negative: boolean,
  scale: number,
  pad: number,
  view: DataView | undefined,
  at: number,
): number {
  let low = 0; // trailing zero digits carry no information
  while (low < n && groups[low] === 0) low++;
  const digits = n - low;
  if (view === undefined) return at + 12 + 2 * digits;
  view.setInt32(at, 8 + 2 * digits);
  view.setInt16(at + 4, digits);
  view.setInt16(at + 6, digits === 0 ? 0 : n - 1 - (scale + pad) / 4);
  view.setUint16(at + 8, digits > 0 && negative ? NUMERIC_NEG : NUMERIC_POS);
  view.setInt16(at + 10, scale);
  at += 12;
  for (let i = n - 1; i >= low; i--, at += 2) view.setInt16(at, groups[i]);
  return at;
}

/** A float64 as numeric: its shortest round-trip decimal (what `String(x)` and the text format give). */
function numericFloat(x: number, view: DataView | undefined, at: number): number {
  if (Number.isFinite(x)) {
    const [, sign, whole, fraction = "", exponent = "0"] = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(
      String(x),
    )!;
    const scale = fraction.length - Number(exponent);
    const digits = BigInt(whole + fraction);
    if (scale >= 0) return numericBig(digits, sign === "-", scale, view, at);
    return numericBig(digits * 10n ** BigInt(-scale), sign === "-", 0, view, at);
  }
  if (view === undefined) return at + 12;
  view.setInt32(at, 8);
  view.setInt32(at + 4, 0); // no digits, weight 0
  view.setUint16(at + 8, Number.isNaN(x) ? NUMERIC_NAN : x > 0 ? NUMERIC_PINF : NUMERIC_NINF);
  view.setInt16(at + 10, 0);
  return at + 12;
}
