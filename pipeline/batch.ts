/**
 * The columnar `Batch` that flows through a pipeline, in Arrow layout so its buffers can be handed to
 * workers (transferred, not copied), to the kernels and to Arrow-speaking sinks as they are:
 *
 * | type        | values                                   | Arrow type                 |
 * |-------------|------------------------------------------|----------------------------|
 * | `int64`     | `BigInt64Array`                          | Int64                      |
 * | `float64`   | `Float64Array`                           | Float64                    |
 * | `decimal`   | `BigInt64Array` of value × 10^scale      | Decimal64(precision, scale) |
 * | `boolean`   | `Uint8Array` bitmap, LSB first           | Boolean                    |
 * | `date`      | `Int32Array` days since 1970-01-01       | Date32                     |
 * | `timestamp` | `BigInt64Array` µs since the epoch       | Timestamp(µs, "UTC")       |
 * | `string`    | `offsets: Int32Array` (length + 1) and `data: Uint8Array` UTF-8 | Utf8 |
 *
 * `validity` is a bitmap, LSB first, 1 = valid; it is absent when no value is null. `lines` holds the
 * 1-based line where each row starts in the original input, for rejects and the dead-letter queue.
 *
 * @module
 */

/** The type of a column; decimals carry precision (at most 18: the value is an int64) and scale. */
export type ColumnType =
  | { readonly type: "int64" | "float64" | "boolean" | "date" | "timestamp" | "string" }
  | { readonly type: "decimal"; readonly precision: number; readonly scale: number };

/** The name of a column type. */
export type ColumnTypeName = ColumnType["type"];

/** A named, typed column of a schema. */
export type Field = ColumnType & { readonly name: string };

interface ColumnBase {
  /** Column name. */
  readonly name: string;
  /** Rows in the column (equals the batch length). */
  readonly length: number;
  /** Null values in the column. */
  readonly nullCount: number;
  /** Bitmap, LSB first, 1 = valid; absent when `nullCount` is 0. */
  readonly validity?: Uint8Array;
}

/** An int64 column. */
export interface Int64Column extends ColumnBase {
  readonly type: "int64";
  readonly values: BigInt64Array;
}

/** A float64 column. */
export interface Float64Column extends ColumnBase {
  readonly type: "float64";
  readonly values: Float64Array;
}

/** A decimal column: each value is the decimal × 10^scale, exactly. */
export interface DecimalColumn extends ColumnBase {
  readonly type: "decimal";
  readonly precision: number;
  readonly scale: number;
  readonly values: BigInt64Array;
}

/** A boolean column: `values` is a bitmap, LSB first. */
export interface BooleanColumn extends ColumnBase {
  readonly type: "boolean";
  readonly values: Uint8Array;
}

/** A date column: days since 1970-01-01. */
export interface DateColumn extends ColumnBase {
  readonly type: "date";
  readonly values: Int32Array;
}

/** A timestamp column: microseconds since 1970-01-01T00:00:00Z. */
export interface TimestampColumn extends ColumnBase {
  readonly type: "timestamp";
  readonly values: BigInt64Array;
}

/** A UTF-8 string column: value i is `data[offsets[i] .. offsets[i + 1])`. */
export interface StringColumn extends ColumnBase {
  readonly type: "string";
  readonly offsets: Int32Array;
  readonly data: Uint8Array;
}

/** One column of a batch, discriminated by `type`. */
export type Column =
  | Int64Column
  | Float64Column
  | DecimalColumn
  | BooleanColumn
  | DateColumn
  | TimestampColumn
  | StringColumn;

/** The columns of a batch, in order (Arrow's `Schema`, without metadata). */
export interface Schema {
  /** Names and types of the columns, in order. */
  readonly fields: readonly Field[];
}

/** Rows in columns. */
export interface Batch {
  /** The columns' names and types, in order. */
  readonly schema: Schema;
  /** Rows in the batch. */
  readonly length: number;
  /** 1-based line in the original input where each row starts. */
  readonly lines: Int32Array;
  /** Columns by name, in field order. */
  readonly columns: Readonly<Record<string, Column>>;
}

/** A JS value of one cell: see {@linkcode cellValue}. */
export type CellValue = bigint | number | string | boolean | null;

/** Whether row `row` of `column` is null. */
export function isNull(column: Column, row: number): boolean {
  const v = column.validity;
  return v !== undefined && ((v[row >> 3] >> (row & 7)) & 1) === 0;
}

const decoder = new TextDecoder();
const MICROS_PER_DAY = 86_400_000_000n;

/** A decimal's scaled integer as text with exactly `scale` fractional digits, e.g. `-12.30`. */
export function formatDecimal(value: bigint, scale: number): string {
  const neg = value < 0n;
  const digits = (neg ? -value : value).toString().padStart(scale + 1, "0");
  const body = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return neg ? `-${body}` : body;
}

/** Days since the epoch as `YYYY-MM-DD`. */
export function formatDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** The civil date of a day number (Howard Hinnant's civil_from_days, no Date objects); writes `[year, month, day]` into `out` to avoid allocating per row. */
export function civilFromDays(days: number, out: Int32Array): void {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  out[0] = yoe + era * 400 + (m <= 2 ? 1 : 0);
  out[1] = m;
  out[2] = d;
}

/** Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (full precision, unlike `Date`). */
export function formatTimestamp(micros: bigint): string {
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const date = formatDate(Number(days));
  const seconds = Number(rest / 1_000_000n);
  const hh = String(Math.floor(seconds / 3600)).padStart(2, "0");
  const mm = String(Math.floor(seconds / 60) % 60).padStart(2, "0");
  const ss = String(seconds % 60).padStart(2, "0");
  const frac = String(rest % 1_000_000n).padStart(6, "0");
  return `${date}T${hh}:${mm}:${ss}.${frac}Z`;
}

/**
 * Row `row` of `column` as a JS value: `null` for null, `bigint` for int64, `number` for float64,
 * `boolean`, and text for the rest (decimal via {@linkcode formatDecimal}, date via
 * {@linkcode formatDate}, timestamp via {@linkcode formatTimestamp}, strings decoded).
 */
export function cellValue(column: Column, row: number): CellValue {
  if (isNull(column, row)) return null;
  switch (column.type) {
    case "int64":
    case "float64":
      return column.values[row];
    case "decimal":
      return formatDecimal(column.values[row], column.scale);
    case "boolean":
      return ((column.values[row >> 3] >> (row & 7)) & 1) === 1;
    case "date":
      return formatDate(column.values[row]);
    case "timestamp":
      return formatTimestamp(column.values[row]);
    case "string":
      return decoder.decode(column.data.subarray(column.offsets[row], column.offsets[row + 1]));
  }
}

/** Row `row` of `batch` as values in field order. */
export function rowValues(batch: Batch, row: number): CellValue[] {
  return batch.schema.fields.map((f) => cellValue(batch.columns[f.name], row));
}

/** Row `row` of `batch` as an object keyed by column name. */
export function rowObject(batch: Batch, row: number): Record<string, CellValue> {
  const out: Record<string, CellValue> = {};
  for (const f of batch.schema.fields) out[f.name] = cellValue(batch.columns[f.name], row);
  return out;
}

/** The buffers of `batch`, for `postMessage(batch, { transfer })`. */
export function batchBuffers(batch: Batch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (a: ArrayBufferView | undefined) => {
    if (a && a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  };
  add(batch.lines);
  for (const c of Object.values(batch.columns)) {
    add(c.validity);
    if (c.type === "string") {
      add(c.offsets);
      add(c.data);
    } else {
      add(c.values);
    }
  }
  return [...out];
}

/** Null values in the first `length` bits of a validity bitmap. */
export function countNulls(validity: Uint8Array, length: number): number {
  let valid = 0;
  const whole = length >> 3;
  let i = 0;
  // Most bitmaps are all or nearly all ones: whole 32-bit words of ones are counted without a byte lookup.
  if (validity.byteOffset % 4 === 0) {
    const words = new Int32Array(validity.buffer, validity.byteOffset, whole >> 2);
    for (let w = 0; w < words.length; w++) {
      const word = words[w];
      if (word === -1) {
        valid += 32;
      } else {
        const at = w << 2;
        valid += POPCOUNT[validity[at]] + POPCOUNT[validity[at + 1]] + POPCOUNT[validity[at + 2]] +
          POPCOUNT[validity[at + 3]];
      }
    }
    i = words.length << 2;
  }
  for (; i < whole; i++) valid += POPCOUNT[validity[i]];
  for (let i = whole << 3; i < length; i++) valid += (validity[i >> 3] >> (i & 7)) & 1;
  return length - valid;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let x = i; x; x >>= 1) n += x & 1;
  return n;
});

const encoder = new TextEncoder();

/**
 * Builds a batch from row values, for tests and small inputs. Values: `bigint` or integer `number` for
 * int64; `number` for float64; decimal text or a scaled `bigint` for decimal; `boolean`; `YYYY-MM-DD` or
 * days for date; ISO text or µs `bigint` for timestamp; `string`; `null` or `undefined` for null.
 *
 * @example
 * ```ts
 * import { batchFromRows, rowObject } from "./batch.ts";
 * const batch = batchFromRows([{ name: "id", type: "int64" }, { name: "tag", type: "string" }], [[1n, "a"], [2n, null]]);
 * if (rowObject(batch, 1).tag !== null) throw new Error("expected a null");
 * ```
 */
export function batchFromRows(
  fields: readonly Field[],
  rows: readonly (readonly unknown[])[],
  options: { lines?: readonly number[] } = {},
): Batch {
  const n = rows.length;
  const columns: Record<string, Column> = {};
  fields.forEach((f, c) => {
    const validity = new Uint8Array((n + 7) >> 3);
    let nulls = 0;
    const present = (i: number): unknown => {
      const v = rows[i][c];
      if (v === null || v === undefined) {
        nulls++;
        return undefined;
      }
      validity[i >> 3] |= 1 << (i & 7);
      return v;
    };
    const base = { name: f.name, length: n };
    const finish = () => ({ ...base, nullCount: nulls, ...(nulls > 0 ? { validity } : {}) });
    switch (f.type) {
      case "int64":
      case "timestamp": {
        const values = new BigInt64Array(n);
        for (let i = 0; i < n; i++) {
          const v = present(i);
          if (v === undefined) continue;
          values[i] = f.type === "timestamp" && typeof v === "string"
            ? parseTimestampText(v)
            : BigInt(v as bigint);
        }
        columns[f.name] = { type: f.type, values, ...finish() };
        break;
      }
      case "decimal": {
        const values = new BigInt64Array(n);
        for (let i = 0; i < n; i++) {
          const v = present(i);
          if (v !== undefined) values[i] = typeof v === "bigint" ? v : scaleDecimal(String(v), f.scale);
        }
        columns[f.name] = { type: "decimal", precision: f.precision, scale: f.scale, values, ...finish() };
        break;
      }
      case "float64": {
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const v = present(i);
          if (v !== undefined) values[i] = Number(v);
        }
        columns[f.name] = { type: "float64", values, ...finish() };
        break;
      }
      case "date": {
        const values = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          const v = present(i);
          if (v !== undefined) {
            values[i] = typeof v === "string" ? Date.parse(`${v}T00:00:00Z`) / 86_400_000 : Number(v);
          }
        }
        columns[f.name] = { type: "date", values, ...finish() };
        break;
      }
      case "boolean": {
        const values = new Uint8Array((n + 7) >> 3);
        for (let i = 0; i < n; i++) {
          if (present(i) === true) values[i >> 3] |= 1 << (i & 7);
        }
        columns[f.name] = { type: "boolean", values, ...finish() };
        break;
      }
      case "string": {
        const parts: Uint8Array[] = [];
        const offsets = new Int32Array(n + 1);
        let at = 0;
        for (let i = 0; i < n; i++) {
          const v = present(i);
          if (v !== undefined) {
            const bytes = encoder.encode(String(v));
            parts.push(bytes);
            at += bytes.length;
          }
          offsets[i + 1] = at;
        }
        const data = new Uint8Array(at);
        let w = 0;
        for (const p of parts) {
          data.set(p, w);
          w += p.length;
        }
        columns[f.name] = { type: "string", offsets, data, ...finish() };
        break;
      }
    }
  });
  const lines = Int32Array.from(options.lines ?? rows.map((_, i) => i + 1));
  return { schema: { fields }, length: n, lines, columns };
}

function scaleDecimal(text: string, scale: number): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m) throw new RangeError(`Not a decimal: ${text}`);
  const frac = (m[3] ?? "").padEnd(scale, "0").slice(0, scale);
  const v = BigInt((m[2] || "0") + frac);
  return m[1] === "-" ? -v : v;
}

function parseTimestampText(text: string): bigint {
  if (/^\d{4}-\d\d-\d\d$/.test(text)) text += "T00:00:00Z";
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$/i.exec(text);
  const ms = Date.parse(`${m?.[1]}${m?.[3] ?? "Z"}`);
  if (!m || Number.isNaN(ms)) throw new RangeError(`Not a timestamp: ${text}`);
  return BigInt(ms) * 1000n + BigInt((m[2] ?? "").padEnd(6, "0").slice(0, 6) || "0");
}
