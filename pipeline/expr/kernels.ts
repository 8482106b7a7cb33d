/**
 * Vectorized kernels of the expression evaluator: one loop over typed arrays per operator, no per-row
 * objects. Integer kernels read int64 values as two 32-bit halves and compute in doubles while the values are
 * within ±2^53 (exact there), falling back to BigInt for a row only when they are not, so `amount * qty` runs
 * without allocating. Runtime errors (division by zero, overflow, a failed cast) null the row and mark it in
 * `errors`.
 *
 * @module
 */

import { formatDate, formatDecimal, formatTimestamp } from "../batch.ts";
import { daysFromCivil, parseDateText, parseTimestampText } from "./syntax.ts";
import { civilFromDays } from "../batch.ts";
import {
  allValid,
  andValidity,
  bit,
  type BoolVec,
  clearBit,
  type F64Vec,
  halves,
  type I32Vec,
  type I64Vec,
  isNullScalar,
  kindOf,
  MAX_EXACT,
  nullVec,
  outLength,
  stringAt,
  StringBuilder,
  type StrVec,
  TWO32,
  unionErrors,
  type Vec,
} from "./vector.ts";
import type { ExprType } from "./types.ts";

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const HI_SAFE = 2097152; // 2^21: |hi| below it keeps |value| below 2^53
const MICROS_PER_DAY = 86_400_000_000;

/** 10^k as a bigint. */
export const pow10n = (k: number): bigint => 10n ** BigInt(k);

/** Tracks the rows a kernel nulled because of a runtime error. */
class Faults {
  validity: Uint8Array | undefined;
  errors: Uint8Array | undefined;
  readonly #n: number;

  constructor(n: number, validity: Uint8Array | undefined) {
    this.#n = n;
    this.validity = validity;
  }

  mark(i: number): void {
    this.validity ??= allValid(this.#n);
    clearBit(this.validity, i);
    this.errors ??= new Uint8Array(this.#n);
    this.errors[i] = 1;
  }

  /** Input errors plus this kernel's. */
  errorsWith(inputs: readonly Vec[]): Uint8Array | undefined {
    return unionErrors(this.#n, [...inputs.map((v) => v.errors), this.errors]);
  }
}

/** The bounds of an integer result: int64's range, or ±(10^precision − 1) for a decimal. */
export interface IntBounds {
  readonly min: bigint;
  readonly max: bigint;
}

/** Bounds of an int64 result. */
export const INT64_BOUNDS: IntBounds = { min: INT64_MIN, max: INT64_MAX };

/** Bounds of a decimal result of `precision` digits. */
export function decimalBounds(precision: number): IntBounds {
  const max = pow10n(precision) - 1n;
  return { min: -max, max };
}

/**
 * `a op b` over int64 storage (int64, decimal, timestamp, interval): `a` is first scaled by 10^`scaleA` and `b`
 * by 10^`scaleB` (to line decimals up), then added, subtracted, multiplied or divided with remainder. Results
 * outside `bounds`, and `% 0`, null the row as errors.
 */
export function intArith(
  op: "+" | "-" | "*" | "%",
  operands: readonly [I64Vec, I64Vec],
  options: { n: number; scaleA?: number; scaleB?: number; bounds: IntBounds },
): I64Vec {
  const [a, b] = operands;
  const len = outLength(options.n, operands);
  if (isNullScalar(a) || isNullScalar(b)) {
    return { ...nullVec("i64", len), errors: unionErrors(len, [a.errors, b.errors]) } as I64Vec;
  }
  const validity = andValidity(len, operands);
  const faults = new Faults(len, validity);
  const out = new BigInt64Array(len);
  const A = halves(a.values);
  const B = halves(b.values);
  const O = halves(out);
  const scaleA = options.scaleA ?? 0;
  const scaleB = options.scaleB ?? 0;
  const { min, max } = options.bounds;
  const opCode = op === "+" ? 0 : op === "-" ? 1 : op === "*" ? 2 : 3;
  const slow = fastIntLoop(opCode, {
    len,
    a: [A.lo, A.hi, a.length === 1 ? 0 : 2, 10 ** scaleA],
    b: [B.lo, B.hi, b.length === 1 ? 0 : 2, 10 ** scaleB],
    out: [O.lo, O.hi],
    validity,
    limit: Math.min(Number(max), MAX_EXACT - 1),
  });
  for (let k = 0; k < slow.length; k++) {
    // Outside the exact range of doubles (or `% 0`): redo this row exactly.
    const i = slow[k];
    const x = a.values[a.length === 1 ? 0 : i] * pow10n(scaleA);
    const y = b.values[b.length === 1 ? 0 : i] * pow10n(scaleB);
    if (opCode === 3 && y === 0n) {
      faults.mark(i);
      continue;
    }
    const big = opCode === 0 ? x + y : opCode === 1 ? x - y : opCode === 2 ? x * y : x % y;
    if (big > max || big < min) faults.mark(i);
    else out[i] = big;
  }
  return {
    kind: "i64",
    length: len,
    values: out,
    validity: faults.validity,
    errors: faults.errorsWith(operands),
  };
}

type Halves = [lo: Uint32Array, hi: Int32Array, stride: number, factor: number];

/**
 * The hot loop of {@linkcode intArith}, kept free of BigInt so V8 compiles it to plain float arithmetic.
 * Returns the rows it could not compute exactly.
 */
function fastIntLoop(
  opCode: number,
  args: {
    len: number;
    a: Halves;
    b: Halves;
    out: [Uint32Array, Int32Array];
    validity?: Uint8Array;
    limit: number;
  },
): number[] {
  const { len, validity, limit } = args;
  const [aLo, aHi, sa, fa] = args.a;
  const [bLo, bHi, sb, fb] = args.b;
  const [oLo, oHi] = args.out;
  const slow: number[] = [];
  for (let i = 0; i < len; i++) {
    if (validity !== undefined && ((validity[i >> 3] >> (i & 7)) & 1) === 0) continue;
    const ia = i * sa;
    const ib = i * sb;
    const ha = aHi[ia + 1];
    const hb = bHi[ib + 1];
    let r = NaN;
    if (ha >= -HI_SAFE && ha < HI_SAFE && hb >= -HI_SAFE && hb < HI_SAFE) {
      const x = (ha * TWO32 + aLo[ia]) * fa;
      const y = (hb * TWO32 + bLo[ib]) * fb;
      if (x < MAX_EXACT && x > -MAX_EXACT && y < MAX_EXACT && y > -MAX_EXACT) {
        r = opCode === 0 ? x + y : opCode === 1 ? x - y : opCode === 2 ? x * y : x % y;
      }
    }
    if (r <= limit && r >= -limit) {
      oLo[2 * i] = r >>> 0;
      oHi[2 * i + 1] = Math.floor(r / TWO32);
    } else slow.push(i);
  }
  return slow;
}

/**
 * Exact decimal division: `round(a × 10^shift / b)`, half away from zero; `/ 0` and results outside `bounds`
 * are errors.
 */
export function decimalDivide(
  operands: readonly [I64Vec, I64Vec],
  options: { n: number; shift: number; bounds: IntBounds; op: "/" | "div" },
): I64Vec {
  const [a, b] = operands;
  const len = outLength(options.n, operands);
  if (isNullScalar(a) || isNullScalar(b)) {
    return { ...nullVec("i64", len), errors: unionErrors(len, [a.errors, b.errors]) } as I64Vec;
  }
  const faults = new Faults(len, andValidity(len, operands));
  const out = new BigInt64Array(len);
  const factor = pow10n(options.shift);
  for (let i = 0; i < len; i++) {
    if (!bit(faults.validity, i)) continue;
    const y = b.values[b.length === 1 ? 0 : i];
    if (y === 0n) {
      faults.mark(i);
      continue;
    }
    const x = a.values[a.length === 1 ? 0 : i] * factor;
    const r = options.op === "div" ? x / y : roundDiv(x, y);
    if (r > options.bounds.max || r < options.bounds.min) faults.mark(i);
    else out[i] = r;
  }
  return {
    kind: "i64",
    length: len,
    values: out,
    validity: faults.validity,
    errors: faults.errorsWith(operands),
  };
}

/** `x / y` rounded half away from zero. */
export function roundDiv(x: bigint, y: bigint): bigint {
  const q = x / y;
  const r = x % y;
  if (r === 0n) return q;
  const twice = (r < 0n ? -r : r) * 2n;
  const ay = y < 0n ? -y : y;
  if (twice < ay) return q;
  return (x < 0n) !== (y < 0n) ? q - 1n : q + 1n;
}

/** `a op b` over doubles; `/ 0` and `% 0` are errors rather than Infinity or NaN. */
export function floatArith(
  op: "+" | "-" | "*" | "/" | "%",
  operands: readonly [F64Vec, F64Vec],
  n: number,
): F64Vec {
  const [a, b] = operands;
  const len = outLength(n, operands);
  if (isNullScalar(a) || isNullScalar(b)) {
    return { ...nullVec("f64", len), errors: unionErrors(len, [a.errors, b.errors]) } as F64Vec;
  }
  const faults = new Faults(len, andValidity(len, operands));
  const out = new Float64Array(len);
  const av = a.values;
  const bv = b.values;
  const sa = a.length === 1 ? 0 : 1;
  const sb = b.length === 1 ? 0 : 1;
  const opCode = op === "+" ? 0 : op === "-" ? 1 : op === "*" ? 2 : op === "/" ? 3 : 4;
  for (let i = 0; i < len; i++) {
    const x = av[i * sa];
    const y = bv[i * sb];
    if (opCode >= 3 && y === 0) {
      if (bit(faults.validity, i)) faults.mark(i);
      continue;
    }
    out[i] = opCode === 0
      ? x + y
      : opCode === 1
      ? x - y
      : opCode === 2
      ? x * y
      : opCode === 3
      ? x / y
      : x % y;
  }
  return {
    kind: "f64",
    length: len,
    values: out,
    validity: faults.validity,
    errors: faults.errorsWith(operands),
  };
}

/** An int64-stored vector (int64 or decimal of `scale`) as doubles. */
export function toFloat(vec: I64Vec, scale: number): F64Vec {
  const len = vec.length;
  const out = new Float64Array(len);
  const V = halves(vec.values);
  const f = 10 ** scale;
  for (let i = 0; i < len; i++) {
    const hi = V.hi[2 * i + 1];
    const x = hi >= -HI_SAFE && hi < HI_SAFE ? hi * TWO32 + V.lo[2 * i] : Number(vec.values[i]);
    out[i] = scale === 0 ? x : x / f;
  }
  return { kind: "f64", length: len, values: out, validity: vec.validity, errors: vec.errors };
}

/** A date vector as timestamps (midnight UTC). */
export function dateToTimestamp(vec: I32Vec): I64Vec {
  const out = new BigInt64Array(vec.length);
  const O = halves(out);
  for (let i = 0; i < vec.length; i++) {
    const r = vec.values[i] * MICROS_PER_DAY;
    O.lo[2 * i] = r >>> 0;
    O.hi[2 * i + 1] = Math.floor(r / TWO32);
  }
  return { kind: "i64", length: vec.length, values: out, validity: vec.validity, errors: vec.errors };
}

/** `-x` for int64 storage; negating the minimum is an overflow error. */
export function negateInt(vec: I64Vec, n: number): I64Vec {
  return intArith("-", [zeroI64, vec], { n, bounds: INT64_BOUNDS });
}

/** A scalar int64 zero. */
export const zeroI64: I64Vec = { kind: "i64", length: 1, values: new BigInt64Array(1) };

// ------------------------------------------------------------------------------------------ compare

/** A comparison operator. */
export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

// For each operator: the result when a < b, a = b, a > b.
const COMPARE_TABLE: Record<CompareOp, readonly [number, number, number]> = {
  "=": [0, 1, 0],
  "!=": [1, 0, 1],
  "<": [1, 0, 0],
  "<=": [1, 1, 0],
  ">": [0, 0, 1],
  ">=": [0, 1, 1],
};

/** Compares two vectors of the same kind (same decimal scale); null in, null out. */
export function compare(op: CompareOp, operands: readonly [Vec, Vec], n: number): BoolVec {
  const [a, b] = operands;
  const len = outLength(n, operands);
  const errors = unionErrors(len, [a.errors, b.errors]);
  if (isNullScalar(a) || isNullScalar(b)) return { ...nullVec("bool", len), errors } as BoolVec;
  const validity = andValidity(len, operands);
  const out = new Uint8Array(len);
  const [lt, eq, gt] = COMPARE_TABLE[op];
  const sa = a.length === 1 ? 0 : 1;
  const sb = b.length === 1 ? 0 : 1;
  if (a.kind === "i64" && b.kind === "i64") {
    // Signed high halves first, then unsigned low halves: exact without BigInt.
    const A = halves(a.values);
    const B = halves(b.values);
    for (let i = 0; i < len; i++) {
      const ia = 2 * i * sa;
      const ib = 2 * i * sb;
      const ha = A.hi[ia + 1];
      const hb = B.hi[ib + 1];
      if (ha !== hb) out[i] = ha < hb ? lt : gt;
      else {
        const la = A.lo[ia];
        const lb = B.lo[ib];
        out[i] = la < lb ? lt : la > lb ? gt : eq;
      }
    }
  } else if (a.kind === "str" && b.kind === "str") {
    for (let i = 0; i < len; i++) {
      const c = compareBytes(a, i * sa, b, i * sb);
      out[i] = c < 0 ? lt : c > 0 ? gt : eq;
    }
  } else if (a.kind !== "str" && b.kind !== "str") {
    const av = (a as F64Vec | I32Vec | BoolVec).values;
    const bv = (b as F64Vec | I32Vec | BoolVec).values;
    for (let i = 0; i < len; i++) {
      const x = av[i * sa];
      const y = bv[i * sb];
      out[i] = x < y ? lt : x > y ? gt : x === y ? eq : op === "!=" ? 1 : 0; // NaN is unequal to all
    }
  } else {
    throw new TypeError(`Cannot compare ${a.kind} with ${b.kind}`);
  }
  return { kind: "bool", length: len, values: out, validity, errors };
}

/** Byte-wise comparison of two UTF-8 values: code point order. */
function compareBytes(a: StrVec, i: number, b: StrVec, j: number): number {
  let x = a.offsets[i];
  const xe = a.offsets[i + 1];
  let y = b.offsets[j];
  const ye = b.offsets[j + 1];
  const ad = a.data;
  const bd = b.data;
  while (x < xe && y < ye) {
    const d = ad[x++] - bd[y++];
    if (d !== 0) return d;
  }
  return (xe - x) - (ye - y);
}

// ---------------------------------------------------------------------------------------- booleans

/** SQL three-valued AND/OR. Errors of the right side count only where the left side did not decide. */
export function logic(op: "and" | "or", operands: readonly [BoolVec, BoolVec], n: number): BoolVec {
  const [a, b] = operands;
  const len = outLength(n, operands);
  const out = new Uint8Array(len);
  let validity: Uint8Array | undefined;
  const decides = op === "and" ? 0 : 1;
  const sa = a.length === 1 ? 0 : 1;
  const sb = b.length === 1 ? 0 : 1;
  const av = a.validity;
  const bv = b.validity;
  let bErrors = b.errors;
  for (let i = 0; i < len; i++) {
    const ia = i * sa;
    const ib = i * sb;
    const aValid = av === undefined || ((av[ia >> 3] >> (ia & 7)) & 1) === 1;
    const bValid = bv === undefined || ((bv[ib >> 3] >> (ib & 7)) & 1) === 1;
    const x = a.values[i * sa];
    const y = b.values[i * sb];
    const aDecides = aValid && x === decides;
    if (aDecides || (bValid && y === decides)) out[i] = decides;
    else if (!aValid || !bValid) {
      validity ??= allValid(len);
      clearBit(validity, i);
    } else out[i] = 1 - decides;
    if (aDecides && bErrors !== undefined && bErrors[i * sb]) {
      // Short-circuit semantics for error counting: `qty <> 0 and amount / qty > 1` is not an error.
      if (bErrors.length === 1) bErrors = new Uint8Array(len).fill(1);
      else if (bErrors === b.errors) bErrors = bErrors.slice();
      bErrors[i] = 0;
    }
  }
  return { kind: "bool", length: len, values: out, validity, errors: unionErrors(len, [a.errors, bErrors]) };
}

/** SQL NOT: null stays null. */
export function not(vec: BoolVec): BoolVec {
  const out = new Uint8Array(vec.length);
  for (let i = 0; i < vec.length; i++) out[i] = 1 - vec.values[i];
  return { ...vec, values: out };
}

/** `x IS [NOT] NULL`: never null itself. */
export function isNull(vec: Vec, options: { n: number; negated: boolean }): BoolVec {
  const len = vec.length;
  const out = new Uint8Array(len);
  const yes = options.negated ? 0 : 1;
  for (let i = 0; i < len; i++) out[i] = bit(vec.validity, i) ? 1 - yes : yes;
  return { kind: "bool", length: len, values: out, errors: vec.errors };
}

// -------------------------------------------------------------------------------------------- choose

/**
 * Row `i` of the result is row `i` of `sources[pick[i]]`, or null where `pick[i]` is −1: the kernel behind
 * IF, CASE and COALESCE. Errors of a source count only on the rows it was picked for.
 */
export function choose(
  kind: Vec["kind"],
  sources: readonly Vec[],
  options: { n: number; pick: Int32Array },
): Vec {
  const { n, pick } = options;
  let validity: Uint8Array | undefined;
  let errors: Uint8Array | undefined;
  const nullAt = (i: number) => {
    validity ??= allValid(n);
    clearBit(validity, i);
  };
  const row = (src: Vec, i: number) => (src.length === 1 ? 0 : i);
  const markError = (src: Vec, i: number) => {
    if (src.errors !== undefined && src.errors[row(src, i)]) {
      errors ??= new Uint8Array(n);
      errors[i] = 1;
    }
  };
  if (kind === "str") {
    const builder = new StringBuilder(n);
    for (let i = 0; i < n; i++) {
      const p = pick[i];
      const src = sources[p] as StrVec | undefined;
      if (src === undefined || !bit(src.validity, row(src, i))) {
        if (src) markError(src, i);
        nullAt(i);
        builder.pushEmpty();
        continue;
      }
      const r = row(src, i);
      builder.pushBytes(src.data, src.offsets[r], src.offsets[r + 1]);
    }
    return { kind: "str", length: n, offsets: builder.offsets, data: builder.data(), validity, errors };
  }
  const out = kind === "i64"
    ? new BigInt64Array(n)
    : kind === "f64"
    ? new Float64Array(n)
    : kind === "i32"
    ? new Int32Array(n)
    : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const src = sources[pick[i]] as I64Vec | F64Vec | I32Vec | BoolVec | undefined;
    if (src === undefined) {
      nullAt(i);
      continue;
    }
    const r = row(src, i);
    if (!bit(src.validity, r)) {
      markError(src, i);
      nullAt(i);
      continue;
    }
    out[i] = src.values[r];
  }
  return { kind, length: n, values: out, validity, errors } as Vec;
}

// --------------------------------------------------------------------------------------------- casts

/** A logical type of a value under evaluation (see types.ts). */
type T = ExprType;

/**
 * Converts `vec` from `from` to `to`. Values that do not convert (unparsable text, out of range, NaN) become
 * null and are marked as errors. The caller has checked that the pair is allowed ({@linkcode canCast}).
 */
export function cast(vec: Vec, options: { from: T; to: T; n: number }): Vec {
  const { from, to } = options;
  const len = vec.length;
  if (from.type === "null") return { ...nullVec(kindOf(to), len), errors: vec.errors };
  if (sameType(from, to)) return vec;
  if (to.type === "string") return toText(vec, from);
  if (from.type === "string") return fromText(vec as StrVec, to);
  if (from.type === "int64" || from.type === "decimal") {
    const scale = from.type === "decimal" ? from.scale : 0;
    const i64 = vec as I64Vec;
    switch (to.type) {
      case "float64":
        return toFloat(i64, scale);
      case "int64":
        return rescale(i64, { from: scale, to: 0, bounds: INT64_BOUNDS, n: len });
      case "decimal":
        return rescale(i64, { from: scale, to: to.scale, bounds: decimalBounds(to.precision), n: len });
      case "boolean":
        return mapRows(vec, "bool", (i) => (i64.values[i] !== 0n ? 1 : 0));
    }
  }
  if (from.type === "float64") {
    const f = vec as F64Vec;
    switch (to.type) {
      case "int64":
        return mapRows(vec, "i64", (i) => {
          const x = f.values[i];
          if (!Number.isFinite(x)) return undefined;
          const r = BigInt(Math.sign(x) * Math.round(Math.abs(x)));
          return r > INT64_MAX || r < INT64_MIN ? undefined : r;
        });
      case "decimal": {
        const bounds = decimalBounds(to.precision);
        return mapRows(vec, "i64", (i) => {
          const x = f.values[i];
          if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return undefined;
          // toFixed rounds the exact binary value, so 0.1 becomes 0.10, not 0.1000000000000000055…
          const r = BigInt(x.toFixed(to.scale).replace(".", ""));
          return r > bounds.max || r < bounds.min ? undefined : r;
        });
      }
      case "boolean":
        return mapRows(
          vec,
          "bool",
          (i) => (Number.isNaN(f.values[i]) ? undefined : f.values[i] !== 0 ? 1 : 0),
        );
    }
  }
  if (from.type === "boolean") {
    const b = vec as BoolVec;
    switch (to.type) {
      case "int64":
        return mapRows(vec, "i64", (i) => BigInt(b.values[i]));
      case "decimal":
        return mapRows(vec, "i64", (i) => BigInt(b.values[i]) * pow10n(to.scale));
      case "float64":
        return mapRows(vec, "f64", (i) => b.values[i]);
    }
  }
  if (from.type === "date" && to.type === "timestamp") return dateToTimestamp(vec as I32Vec);
  if (from.type === "timestamp" && to.type === "date") {
    const ts = vec as I64Vec;
    return mapRows(vec, "i32", (i) => Number(floorDiv(ts.values[i], BigInt(MICROS_PER_DAY))));
  }
  throw new TypeError(`Cannot cast ${from.type} to ${to.type}`);
}

/** Whether `cast(x as to)` is allowed for an `x` of type `from`. */
export function canCast(from: T, to: T): boolean {
  if (from.type === "null" || to.type === "string" || from.type === "string" || sameType(from, to)) {
    return from.type !== "interval" && to.type !== "interval";
  }
  const numeric = (t: T) => t.type === "int64" || t.type === "decimal" || t.type === "float64";
  if (numeric(from) && (numeric(to) || to.type === "boolean")) return true;
  if (from.type === "boolean" && numeric(to)) return true;
  return (from.type === "date" && to.type === "timestamp") ||
    (from.type === "timestamp" && to.type === "date");
}

/** Whether two types are the same (decimals: same precision and scale). */
export function sameType(a: T, b: T): boolean {
  if (a.type !== b.type) return false;
  return a.type !== "decimal" || (b.type === "decimal" && a.precision === b.precision && a.scale === b.scale);
}

/** Changes the scale of int64 storage; scaling down rounds half away from zero. */
export function rescale(
  vec: I64Vec,
  options: { from: number; to: number; bounds: IntBounds; n: number },
): I64Vec {
  const { from, to, bounds, n } = options;
  if (to >= from) return intArith("+", [vec, zeroI64], { n, scaleA: to - from, bounds });
  const divisor = pow10n(from - to);
  return mapRows(vec, "i64", (i) => {
    const r = roundDiv(vec.values[i], divisor);
    return r > bounds.max || r < bounds.min ? undefined : r;
  }) as I64Vec;
}

function floorDiv(x: bigint, y: bigint): bigint {
  const q = x / y;
  return (x % y !== 0n) && ((x < 0n) !== (y < 0n)) ? q - 1n : q;
}

type Scalar<K extends Vec["kind"]> = K extends "i64" ? bigint : K extends "str" ? string : number;

/**
 * A per-row map for the paths that are not hot (casts, date parts): `fn` sees only valid rows and returns
 * undefined for a runtime error.
 */
export function mapRows<K extends Vec["kind"]>(
  vec: Vec,
  kind: K,
  fn: (i: number) => Scalar<K> | undefined,
): Vec {
  const len = vec.length;
  const faults = new Faults(len, vec.validity?.slice());
  if (kind === "str") {
    const builder = new StringBuilder(len);
    for (let i = 0; i < len; i++) {
      const v = bit(faults.validity, i) ? fn(i) : undefined;
      if (v === undefined) {
        if (bit(faults.validity, i)) faults.mark(i);
        builder.pushEmpty();
      } else builder.push(v as string);
    }
    return {
      kind: "str",
      length: len,
      offsets: builder.offsets,
      data: builder.data(),
      validity: faults.validity,
      errors: faults.errorsWith([vec]),
    };
  }
  const out = kind === "i64"
    ? new BigInt64Array(len)
    : kind === "f64"
    ? new Float64Array(len)
    : kind === "i32"
    ? new Int32Array(len)
    : new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    if (!bit(faults.validity, i)) continue;
    const v = fn(i);
    if (v === undefined) faults.mark(i);
    else out[i] = v as never;
  }
  return {
    kind,
    length: len,
    values: out,
    validity: faults.validity,
    errors: faults.errorsWith([vec]),
  } as Vec;
}

function toText(vec: Vec, from: T): StrVec {
  const text = (i: number): string => {
    switch (from.type) {
      case "int64":
        return String((vec as I64Vec).values[i]);
      case "decimal":
        return formatDecimal((vec as I64Vec).values[i], from.scale);
      case "float64":
        return String((vec as F64Vec).values[i]);
      case "boolean":
        return (vec as BoolVec).values[i] ? "true" : "false";
      case "date":
        return formatDate((vec as I32Vec).values[i]);
      case "timestamp":
        return formatTimestamp((vec as I64Vec).values[i]);
      default:
        return stringAt(vec as StrVec, i);
    }
  };
  return mapRows(vec, "str", text) as StrVec;
}

const BOOLEAN_TEXT: Record<string, number> = {
  true: 1,
  t: 1,
  yes: 1,
  y: 1,
  "1": 1,
  false: 0,
  f: 0,
  no: 0,
  n: 0,
  "0": 0,
};

/** Parses text as `to`; surrounding whitespace is ignored. */
export function parseText(text: string, to: T): bigint | number | undefined {
  const s = text.trim();
  switch (to.type) {
    case "int64": {
      if (!/^[+-]?\d+$/.test(s)) return undefined;
      const v = BigInt(s);
      return v > INT64_MAX || v < INT64_MIN ? undefined : v;
    }
    case "decimal": {
      const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
      if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
      const frac = m[3] ?? "";
      const digits = BigInt((m[2] || "0") + frac);
      const exp = Number(m[4] ?? 0) - frac.length + to.scale;
      const v = exp >= 0 ? digits * pow10n(exp) : roundDiv(digits, pow10n(-exp));
      const bounds = decimalBounds(to.precision);
      const signed = m[1] === "-" ? -v : v;
      return signed > bounds.max || signed < bounds.min ? undefined : signed;
    }
    case "float64": {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity)$|^nan$/i.test(s)) return undefined;
      const lower = s.toLowerCase().replace(/^\+/, "");
      if (lower.endsWith("inf") || lower.endsWith("infinity")) {
        return lower.startsWith("-") ? -Infinity : Infinity;
      }
      return Number(s);
    }
    case "boolean":
      return BOOLEAN_TEXT[s.toLowerCase()];
    case "date":
      return parseDateText(s);
    case "timestamp":
      return parseTimestampText(s);
    default:
      return undefined;
  }
}

function fromText(vec: StrVec, to: T): Vec {
  const kind = kindOf(to);
  return mapRows(vec, kind, (i) => parseText(stringAt(vec, i), to) as Scalar<typeof kind> | undefined);
}

// -------------------------------------------------------------------------------------------- dates

/** A part of a date or timestamp, as an integer. */
export type DatePart = "year" | "quarter" | "month" | "day" | "hour" | "minute" | "second" | "day_of_week";

/** Days and µs of the day of a timestamp, floor-divided (correct before 1970 too). */
function splitMicros(values: BigInt64Array, i: number, out: Float64Array): void {
  const V = halves(values);
  const hi = V.hi[2 * i + 1];
  if (hi >= -HI_SAFE && hi < HI_SAFE) {
    const us = hi * TWO32 + V.lo[2 * i];
    const days = Math.floor(us / MICROS_PER_DAY);
    out[0] = days;
    out[1] = us - days * MICROS_PER_DAY;
  } else {
    const us = values[i];
    const days = floorDiv(us, BigInt(MICROS_PER_DAY));
    out[0] = Number(days);
    out[1] = Number(us - days * BigInt(MICROS_PER_DAY));
  }
}

/** `part` of each date (`isTimestamp` false) or timestamp. */
export function datePart(vec: Vec, options: { part: DatePart; isTimestamp: boolean }): I64Vec {
  const civil = new Int32Array(3);
  const split = new Float64Array(2);
  const { part, isTimestamp } = options;
  return mapRows(vec, "i64", (i) => {
    let days: number;
    let micros = 0;
    if (isTimestamp) {
      splitMicros((vec as I64Vec).values, i, split);
      days = split[0];
      micros = split[1];
    } else days = (vec as I32Vec).values[i];
    switch (part) {
      case "hour":
        return BigInt(Math.floor(micros / 3_600_000_000));
      case "minute":
        return BigInt(Math.floor(micros / 60_000_000) % 60);
      case "second":
        return BigInt(Math.floor(micros / 1_000_000) % 60);
      case "day_of_week":
        // ISO: Monday 1 … Sunday 7; 1970-01-01 was a Thursday.
        return BigInt(((days % 7) + 7 + 3) % 7 + 1);
    }
    civilFromDays(days, civil);
    if (part === "year") return BigInt(civil[0]);
    if (part === "month") return BigInt(civil[1]);
    if (part === "quarter") return BigInt(Math.floor((civil[1] - 1) / 3) + 1);
    return BigInt(civil[2]);
  }) as I64Vec;
}

/** A unit date_trunc and date_diff accept. */
export type TruncUnit = "second" | "minute" | "hour" | "day" | "week" | "month" | "quarter" | "year";

/** Fixed-length units in µs. */
export const UNIT_MICROS: Partial<Record<TruncUnit, number>> = {
  second: 1_000_000,
  minute: 60_000_000,
  hour: 3_600_000_000,
  day: MICROS_PER_DAY,
  week: 7 * MICROS_PER_DAY,
};

/** Truncates dates or timestamps to the start of `unit` (weeks start on Monday, as in ISO 8601). */
export function dateTrunc(vec: Vec, options: { unit: TruncUnit; isTimestamp: boolean }): Vec {
  const { unit, isTimestamp } = options;
  const civil = new Int32Array(3);
  const split = new Float64Array(2);
  const truncDays = (days: number): number => {
    if (unit === "week") return days - ((days % 7) + 7 + 3) % 7;
    if (unit !== "month" && unit !== "quarter" && unit !== "year") return days;
    civilFromDays(days, civil);
    const month = unit === "year"
      ? 1
      : unit === "quarter"
      ? Math.floor((civil[1] - 1) / 3) * 3 + 1
      : civil[1];
    return daysFromCivil(civil[0], month, 1);
  };
  if (!isTimestamp) return mapRows(vec, "i32", (i) => truncDays((vec as I32Vec).values[i]));
  const step = unit === "second" || unit === "minute" || unit === "hour" ? UNIT_MICROS[unit]! : 0;
  return mapRows(vec, "i64", (i) => {
    splitMicros((vec as I64Vec).values, i, split);
    const days = split[0];
    if (step > 0) return BigInt(days) * BigInt(MICROS_PER_DAY) + BigInt(Math.floor(split[1] / step) * step);
    return BigInt(truncDays(days)) * BigInt(MICROS_PER_DAY);
  });
}
