/**
 * Encodes a {@linkcode Batch} as RFC 4180 CSV bytes, straight from its typed arrays: digits are written into
 * the output buffer by hand and int64 cells are read as two 32-bit halves, so a cell costs no allocation
 * except for float64 (shortest round-trip text needs `String(x)`) and values outside the fast ranges.
 *
 * The output is what PostgreSQL's `COPY … (FORMAT csv)` reads: a null is an empty unquoted field, an empty
 * string is `""`, timestamps are ISO 8601 with `Z`, booleans `true`/`false`.
 *
 * @module
 */

import { concatBytes } from "../bytes.ts";
import {
  type Batch,
  civilFromDays,
  type Column,
  formatDate,
  formatDecimal,
  formatTimestamp,
  type StringColumn,
} from "../batch.ts";

/** Options for {@linkcode encodeCsv}. */
export interface CsvEncodeOptions {
  /** First row to encode. Default 0. */
  from?: number;
  /** Row after the last one to encode. Default `batch.length`. */
  to?: number;
  /** Target size of each yielded chunk in bytes (a larger cell makes a larger chunk). Default 1 MiB. */
  chunkBytes?: number;
  /** Write a header line with the column names first. Default false. */
  header?: boolean;
  /**
   * Prefix string cells that begin with `=`, `+`, `-`, `@`, tab or carriage return with `'` and quote them, so
   * spreadsheets do not run them as formulas (OWASP CSV injection). Default false: databases want the value.
   */
  escapeFormulas?: boolean;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const APOSTROPHE = 0x27;
const TWO_32 = 4294967296;
// |hi| below this keeps hi * 2^32 + lo inside Number.MAX_SAFE_INTEGER.
const SAFE_HI = 0x200000;
const MICROS_PER_DAY = 86_400_000_000;
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const POW10 = Array.from({ length: 19 }, (_, i) => 10 ** i);
const encoder = new TextEncoder();

/** Whether a string cell starting with `byte` is one spreadsheets would evaluate. */
function isFormulaStart(byte: number): boolean {
  return byte === 0x3d || byte === 0x2b || byte === 0x2d || byte === 0x40 || byte === 0x09 || byte === CR;
}

/** Generously more bytes than rows `[from, to)` of `batch` take as CSV, unless strings need much escaping. */
function sizeBound(batch: Batch, from: number, to: number): number {
  let bytes = 1024;
  for (const field of batch.schema.fields) {
    const column = batch.columns[field.name];
    // Quotes, separator and some escapes per string; the longest number or timestamp otherwise.
    bytes += column.type === "string"
      ? 2 * (column.offsets[to] - column.offsets[from]) + 4 * (to - from)
      : 40 * (to - from);
  }
  return bytes + 16 * (to - from);
}

/**
 * Yields the CSV encoding of rows `[from, to)` of `batch` in chunks of about `chunkBytes`. Each row ends with
 * `\n`; a row may span two chunks (COPY and files concatenate them).
 *
 * @example
 * ```ts
 * import { batchFromRows } from "../batch.ts";
 * import { encodeCsv } from "./csv_encoder.ts";
 * const batch = batchFromRows([{ name: "id", type: "int64" }, { name: "s", type: "string" }], [[1n, "a,b"], [2n, null]]);
 * const text = new TextDecoder().decode(new Uint8Array([...encodeCsv(batch)].flatMap((c) => [...c])));
 * if (text !== '1,"a,b"\n2,\n') throw new Error(text);
 * ```
 */
export function* encodeCsv(batch: Batch, options: CsvEncodeOptions = {}): Generator<Uint8Array> {
  const from = options.from ?? 0;
  const to = options.to ?? batch.length;
  const chunkBytes = Math.max(1024, options.chunkBytes ?? 1 << 20);
  const escapeFormulas = options.escapeFormulas ?? false;
  // A small batch gets a buffer of about its size: zeroing a whole chunk for a few rows (a group of single-event
  // requests) costs more than encoding them.
  let buf = new Uint8Array(Math.min(chunkBytes, sizeBound(batch, from, to)));
  let pos = 0;
  let done: Uint8Array[] = [];

  /** Makes room for `n` more bytes, handing the filled part out as a chunk when it does not fit. */
  const ensure = (n: number) => {
    if (pos + n <= buf.length) return;
    if (pos > 0) done.push(buf.subarray(0, pos));
    buf = new Uint8Array(Math.max(chunkBytes, n));
    pos = 0;
  };
  const writeAscii = (text: string) => {
    ensure(text.length);
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
  };
  /** Writes a non-negative safe integer, left-padded with zeros to `width` digits. */
  const writeDigits = (n: number, width: number) => {
    let digits = 1;
    while (digits < 16 && n >= POW10[digits]) digits++;
    if (n >= 1e16) digits = String(n).length;
    const len = Math.max(digits, width);
    let at = pos + len;
    for (let i = 0; i < len; i++) {
      const q = Math.floor(n / 10);
      buf[--at] = 48 + (n - q * 10);
      n = q;
    }
    pos += len;
  };
  /** Writes a safe integer (may be negative). */
  const writeInt = (n: number) => {
    if (n < 0) {
      buf[pos++] = 0x2d;
      n = -n;
    }
    writeDigits(n, 1);
  };
  const writeBytes = (data: Uint8Array, start: number, end: number) => {
    if (end - start < 64) {
      for (let i = start; i < end; i++) buf[pos++] = data[i];
    } else {
      buf.set(data.subarray(start, end), pos);
      pos += end - start;
    }
  };
  /** Writes one CSV field from UTF-8 bytes, quoting when needed. */
  const writeField = (data: Uint8Array, start: number, end: number) => {
    ensure(2 * (end - start) + 3);
    const formula = escapeFormulas && end > start && isFormulaStart(data[start]);
    let quote = end === start || formula;
    if (!quote) {
      for (let i = start; i < end; i++) {
        const b = data[i];
        if (b === QUOTE || b === COMMA || b === LF || b === CR) {
          quote = true;
          break;
        }
      }
    }
    if (!quote) return writeBytes(data, start, end);
    buf[pos++] = QUOTE;
    if (formula) buf[pos++] = APOSTROPHE;
    for (let i = start; i < end; i++) {
      const b = data[i];
      if (b === QUOTE) buf[pos++] = QUOTE;
      buf[pos++] = b;
    }
    buf[pos++] = QUOTE;
  };

  /** Reads an int64 cell as a number when it is safe, or `undefined`; no BigInt is created. */
  const int64Reader = (values: BigInt64Array) => {
    const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
    return (row: number): number | undefined => {
      const hi = words[2 * row + 1];
      if (hi >= SAFE_HI || hi < -SAFE_HI) return undefined;
      return hi * TWO_32 + (words[2 * row] >>> 0);
    };
  };

  const civil = new Int32Array(3); // scratch: writing a date allocates nothing
  const writeDate = (days: number) => {
    civilFromDays(days, civil);
    const y = civil[0], m = civil[1], d = civil[2];
    if (y < 0 || y > 9999) return writeAscii(formatDate(days));
    writeDigits(y, 4);
    buf[pos++] = 0x2d;
    writeDigits(m, 2);
    buf[pos++] = 0x2d;
    writeDigits(d, 2);
  };

  type CellWriter = (row: number) => void;
  const cellWriter = (column: Column): CellWriter => {
    switch (column.type) {
      case "int64": {
        const read = int64Reader(column.values);
        return (row) => {
          const n = read(row);
          ensure(24);
          if (n === undefined) writeAscii(column.values[row].toString());
          else writeInt(n);
        };
      }
      case "decimal": {
        const read = int64Reader(column.values);
        const scale = column.scale;
        const p = POW10[scale];
        return (row) => {
          let n = read(row);
          ensure(44);
          if (n === undefined || scale > 15) return writeAscii(formatDecimal(column.values[row], scale));
          if (n < 0) {
            buf[pos++] = 0x2d;
            n = -n;
          }
          if (scale === 0) return writeDigits(n, 1);
          let q = Math.floor(n / p);
          let r = n - q * p;
          if (r < 0) {
            q--;
            r += p;
          } else if (r >= p) {
            q++;
            r -= p;
          }
          writeDigits(q, 1);
          buf[pos++] = 0x2e;
          writeDigits(r, scale);
        };
      }
      case "float64":
        return (row) => writeAscii(String(column.values[row]));
      case "boolean":
        return (row) => {
          ensure(5);
          const bytes = ((column.values[row >> 3] >> (row & 7)) & 1) === 1 ? TRUE : FALSE;
          for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i];
        };
      case "date":
        return (row) => {
          ensure(12);
          writeDate(column.values[row]);
        };
      case "timestamp": {
        const read = int64Reader(column.values);
        return (row) => {
          const us = read(row);
          ensure(40);
          if (us === undefined) return writeAscii(formatTimestamp(column.values[row]));
          const days = Math.floor(us / MICROS_PER_DAY);
          let rest = us - days * MICROS_PER_DAY;
          const start = pos;
          writeDate(days);
          if (pos - start !== 10) return; // out-of-range year: formatDate wrote the date, time omitted
          buf[pos++] = 0x54;
          const micros = rest % 1_000_000;
          rest = (rest - micros) / 1_000_000;
          writeDigits(Math.floor(rest / 3600), 2);
          buf[pos++] = 0x3a;
          writeDigits(Math.floor(rest / 60) % 60, 2);
          buf[pos++] = 0x3a;
          writeDigits(rest % 60, 2);
          buf[pos++] = 0x2e;
          writeDigits(micros, 6);
          buf[pos++] = 0x5a;
        };
      }
      case "string": {
        const { offsets, data } = column as StringColumn;
        return (row) => writeField(data, offsets[row], offsets[row + 1]);
      }
    }
  };

  const fields = batch.schema.fields;
  const columns = fields.map((f) => batch.columns[f.name]);
  const writers = columns.map(cellWriter);
  const validity = columns.map((c) => (c.nullCount > 0 ? c.validity : undefined));
  const count = columns.length;

  if (options.header) {
    fields.forEach((f, i) => {
      if (i > 0) writeAscii(",");
      const bytes = encoder.encode(f.name);
      writeField(bytes, 0, bytes.length);
    });
    writeAscii("\n");
  }
  for (let row = from; row < to; row++) {
    for (let c = 0; c < count; c++) {
      if (c > 0) {
        ensure(1);
        buf[pos++] = COMMA;
      }
      const v = validity[c];
      if (v !== undefined && ((v[row >> 3] >> (row & 7)) & 1) === 0) continue;
      writers[c](row);
    }
    ensure(1);
    buf[pos++] = LF;
    if (done.length > 0) {
      yield* done;
      done = [];
    }
  }
  if (pos > 0) yield buf.subarray(0, pos);
}

/** The whole CSV encoding of `batch` in one buffer, for small batches and tests. */
export function encodeCsvBytes(batch: Batch, options: CsvEncodeOptions = {}): Uint8Array {
  const chunks = [...encodeCsv(batch, options)];
  return chunks.length === 1 ? chunks[0] : concatBytes(chunks);
}
