/**
 * The evaluator's working vectors and the bit-level helpers they share with the transforms.
 *
 * A `Vec` is a column without a name. A scalar (a literal, `now()`) is a vector of length 1 that kernels read
 * with stride 0, so one loop serves vector⊕vector, vector⊕scalar and scalar⊕scalar. Booleans are one byte
 * per row here (bit packing is only done at the batch boundary), and `errors` marks, one byte per row, the
 * rows where a runtime error (division by zero, a failed cast, an overflow) turned the value into null.
 *
 * @module
 */

import type { Column, ColumnType } from "../batch.ts";
import { countNulls } from "../batch.ts";

interface VecBase {
  /** Rows, or 1 for a scalar. */
  readonly length: number;
  /** Bitmap, LSB first, 1 = valid; absent when every row is valid. */
  readonly validity?: Uint8Array;
  /** One byte per row, 1 = a runtime error produced this row's null; absent when none did. */
  readonly errors?: Uint8Array;
}

/** int64, decimal (scaled), timestamp (µs) and interval (µs) values. */
export interface I64Vec extends VecBase {
  readonly kind: "i64";
  readonly values: BigInt64Array;
}
/** float64 values. */
export interface F64Vec extends VecBase {
  readonly kind: "f64";
  readonly values: Float64Array;
}
/** Dates: days since the epoch. */
export interface I32Vec extends VecBase {
  readonly kind: "i32";
  readonly values: Int32Array;
}
/** Booleans, one byte (0 or 1) per row. */
export interface BoolVec extends VecBase {
  readonly kind: "bool";
  readonly values: Uint8Array;
}
/** UTF-8 strings in Arrow layout. */
export interface StrVec extends VecBase {
  readonly kind: "str";
  readonly offsets: Int32Array;
  readonly data: Uint8Array;
}

/** A column of values under evaluation. */
export type Vec = I64Vec | F64Vec | I32Vec | BoolVec | StrVec;

/** The physical kind that stores a logical type. */
export type VecKind = Vec["kind"];

/** The physical kind of `type`; `interval` is µs in an int64 like timestamps. */
export function kindOf(type: { type: string }): VecKind {
  switch (type.type) {
    case "int64":
    case "decimal":
    case "timestamp":
    case "interval":
      return "i64";
    case "float64":
      return "f64";
    case "date":
      return "i32";
    case "boolean":
      return "bool";
    default:
      return "str";
  }
}

// ------------------------------------------------------------------------------------------- bitmaps

/** Whether bit `i` of a validity bitmap is set; an absent bitmap means every row is valid. */
export function bit(validity: Uint8Array | undefined, i: number): boolean {
  return validity === undefined || ((validity[i >> 3] >> (i & 7)) & 1) === 1;
}

/** A bitmap of `n` bits, all set. */
export function allValid(n: number): Uint8Array {
  const out = new Uint8Array((n + 7) >> 3).fill(0xff);
  // Trailing bits stay clear so that byte-wise popcounts and comparisons see only real rows.
  if (n & 7) out[out.length - 1] = (1 << (n & 7)) - 1;
  return out;
}

/** Clears bit `i`. */
export function clearBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] &= ~(1 << (i & 7));
}

/** Sets bit `i`. */
export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] |= 1 << (i & 7);
}

/** The validity of `vec` over `n` rows: absent when all are valid; a null scalar gives an all-clear bitmap. */
export function validityOver(vec: Vec, n: number): Uint8Array | undefined {
  if (vec.validity === undefined) return undefined;
  if (vec.length === 1 && n !== 1) return bit(vec.validity, 0) ? undefined : new Uint8Array((n + 7) >> 3);
  return vec.validity;
}

/** The rows valid in every input (a fresh bitmap, or absent when all are valid). */
export function andValidity(n: number, vecs: readonly Vec[]): Uint8Array | undefined {
  let out: Uint8Array | undefined;
  for (const vec of vecs) {
    const v = validityOver(vec, n);
    if (v === undefined) continue;
    if (out === undefined) out = v.slice();
    else for (let i = 0; i < out.length; i++) out[i] &= v[i];
  }
  return out;
}

/** Whether a scalar input is null: then every output row is null and no kernel needs to run. */
export function isNullScalar(vec: Vec): boolean {
  return vec.length === 1 && !bit(vec.validity, 0);
}

/** Rows over `n` (1 when every input is a scalar). */
export function outLength(n: number, vecs: readonly Vec[]): number {
  return vecs.every((v) => v.length === 1) ? 1 : n;
}

// -------------------------------------------------------------------------------------------- errors

/** The union of error rows over `n` rows (a fresh array, or absent when none); scalars mark every row. */
export function unionErrors(n: number, all: readonly (Uint8Array | undefined)[]): Uint8Array | undefined {
  let out: Uint8Array | undefined;
  for (const e of all) {
    if (e === undefined) continue;
    out ??= new Uint8Array(n);
    if (e.length === 1 && n !== 1) {
      if (e[0]) out.fill(1);
    } else {
      for (let i = 0; i < n; i++) out[i] |= e[i];
    }
  }
  return out;
}

/** Rows marked in an error array. */
export function countErrors(errors: Uint8Array | undefined, n: number): number {
  if (errors === undefined) return 0;
  if (errors.length === 1) return errors[0] ? n : 0;
  let count = 0;
  for (let i = 0; i < errors.length; i++) count += errors[i];
  return count;
}

/** A vector of every kind, all null, of `length` rows. */
export function nullVec(kind: VecKind, length: number): Vec {
  const validity = new Uint8Array((length + 7) >> 3);
  switch (kind) {
    case "i64":
      return { kind, length, validity, values: new BigInt64Array(length) };
    case "f64":
      return { kind, length, validity, values: new Float64Array(length) };
    case "i32":
      return { kind, length, validity, values: new Int32Array(length) };
    case "bool":
      return { kind, length, validity, values: new Uint8Array(length) };
    case "str":
      return { kind, length, validity, offsets: new Int32Array(length + 1), data: new Uint8Array(0) };
  }
}

// ----------------------------------------------------------------------------------- int64 as doubles

/**
 * int64 values read as doubles without allocating a BigInt per row: the low and high 32-bit halves of a
 * BigInt64Array, little-endian (checked at load). Values within ±2^53 are exact; beyond that the kernels take a
 * BigInt path.
 */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** 2^32. */
export const TWO32 = 4294967296;
/** Beyond this magnitude a double no longer holds every integer. */
export const MAX_EXACT = 9007199254740992;

/** The 32-bit halves of a BigInt64Array: `lo` unsigned, `hi` signed, interleaved (lo, hi, lo, hi…). */
export function halves(values: BigInt64Array): { lo: Uint32Array; hi: Int32Array } {
  return {
    lo: new Uint32Array(values.buffer, values.byteOffset, values.length * 2),
    hi: new Int32Array(values.buffer, values.byteOffset, values.length * 2),
  };
}

// -------------------------------------------------------------------------------------------- strings

const encoder = new TextEncoder();

/** Builds a UTF-8 string column row by row. */
export class StringBuilder {
  #data: Uint8Array;
  #length = 0;
  #row = 0;
  readonly offsets: Int32Array;

  constructor(rows: number, bytesHint = rows * 8) {
    this.offsets = new Int32Array(rows + 1);
    this.#data = new Uint8Array(Math.max(16, bytesHint));
  }

  /** Appends `text` as the next row. */
  push(text: string): void {
    // UTF-16 code units expand to at most 3 UTF-8 bytes each.
    this.#reserve(text.length * 3);
    const { written } = encoder.encodeInto(text, this.#data.subarray(this.#length));
    this.#length += written;
    this.offsets[++this.#row] = this.#length;
  }

  /** Appends `data[from..to)` (UTF-8) as the next row. */
  pushBytes(data: Uint8Array, from: number, to: number): void {
    this.#reserve(to - from);
    this.#data.set(data.subarray(from, to), this.#length);
    this.#length += to - from;
    this.offsets[++this.#row] = this.#length;
  }

  /** Appends an empty value (for a null row). */
  pushEmpty(): void {
    this.offsets[++this.#row] = this.#length;
  }

  /** The bytes written so far, trimmed. */
  data(): Uint8Array {
    return this.#data.slice(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#data.length) return;
    const next = new Uint8Array(Math.max(this.#data.length * 2, this.#length + extra));
    next.set(this.#data.subarray(0, this.#length));
    this.#data = next;
  }
}

const decoder = new TextDecoder();

/** Row `i` of a string vector, decoded (stride 0 for scalars). */
export function stringAt(vec: StrVec, i: number): string {
  const r = vec.length === 1 ? 0 : i;
  return decoder.decode(vec.data.subarray(vec.offsets[r], vec.offsets[r + 1]));
}

// -------------------------------------------------------------------------------- column ↔ vector

/** A batch column as a vector; every buffer except a boolean's values is shared, not copied. */
export function columnToVec(column: Column): Vec {
  const { length, validity } = column;
  switch (column.type) {
    case "int64":
    case "decimal":
    case "timestamp":
      return { kind: "i64", length, validity, values: column.values };
    case "float64":
      return { kind: "f64", length, validity, values: column.values };
    case "date":
      return { kind: "i32", length, validity, values: column.values };
    case "boolean": {
      const values = new Uint8Array(length);
      const bits = column.values;
      for (let i = 0; i < length; i++) values[i] = (bits[i >> 3] >> (i & 7)) & 1;
      return { kind: "bool", length, validity, values };
    }
    case "string":
      return { kind: "str", length, validity, offsets: column.offsets, data: column.data };
  }
}

/** Repeats a scalar `n` times. */
export function broadcast(vec: Vec, n: number): Vec {
  if (vec.length === n) return vec;
  const valid = bit(vec.validity, 0);
  const validity = valid ? undefined : new Uint8Array((n + 7) >> 3);
  const errors = vec.errors?.[0] ? new Uint8Array(n).fill(1) : undefined;
  switch (vec.kind) {
    case "i64":
      return { kind: "i64", length: n, validity, errors, values: new BigInt64Array(n).fill(vec.values[0]) };
    case "f64":
      return { kind: "f64", length: n, validity, errors, values: new Float64Array(n).fill(vec.values[0]) };
    case "i32":
      return { kind: "i32", length: n, validity, errors, values: new Int32Array(n).fill(vec.values[0]) };
    case "bool":
      return { kind: "bool", length: n, validity, errors, values: new Uint8Array(n).fill(vec.values[0]) };
    case "str": {
      const value = vec.data.subarray(vec.offsets[0], vec.offsets[1]);
      const data = new Uint8Array(value.length * n);
      const offsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) {
        data.set(value, i * value.length);
        offsets[i + 1] = (i + 1) * value.length;
      }
      return { kind: "str", length: n, validity, errors, offsets, data };
    }
  }
}

/** A vector as a named batch column of `type`, `n` rows (scalars are repeated). */
export function vecToColumn(vec: Vec, options: { name: string; type: ColumnType; n: number }): Column {
  const { name, type, n } = options;
  const full = broadcast(vec, n);
  const nullCount = full.validity === undefined ? 0 : countNulls(full.validity, n);
  const base = { name, length: n, nullCount, ...(nullCount > 0 ? { validity: full.validity } : {}) };
  switch (type.type) {
    case "int64":
    case "timestamp":
      return { ...base, type: type.type, values: (full as I64Vec).values };
    case "decimal":
      return {
        ...base,
        type: "decimal",
        precision: type.precision,
        scale: type.scale,
        values: (full as I64Vec).values,
      };
    case "float64":
      return { ...base, type: "float64", values: (full as F64Vec).values };
    case "date":
      return { ...base, type: "date", values: (full as I32Vec).values };
    case "boolean": {
      const bytes = (full as BoolVec).values;
      const values = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) if (bytes[i]) values[i >> 3] |= 1 << (i & 7);
      return { ...base, type: "boolean", values };
    }
    case "string":
      return { ...base, type: "string", offsets: (full as StrVec).offsets, data: (full as StrVec).data };
  }
}
