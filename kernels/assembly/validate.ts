/**
 * Validation kernels: one call checks one rule over one column and marks failing rows. A row keeps the first
 * code written to it, so rules run in schema order and each rejected row reports the first rule it broke.
 * Every call returns how many rows it newly marked.
 *
 * The marks of `n` rows (`validate_marks_bytes(n)` bytes at `codes`): a u32 code per row, then a bitmap of
 * the rows that have one (bit `i & 7` of byte `i >> 3`). Only the bitmap needs zeroing, n / 32 of the size:
 * a code is written with its bit and read only where the bit is set.
 *
 * A code is `(column << 8) | rule`, with the rule numbers below (mirrored in kernels/validate.ts).
 * A validity bitmap is Arrow's: bit `i & 7` of byte `i >> 3`, 1 = present; pointer 0 means "all present".
 * Rules other than `required` skip null rows: a null is judged by `required` alone.
 *
 * The range checks are SIMD over four rows at a time, so a pass costs about as much as reading the column.
 */

/** Rule number: the value is null but the column is required. */
export const RULE_REQUIRED: u32 = 1;
/** Rule number: the value is below the minimum. */
export const RULE_MIN: u32 = 2;
/** Rule number: the value is above the maximum. */
export const RULE_MAX: u32 = 3;
/** Rule number: the string is shorter than the minimum length (in characters). */
export const RULE_MIN_LENGTH: u32 = 4;
/** Rule number: the string is longer than the maximum length (in characters). */
export const RULE_MAX_LENGTH: u32 = 5;
/** Rule number: the string is not one of the enum's values. */
export const RULE_ENUM: u32 = 6;
/** Rule number: the value already appeared in an earlier row of the batch. */
export const RULE_UNIQUE: u32 = 7;
/** Rule number: the string does not match the column's pattern (compiled patterns only; see validate_pattern). */
export const RULE_PATTERN: u32 = 8;

/**
 * Bytes of a compiled pattern's header: `u32 items, u32 minLen, u32 maxLen, u32 fixed, u32 ranges,
 * u32 rangesOffset`, 8 bytes reserved. `fixed` = 1 when every item has a fixed count and `minLen` <=
 * `PATTERN_MAX_FIXED`: then `minLen` 32-byte sets, one per position, follow the items. `ranges` > 0 when
 * moreover `minLen` <= 16 and every position's set is at most `PATTERN_MAX_RANGES` byte ranges: then at
 * `rangesOffset` from the table start come `ranges` pairs of v128 `(lo, hi)`, lane k holding a range of
 * position `k % minLen` (an empty one, lo > hi, when it has fewer), so that one vector also fits several rows
 * of that length laid back to back.
 */
export const PATTERN_HEADER_BYTES: u32 = 32;
/** Bytes of one pattern item: a 256-bit byte set (32 bytes), `u32 min`, `u32 max` repeats, 8 bytes padding. */
export const PATTERN_ITEM_BYTES: u32 = 48;
/** Longest fixed-length pattern given a per-position table. */
export const PATTERN_MAX_FIXED: u32 = 64;
/** Most byte ranges per position for the SIMD path of fixed-length patterns. */
export const PATTERN_MAX_RANGES: u32 = 4;
/** Length word of an empty slot of the enum hash table (no row is that long). */
export const ENUM_EMPTY: u32 = 0xffffffff;

/** 17 masks of 16 bytes: mask k keeps the first k bytes. */
const PREFIX_MASKS: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0,
  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
], 16);

// Lane masks turning four validity bits into four i32 lanes.
const LANE_BITS: v128 = i32x4(1, 2, 4, 8);

function validMask(validity: usize, i: u32): v128 {
  if (validity == 0) return i32x4.splat(-1);
  const bits = (<u32> load<u8>(validity + (i >> 3)) >> (i & 7)) & 0xf;
  return i32x4.ne(v128.and(i32x4.splat(bits), LANE_BITS), i32x4.splat(0));
}

function isValid(validity: usize, i: u32): bool {
  return validity == 0 || ((<u32> load<u8>(validity + (i >> 3)) >> (i & 7)) & 1) != 0;
}

/** Bytes of the marks of `n` rows: the codes, then the bitmap of marked rows in whole 16-byte blocks. */
export function validate_marks_bytes(n: u32): u32 {
  return (n << 2) + (((n + 127) >> 7) << 4);
}

/**
 * Marks rows `i..i+3` (`i` a multiple of 4) of the `n` rows' marks at `codes` that fail and have no code yet
 * with `failMin ? codeMin : codeMax`; returns how many it marked. The marks' layout comes from `n`, which loops
 * keep in a register anyway: a pointer to the bitmap would be one more live value, and V8 spills.
 */
function mark4(
  codes: usize,
  n: u32,
  i: u32,
  failMin: v128,
  failMax: v128,
  codeMin: v128,
  codeMax: v128,
): u32 {
  const fail = v128.or(failMin, failMax);
  if (!v128.any_true(fail)) return 0;
  const at = codes + (<usize> n << 2) + (i >> 3);
  const byte = <u32> load<u8>(at);
  const fresh = <u32> i32x4.bitmask(fail) & ~(byte >> (i & 4));
  if (fresh == 0) return 0;
  store<u8>(at, byte | (fresh << (i & 4)));
  const upd = i32x4.ne(v128.and(i32x4.splat(fresh), LANE_BITS), i32x4.splat(0));
  const p = codes + (<usize> i << 2);
  v128.store(p, v128.bitselect(v128.bitselect(codeMin, codeMax, failMin), v128.load(p), upd));
  return <u32> popcnt(fresh);
}

/** Marks row `i` with `code` unless it has a code; 1 when it marked it. */
function mark1(codes: usize, n: u32, i: u32, code: u32): u32 {
  const at = codes + (<usize> n << 2) + (i >> 3);
  const byte = <u32> load<u8>(at);
  const bit: u32 = 1 << (i & 7);
  if ((byte & bit) != 0) return 0;
  store<u8>(at, byte | bit);
  store<u32>(codes + (<usize> i << 2), code);
  return 1;
}

/** Marks null rows with `code` (a `required` rule). Skips whole bytes of present rows. */
export function validate_required(validity: usize, n: u32, codes: usize, code: u32): u32 {
  if (validity == 0) return 0;
  let marked: u32 = 0;
  const full = n >> 3;
  for (let b: u32 = 0; b < full; b++) {
    const byte = <u32> load<u8>(validity + b);
    if (byte == 0xff) continue;
    for (let k: u32 = 0; k < 8; k++) if (((byte >> k) & 1) == 0) marked += mark1(codes, n, (b << 3) + k, code);
  }
  for (let i = full << 3; i < n; i++) if (!isValid(validity, i)) marked += mark1(codes, n, i, code);
  return marked;
}

/**
 * Range check over int64 values (also decimals as scaled integers and timestamps in µs), and with `scratch`
 * (not 0; `validate_unique_scratch_bytes(n)` bytes) the uniqueness rule after it: every later occurrence of a
 * value is marked. Uniqueness shares the pass over the values: strictly increasing values (keys usually
 * are) cannot repeat, so only otherwise, or with nulls, does `markRepeats` read them again.
 */
export function validate_i64_range(
  values: usize,
  validity: usize,
  n: u32,
  min: i64,
  max: i64,
  codes: usize,
  column: u32,
  scratch: usize,
): u32 {
  if (scratch != 0) return rangeUnique(values, validity, n, min, max, codes, column, scratch);
  const codeMin = (column << 8) | RULE_MIN;
  const codeMax = (column << 8) | RULE_MAX;
  const vmin = i64x2.splat(min);
  const vmax = i64x2.splat(max);
  let marked: u32 = 0;
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(values + (<usize> i << 3));
    const b = v128.load(values + (<usize> i << 3), 16);
    // Values in range (nearly all): nothing to mark, and no need to look at validity.
    if (!outside(a, b, vmin, vmax)) continue;
    marked += markRange4(a, b, validity, i, vmin, vmax, codes, n, codeMin, codeMax);
  }
  for (; i < n; i++) marked += range1(values, validity, i, min, max, codes, n, codeMin, codeMax);
  return marked;
}

/**
 * `validate_i64_range` with the uniqueness rule; a function of its own, as the vectors it carries would make
 * the plain range loop spill registers.
 */
function rangeUnique(
  values: usize,
  validity: usize,
  n: u32,
  min: i64,
  max: i64,
  codes: usize,
  column: u32,
  scratch: usize,
): u32 {
  // Without nulls, strictly increasing keys (the usual key column) are unique and in range when the first
  // and the last are: a pass testing only the order, half the work of testing the range too.
  if (validity == 0 && n > 0 && risingInRange(values, n, min, max)) return 0;
  const codeMin = (column << 8) | RULE_MIN;
  const codeMax = (column << 8) | RULE_MAX;
  const vmin = i64x2.splat(min);
  const vmax = i64x2.splat(max);
  let marked: u32 = 0;
  let i: u32 = 0;
  // Lanes stay all ones while each value is above the one before it; `before` holds that one in lane 1.
  let rising = i64x2.splat(-1);
  let before = i64x2.splat(i64.MIN_VALUE);
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(values + (<usize> i << 3));
    const b = v128.load(values + (<usize> i << 3), 16);
    const up = risesOver(a, b, before);
    rising = v128.and(rising, up);
    before = b;
    if (!outside(a, b, vmin, vmax)) continue;
    marked += markRange4(a, b, validity, i, vmin, vmax, codes, n, codeMin, codeMax);
  }
  let increasing = i64x2.all_true(rising);
  let last = i64x2.extract_lane(before, 1);
  for (; i < n; i++) {
    const v = load<i64>(values + (<usize> i << 3));
    increasing &= v > last;
    last = v;
    marked += range1(values, validity, i, min, max, codes, n, codeMin, codeMax);
  }
  if (!(increasing && validity == 0)) {
    marked += markRepeats(values, validity, n, scratch, codes, (column << 8) | RULE_UNIQUE);
  }
  return marked;
}

/**
 * All ones in both lanes when the four values in `a` and `b` each exceed the one before them, the first
 * being compared with lane 1 of `before` (the value before the four).
 */
// @ts-ignore: decorator
@inline function risesOver(a: v128, b: v128, before: v128): v128 {
  return v128.and(i64x2.gt_s(a, v128.shuffle<i64>(before, a, 1, 2)), i64x2.gt_s(b, v128.shuffle<i64>(a, b, 1, 2)));
}

/**
 * Whether the `n` (> 0) values at `values` strictly increase from at least `min` to at most `max`. Stops at
 * the first step that does not increase, so a column of other keys pays little for asking.
 */
function risingInRange(values: usize, n: u32, min: i64, max: i64): bool {
  if (load<i64>(values) < min || load<i64>(values + (<usize> (n - 1) << 3)) > max) return false;
  let before = i64x2.splat(i64.MIN_VALUE);
  let i: u32 = 0;
  // The first value has no value before it: lane 1 of `before` is below it unless it is the int64 minimum,
  // which then fails the test and leaves the column to the general loop.
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(values + (<usize> i << 3));
    const b = v128.load(values + (<usize> i << 3), 16);
    const up = risesOver(a, b, before);
    if (!i64x2.all_true(up)) return false;
    before = b;
  }
  let last = i64x2.extract_lane(before, 1);
  for (; i < n; i++) {
    const v = load<i64>(values + (<usize> i << 3));
    if (v <= last) return false;
    last = v;
  }
  return true;
}

/** The range rule for row `i` of `validate_i64_range`: 1 when it marked the row. */
// @ts-ignore: decorator
@inline function range1(
  values: usize,
  validity: usize,
  i: u32,
  min: i64,
  max: i64,
  codes: usize,
  n: u32,
  codeMin: u32,
  codeMax: u32,
): u32 {
  if (!isValid(validity, i)) return 0;
  const v = load<i64>(values + (<usize> i << 3));
  if (v < min) return mark1(codes, n, i, codeMin);
  if (v > max) return mark1(codes, n, i, codeMax);
  return 0;
}

/** Whether a lane of `a` or `b` (int64 values) is outside `[vmin, vmax]`. */
// @ts-ignore: decorator
@inline function outside(a: v128, b: v128, vmin: v128, vmax: v128): bool {
  return v128.any_true(v128.or(
    v128.or(i64x2.lt_s(a, vmin), i64x2.lt_s(b, vmin)),
    v128.or(i64x2.gt_s(a, vmax), i64x2.gt_s(b, vmax)),
  ));
}

/**
 * The range rule for rows `i..i+3` of `validate_i64_range`, values `a` and `b`: how many it marked. Inlined:
 * a call in the loop, however rare, makes V8 spill registers on every step.
 */
// @ts-ignore: decorator
@inline function markRange4(
  a: v128,
  b: v128,
  validity: usize,
  i: u32,
  vmin: v128,
  vmax: v128,
  codes: usize,
  n: u32,
  codeMin: u32,
  codeMax: u32,
): u32 {
  // Keep the low 32 bits of each 64-bit lane mask: lanes 0,2 of a and 0,2 of b, as four i32 lanes.
  const lo = v128.shuffle<i32>(i64x2.lt_s(a, vmin), i64x2.lt_s(b, vmin), 0, 2, 4, 6);
  const hi = v128.shuffle<i32>(i64x2.gt_s(a, vmax), i64x2.gt_s(b, vmax), 0, 2, 4, 6);
  const valid = validMask(validity, i);
  const cmin = i32x4.splat(codeMin);
  return mark4(codes, n, i, v128.and(lo, valid), v128.and(hi, valid), cmin, i32x4.splat(codeMax));
}

/** Range check over float64 values; NaN fails (it is neither at least `min` nor at most `max`). */
export function validate_f64_range(
  values: usize,
  validity: usize,
  n: u32,
  min: f64,
  max: f64,
  codes: usize,
  column: u32,
): u32 {
  const codeMin = (column << 8) | RULE_MIN;
  const codeMax = (column << 8) | RULE_MAX;
  const vmin = f64x2.splat(min);
  const vmax = f64x2.splat(max);
  const cmin = i32x4.splat(codeMin);
  const cmax = i32x4.splat(codeMax);
  let marked: u32 = 0;
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(values + (<usize> i << 3));
    const b = v128.load(values + (<usize> i << 3), 16);
    // "not (v >= min)" so NaN counts as below the minimum.
    const lo = v128.not(v128.shuffle<i32>(f64x2.ge(a, vmin), f64x2.ge(b, vmin), 0, 2, 4, 6));
    const hi = v128.shuffle<i32>(f64x2.gt(a, vmax), f64x2.gt(b, vmax), 0, 2, 4, 6);
    const valid = validMask(validity, i);
    marked += mark4(codes, n, i, v128.and(lo, valid), v128.and(hi, valid), cmin, cmax);
  }
  for (; i < n; i++) {
    if (!isValid(validity, i)) continue;
    const v = load<f64>(values + (<usize> i << 3));
    if (!(v >= min)) marked += mark1(codes, n, i, codeMin);
    else if (v > max) marked += mark1(codes, n, i, codeMax);
  }
  return marked;
}

/** Range check over int32 values (dates as days since the epoch). */
export function validate_i32_range(
  values: usize,
  validity: usize,
  n: u32,
  min: i32,
  max: i32,
  codes: usize,
  column: u32,
): u32 {
  const codeMin = (column << 8) | RULE_MIN;
  const codeMax = (column << 8) | RULE_MAX;
  const vmin = i32x4.splat(min);
  const vmax = i32x4.splat(max);
  const cmin = i32x4.splat(codeMin);
  const cmax = i32x4.splat(codeMax);
  let marked: u32 = 0;
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(values + (<usize> i << 2));
    const valid = validMask(validity, i);
    marked += mark4(
      codes,
      n,
      i,
      v128.and(i32x4.lt_s(a, vmin), valid),
      v128.and(i32x4.gt_s(a, vmax), valid),
      cmin,
      cmax,
    );
  }
  for (; i < n; i++) {
    if (!isValid(validity, i)) continue;
    const v = load<i32>(values + (<usize> i << 2));
    if (v < min) marked += mark1(codes, n, i, codeMin);
    else if (v > max) marked += mark1(codes, n, i, codeMax);
  }
  return marked;
}

/** Characters in a UTF-8 string: bytes that are not continuation bytes. */
function utf8Chars(p: usize, len: u32): u32 {
  let chars: u32 = 0;
  for (let k: u32 = 0; k < len; k++) if ((<u32> load<u8>(p + k) & 0xc0) != 0x80) chars++;
  return chars;
}

/**
 * Length bounds in characters over a string column (int32 offsets, `n + 1` of them, and UTF-8 bytes).
 * Characters are only counted when the byte length alone cannot decide: a string has at most as many
 * characters as bytes and at least a quarter as many.
 */
export function validate_length(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  minLen: u32,
  maxLen: u32,
  codes: usize,
  column: u32,
): u32 {
  const codeMin = (column << 8) | RULE_MIN_LENGTH;
  const codeMax = (column << 8) | RULE_MAX_LENGTH;
  let marked: u32 = 0;
  let i: u32 = 0;
  // Eight rows a step (then four) by byte length alone; only rows it cannot decide count their characters:
  // fewer than `4 * minLen - 3` bytes may be too few characters, more than `maxLen` too many. Signed compares,
  // as byte lengths are below 2^31; a `minLen` that large leaves every row to the per-row loop. Eight rows a
  // step rather than four: fewer instructions per row, which also speeds the pass over a column not in cache.
  if (minLen <= 0x20000000) {
    const few = i32x4.splat(<i32> (minLen << 2) - 3);
    const many = i32x4.splat(<i32> min<u32>(maxLen, i32.MAX_VALUE));
    for (; i + 8 <= n; i += 8) {
      const at = offsets + (<usize> i << 2);
      const b0 = i32x4.sub(v128.load(at, 4), v128.load(at));
      const b1 = i32x4.sub(v128.load(at, 20), v128.load(at, 16));
      const out = v128.or(
        v128.or(i32x4.lt_s(b0, few), i32x4.gt_s(b0, many)),
        v128.or(i32x4.lt_s(b1, few), i32x4.gt_s(b1, many)),
      );
      if (!v128.any_true(out)) continue;
      for (let k = i; k < i + 8; k++) {
        marked += checkLength(offsets, data, validity, k, minLen, maxLen, codes, n, codeMin, codeMax);
      }
    }
    for (; i + 4 <= n; i += 4) {
      const bytes = i32x4.sub(v128.load(offsets + (<usize> i << 2), 4), v128.load(offsets + (<usize> i << 2)));
      if (!v128.any_true(v128.or(i32x4.lt_s(bytes, few), i32x4.gt_s(bytes, many)))) continue;
      for (let k = i; k < i + 4; k++) {
        marked += checkLength(offsets, data, validity, k, minLen, maxLen, codes, n, codeMin, codeMax);
      }
    }
  }
  for (; i < n; i++) {
    marked += checkLength(offsets, data, validity, i, minLen, maxLen, codes, n, codeMin, codeMax);
  }
  return marked;
}

/** The length rule for row `i`: 1 when it marked the row. */
// @ts-ignore: decorator
@inline function checkLength(
  offsets: usize,
  data: usize,
  validity: usize,
  i: u32,
  minLen: u32,
  maxLen: u32,
  codes: usize,
  n: u32,
  codeMin: u32,
  codeMax: u32,
): u32 {
  const start = load<i32>(offsets + (<usize> i << 2));
  const bytes = <u32> (load<i32>(offsets + ((<usize> i + 1) << 2)) - start);
  const lower = (bytes + 3) >> 2;
  if ((lower < minLen || bytes > maxLen) && isValid(validity, i)) {
    const chars = bytes < minLen ? bytes : utf8Chars(data + <usize> start, bytes);
    if (chars < minLen) return mark1(codes, n, i, codeMin);
    if (chars > maxLen) return mark1(codes, n, i, codeMax);
  }
  return 0;
}

/**
 * Enum membership over a string column. `values` holds `count` entries of 16 bytes each:
 * `u32 length, u32 offset into valueData, u64 first 8 bytes (zero-padded)`. The string data must be
 * readable 8 bytes past its end (the host pads it), so every row is compared with one 64-bit load before
 * any byte loop.
 */
export function validate_enum(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  values: usize,
  count: u32,
  valueData: usize,
  codes: usize,
  column: u32,
): u32 {
  const code = (column << 8) | RULE_ENUM;
  let marked: u32 = 0;
  let start = load<i32>(offsets);
  for (let i: u32 = 0; i < n; i++) {
    const end = load<i32>(offsets + ((<usize> i + 1) << 2));
    const len = <u32> (end - start);
    const p = data + <usize> start;
    const head = len >= 8 ? load<u64>(p) : load<u64>(p) & ((<u64> 1 << (<u64> len << 3)) - 1);
    // Branch-free over the (few) values: at most one can match both length and first 8 bytes... unless
    // values share them, so the match index is only a candidate and long values are then compared in full.
    let hit: i32 = -1;
    for (let k: u32 = 0; k < count; k++) {
      const e = values + (<usize> k << 4);
      hit = select<i32>(<i32> k, hit, (load<u32>(e) == len) & (load<u64>(e, 8) == head));
    }
    let found = hit >= 0;
    if (found && len > 8) {
      found = false;
      for (let k: u32 = 0; k < count; k++) {
        const e = values + (<usize> k << 4);
        if (
          load<u32>(e) == len && load<u64>(e, 8) == head &&
          memory.compare(p + 8, valueData + <usize> load<u32>(e, 4) + 8, len - 8) == 0
        ) {
          found = true;
          break;
        }
      }
    }
    if (!found && isValid(validity, i)) marked += mark1(codes, n, i, code);
    start = end;
  }
  return marked;
}

/** Bytes of a slot of `validate_enum_length`'s table; slot k is for rows of k bytes, 17 for longer ones. */
export const ENUM_LENGTH_SLOT_BYTES: u32 = 32;

/** The string at `p` xor the value at `e`, the length table's slot for the string's length: 0 when equal. */
// @ts-ignore: decorator
@inline function lengthDiff(p: usize, e: usize): v128 {
  return v128.xor(v128.and(v128.load(p), v128.load(e)), v128.load(e, 16));
}

/** Whether the string at `p` is the value at `e`, the length table's slot for the string's length. */
// @ts-ignore: decorator
@inline function lengthMember(p: usize, e: usize): bool {
  return !v128.any_true(lengthDiff(p, e));
}

/** Whether row `i` fails `validate_enum_length` (and is not null). */
// @ts-ignore: decorator
@inline function lengthRowFails(offsets: usize, data: usize, validity: usize, table: usize, i: u32): bool {
  const start = load<i32>(offsets + (<usize> i << 2));
  const len = <u32> (load<i32>(offsets + (<usize> i << 2), 4) - start);
  return !lengthMember(data + <usize> start, table + (<usize> min<u32>(len, 17) << 5)) && isValid(validity, i);
}

/**
 * Enum membership when no two values have the same byte length and none is longer than 16 bytes (the host
 * checks): a row's length alone names the one value it can be, so there is nothing to hash. `table` holds 18
 * slots of `ENUM_LENGTH_SLOT_BYTES`: slot k (17 for longer rows) is a 16-byte mask keeping k bytes, then the
 * value of length k zero-padded; a length no value has gets mask 0 and a nonzero first byte, which no row
 * matches. Four rows a step, lengths from two loads of offsets; a step with a miss goes row by row, nulls
 * included. The string data must be readable 16 bytes past each string's start (the host pads it).
 */
export function validate_enum_length(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  table: usize,
  codes: usize,
  column: u32,
): u32 {
  const code = (column << 8) | RULE_ENUM;
  let marked: u32 = 0;
  let i: u32 = 0;
  const base = i32x4.splat(<i32> data);
  const slotBase = i32x4.splat(<i32> table);
  const longest = i32x4.splat(17);
  for (; i + 4 <= n; i += 4) {
    // Four rows' string pointers and table slots, computed as vectors and taken out lane by lane.
    const starts = v128.load(offsets + (<usize> i << 2));
    const lens = i32x4.sub(v128.load(offsets + (<usize> i << 2), 4), starts);
    const p = i32x4.add(starts, base);
    const e = i32x4.add(i32x4.shl(i32x4.min_u(lens, longest), 5), slotBase);
    // The four rows' differences from their candidates, or-ed: one test for the step.
    const diff = v128.or(
      v128.or(
        lengthDiff(<usize> i32x4.extract_lane(p, 0), <usize> i32x4.extract_lane(e, 0)),
        lengthDiff(<usize> i32x4.extract_lane(p, 1), <usize> i32x4.extract_lane(e, 1)),
      ),
      v128.or(
        lengthDiff(<usize> i32x4.extract_lane(p, 2), <usize> i32x4.extract_lane(e, 2)),
        lengthDiff(<usize> i32x4.extract_lane(p, 3), <usize> i32x4.extract_lane(e, 3)),
      ),
    );
    if (!v128.any_true(diff)) continue;
    for (let k = i; k < i + 4; k++) {
      if (lengthRowFails(offsets, data, validity, table, k)) marked += mark1(codes, n, k, code);
    }
  }
  for (; i < n; i++) if (lengthRowFails(offsets, data, validity, table, i)) marked += mark1(codes, n, i, code);
  return marked;
}

/** Whether byte `b` is in the 256-bit set at `set`. */
@inline function inSet(set: usize, b: u32): bool {
  return ((<u32> load<u8>(set + (b >> 3)) >> (b & 7)) & 1) != 0;
}

/**
 * Whether `len` bytes at `p` match a compiled pattern: items in order, each a byte set repeated `min` to `max`
 * times. A variable item is matched greedily: the host only compiles patterns where greedy is exact (a
 * variable item's set is disjoint from every set that could take the byte after its run).
 */
function patternMatch(table: usize, p: usize, len: u32): bool {
  const items = load<u32>(table);
  let q: u32 = 0;
  for (let t: u32 = 0; t < items; t++) {
    const it = table + PATTERN_HEADER_BYTES + <usize> (t * PATTERN_ITEM_BYTES);
    const lo = load<u32>(it, 32);
    const hi = load<u32>(it, 36);
    if (lo == hi) {
      if (len - q < lo) return false;
      for (let k: u32 = 0; k < lo; k++) if (!inSet(it, <u32> load<u8>(p + q + k))) return false;
      q += lo;
    } else {
      let c: u32 = 0;
      while (q < len && c < hi && inSet(it, <u32> load<u8>(p + q))) {
        q++;
        c++;
      }
      if (c < lo) return false;
    }
  }
  return q == len;
}

/**
 * Bit k set when byte k of `v` lies in one of the `ranges` (lo, hi) vector pairs at `rv`, the first of which
 * the caller has loaded: `lo`, `hi`.
 */
// @ts-ignore: decorator
@inline function inRanges(v: v128, lo: v128, hi: v128, rv: usize, ranges: u32): u32 {
  let m = v128.and(i8x16.ge_u(v, lo), i8x16.le_u(v, hi));
  for (let r: u32 = 1; r < ranges; r++) {
    const at = rv + (<usize> r << 5);
    m = v128.or(m, v128.and(i8x16.ge_u(v, v128.load(at)), i8x16.le_u(v, v128.load(at, 16))));
  }
  return i8x16.bitmask(m);
}

/** Whether row `i` fails a fixed-length ranges pattern (and is not null): its length, then its bytes. */
// @ts-ignore: decorator
@inline function rangesRowFails(
  offsets: usize,
  data: usize,
  validity: usize,
  i: u32,
  rv: usize,
  ranges: u32,
  len: u32,
): bool {
  const start = load<i32>(offsets + (<usize> i << 2));
  const bytes = <u32> (load<i32>(offsets + (<usize> i << 2), 4) - start);
  const want: u32 = (1 << len) - 1;
  const v = v128.load(data + <usize> start);
  const ok = (bytes == len) & ((inRanges(v, v128.load(rv), v128.load(rv, 16), rv, ranges) & want) == want);
  return !ok && isValid(validity, i);
}

/**
 * The SIMD path of `validate_pattern`: length `len` <= 16, byte ranges per position at `rv`. Rows of that
 * length lie back to back, so `min(4, 16 / len)` of them (8 for one or two bytes) are checked with one
 * 16-byte load once their offsets show it (the country code of an orders file: 8 rows a load instead of 1);
 * a group that fails either test is checked row by row, nulls included.
 */
function patternRanges(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  rv: usize,
  ranges: u32,
  len: u32,
  codes: usize,
  code: u32,
): u32 {
  let marked: u32 = 0;
  let i: u32 = 0;
  if (len > 0) {
    const rows = min<u32>(4, 16 / len);
    const rowsWant: u32 = (1 << rows) - 1;
    const bytesWant: u32 = (1 << (rows * len)) - 1;
    // Where rows i+1..i+4 end when every row has the length.
    const step = i32x4.mul(i32x4(1, 2, 3, 4), i32x4.splat(len));
    const lo = v128.load(rv);
    const hi = v128.load(rv, 16);
    if (len <= 2) {
      // Codes of one or two bytes: eight rows a step, from two loads of four ends, one load of bytes.
      const step8 = i32x4.mul(i32x4(5, 6, 7, 8), i32x4.splat(len));
      const bytesWant8: u32 = (1 << (len << 3)) - 1;
      for (; i + 8 <= n; i += 8) {
        const at = offsets + (<usize> i << 2);
        const start = load<i32>(at);
        const s = i32x4.splat(start);
        const packed = v128.and(
          i32x4.eq(v128.load(at, 4), i32x4.add(s, step)),
          i32x4.eq(v128.load(at, 20), i32x4.add(s, step8)),
        );
        const bytes = inRanges(v128.load(data + <usize> start), lo, hi, rv, ranges) & bytesWant8;
        if (i32x4.all_true(packed) & (bytes == bytesWant8)) continue;
        for (let k = i; k < i + 8; k++) {
          if (rangesRowFails(offsets, data, validity, k, rv, ranges, len)) marked += mark1(codes, n, k, code);
        }
      }
    }
    // The load of four ends needs i + 4 <= n even when fewer rows are taken.
    for (; i + 4 <= n; i += rows) {
      const start = load<i32>(offsets + (<usize> i << 2));
      const ends = v128.load(offsets + (<usize> i << 2), 4);
      // Both tests, then one branch: the bytes are readable even when the rows are not back to back.
      const packed = i32x4.bitmask(i32x4.eq(ends, i32x4.add(i32x4.splat(start), step))) & rowsWant;
      const bytes = inRanges(v128.load(data + <usize> start), lo, hi, rv, ranges) & bytesWant;
      if ((packed == rowsWant) & (bytes == bytesWant)) continue;
      for (let k = i; k < i + rows; k++) {
        if (rangesRowFails(offsets, data, validity, k, rv, ranges, len)) marked += mark1(codes, n, k, code);
      }
    }
  }
  for (; i < n; i++) {
    if (rangesRowFails(offsets, data, validity, i, rv, ranges, len)) marked += mark1(codes, n, i, code);
  }
  return marked;
}

/**
 * Pattern check over a string column with a table the host compiled (kernels/validate.ts
 * `compilePattern`): `PATTERN_HEADER_BYTES` of header, then `items` entries of `PATTERN_ITEM_BYTES`. Rows whose
 * byte length is outside `[minLen, maxLen]` fail without looking at their bytes. Null rows are skipped. The
 * string data must be readable 16 bytes past each string's start (the host pads it).
 */
export function validate_pattern(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  table: usize,
  codes: usize,
  column: u32,
): u32 {
  const code = (column << 8) | RULE_PATTERN;
  const minLen = load<u32>(table, 4);
  const maxLen = load<u32>(table, 8);
  let marked: u32 = 0;
  const ranges = load<u32>(table, 16);
  if (ranges != 0) {
    const rv = table + <usize> load<u32>(table, 20);
    return patternRanges(offsets, data, validity, n, rv, ranges, minLen, codes, code);
  }
  let start = load<i32>(offsets);
  if (load<u32>(table, 12) != 0) {
    // Fixed length: the length, then one set per position, without early exits.
    const pos = table + PATTERN_HEADER_BYTES + <usize> (load<u32>(table) * PATTERN_ITEM_BYTES);
    for (let i: u32 = 0; i < n; i++) {
      const end = load<i32>(offsets + ((<usize> i + 1) << 2));
      let ok = <u32> (end - start) == minLen;
      if (ok) {
        const p = data + <usize> start;
        for (let k: u32 = 0; k < minLen; k++) ok &= inSet(pos + (<usize> k << 5), <u32> load<u8>(p + k));
      }
      if (!ok && isValid(validity, i)) marked += mark1(codes, n, i, code);
      start = end;
    }
    return marked;
  }
  for (let i: u32 = 0; i < n; i++) {
    const end = load<i32>(offsets + ((<usize> i + 1) << 2));
    const len = <u32> (end - start);
    const ok = len >= minLen && len <= maxLen && patternMatch(table, data + <usize> start, len);
    if (!ok && isValid(validity, i)) marked += mark1(codes, n, i, code);
    start = end;
  }
  return marked;
}

/**
 * Enum membership through a perfect hash the host built: `1 << bits` slots of 32 bytes
 * (`u32 length` or `ENUM_EMPTY`, `u32 offset into valueData`, `u64` bytes 0-7 and `u64` bytes 8-15, zero-padded);
 * the slot of a string is `((head ^ length * 0x9e3779b97f4a7c15) * mult) >> (64 - bits)`, `bits` >= 1, head
 * being its first 8 bytes. One probe per row, compared without branches for values of up to 16 bytes (the
 * lengths of an enum's values vary from row to row, so branches on them would mispredict); longer values
 * compare the rest bytewise. Four rows a step, as in `validate_enum_length`. The string data must be readable
 * 16 bytes past each string's start (the host pads it).
 */
export function validate_enum_hash(
  offsets: usize,
  data: usize,
  validity: usize,
  n: u32,
  table: usize,
  bits: u32,
  mult: u64,
  valueData: usize,
  codes: usize,
  column: u32,
): u32 {
  const code = (column << 8) | RULE_ENUM;
  const shift = <u64> (64 - bits);
  let marked: u32 = 0;
  let i: u32 = 0;
  const base = i32x4.splat(<i32> data);
  const masks = i32x4.splat(<i32> PREFIX_MASKS);
  const sixteen = i32x4.splat(16);
  // Four rows a step as in validate_enum_length: pointers, lengths and masks as vectors, one branch a step.
  for (; i + 4 <= n; i += 4) {
    const starts = v128.load(offsets + (<usize> i << 2));
    const lens = i32x4.sub(v128.load(offsets + (<usize> i << 2), 4), starts);
    const p = i32x4.add(starts, base);
    const m = i32x4.add(i32x4.shl(i32x4.min_u(lens, sixteen), 4), masks);
    const ok =
      hashMember(
        <usize> i32x4.extract_lane(p, 0), <usize> i32x4.extract_lane(m, 0), i32x4.extract_lane(lens, 0),
        table, shift, mult, valueData,
      ) &
      hashMember(
        <usize> i32x4.extract_lane(p, 1), <usize> i32x4.extract_lane(m, 1), i32x4.extract_lane(lens, 1),
        table, shift, mult, valueData,
      ) &
      hashMember(
        <usize> i32x4.extract_lane(p, 2), <usize> i32x4.extract_lane(m, 2), i32x4.extract_lane(lens, 2),
        table, shift, mult, valueData,
      ) &
      hashMember(
        <usize> i32x4.extract_lane(p, 3), <usize> i32x4.extract_lane(m, 3), i32x4.extract_lane(lens, 3),
        table, shift, mult, valueData,
      );
    if (ok) continue;
    for (let k = i; k < i + 4; k++) {
      if (hashRowFails(offsets, data, validity, k, table, shift, mult, valueData)) {
        marked += mark1(codes, n, k, code);
      }
    }
  }
  for (; i < n; i++) {
    if (hashRowFails(offsets, data, validity, i, table, shift, mult, valueData)) {
      marked += mark1(codes, n, i, code);
    }
  }
  return marked;
}

/**
 * Whether the string of `len` bytes at `p` is in `validate_enum_hash`'s table; `mask` points at the prefix
 * mask for `min(len, 16)` bytes.
 */
// @ts-ignore: decorator
@inline function hashMember(
  p: usize,
  mask: usize,
  len: u32,
  table: usize,
  shift: u64,
  mult: u64,
  valueData: usize,
): bool {
  // The string's first 16 bytes, zero past its end, as the table stores its values.
  const v = v128.and(v128.load(p), v128.load(mask));
  const slot = ((<u64> i64x2.extract_lane(v, 0) ^ (<u64> len * 0x9e3779b97f4a7c15)) * mult) >> shift;
  const e = table + (<usize> slot << 5);
  let found = (load<u32>(e) == len) & !v128.any_true(v128.xor(v, v128.load(e, 8)));
  if (len > 16 && found) {
    found = memory.compare(p + 16, valueData + <usize> load<u32>(e, 4) + 16, len - 16) == 0;
  }
  return found;
}

/** Whether row `i` fails `validate_enum_hash` (and is not null). */
// @ts-ignore: decorator
@inline function hashRowFails(
  offsets: usize,
  data: usize,
  validity: usize,
  i: u32,
  table: usize,
  shift: u64,
  mult: u64,
  valueData: usize,
): bool {
  const start = load<i32>(offsets + (<usize> i << 2));
  const len = <u32> (load<i32>(offsets + (<usize> i << 2), 4) - start);
  const mask = PREFIX_MASKS + (<usize> min<u32>(len, 16) << 4);
  const p = data + <usize> start;
  return !hashMember(p, mask, len, table, shift, mult, valueData) && isValid(validity, i);
}

/** 64-bit mix for hashing keys (the finaliser of SplitMix64). */

function mix(x: u64): u64 {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

/**
 * The uniqueness rule of `validate_i64_range` when the values are not known to increase: marks every later
 * occurrence of a non-null value with `code`. A dense range uses a bitmap in `scratch`, anything else a hash
 * set there.
 */
function markRepeats(values: usize, validity: usize, n: u32, scratch: usize, codes: usize, code: u32): u32 {
  if (n < 2) return 0;
  let lo = load<i64>(values);
  let hi = lo;
  for (let i: u32 = 0; i < n; i++) {
    if (!isValid(validity, i)) continue;
    const v = load<i64>(values + (<usize> i << 3));
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let marked: u32 = 0;
  const span = <u64> hi - <u64> lo;
  // A range of at most 64 bits per row: a bitmap, which fits the scratch the hash set needs.
  if (span < (<u64> n << 6)) {
    const words = <usize> ((span >> 6) + 1);
    memory.fill(scratch, 0, words << 3);
    for (let i: u32 = 0; i < n; i++) {
      if (!isValid(validity, i)) continue;
      const d = <u64> load<i64>(values + (<usize> i << 3)) - <u64> lo;
      const w = scratch + (<usize> (d >> 6) << 3);
      const bit = <u64> 1 << (d & 63);
      const cur = load<u64>(w);
      if ((cur & bit) != 0) marked += mark1(codes, n, i, code);
      else store<u64>(w, cur | bit);
    }
    return marked;
  }
  // Otherwise open addressing, 2^k >= 2n slots of (u64 key, u64 used).
  let slots: u64 = 16;
  while (slots < (<u64> n << 1)) slots <<= 1;
  const maskSlots = slots - 1;
  memory.fill(scratch, 0, <usize> (slots << 4));
  for (let i: u32 = 0; i < n; i++) {
    if (!isValid(validity, i)) continue;
    const v = load<i64>(values + (<usize> i << 3));
    let h = mix(<u64> v) & maskSlots;
    while (true) {
      const s = scratch + <usize> (h << 4);
      if (load<u64>(s, 8) == 0) {
        store<i64>(s, v);
        store<u64>(s, 1, 8);
        break;
      }
      if (load<i64>(s) == v) {
        marked += mark1(codes, n, i, code);
        break;
      }
      h = (h + 1) & maskSlots;
    }
  }
  return marked;
}

/**
 * Scratch bytes the uniqueness rule of `validate_i64_range` needs for `n` rows (the hash set's size bounds the
 * bitmap's).
 */
export function validate_unique_scratch_bytes(n: u32): u32 {
  let slots: u64 = 16;
  while (slots < (<u64> n << 1)) slots <<= 1;
  return <u32> (slots << 4);
}

/**
 * Collects the marked rows: writes their indexes to `out` (u32 each, ascending) and returns how many. It reads
 * the bitmap only, so the host reads codes only for those rows.
 */
export function validate_collect(codes: usize, n: u32, out: usize): u32 {
  const failed = codes + (<usize> n << 2);
  let k: u32 = 0;
  // Whole 64-bit words: the bitmap is whole 16-byte blocks, zero past row n.
  const words = (n + 63) >> 6;
  for (let w: u32 = 0; w < words; w++) {
    let bits = load<u64>(failed + (<usize> w << 3));
    while (bits != 0) {
      store<u32>(out + (<usize> k << 2), (w << 6) + <u32> ctz(bits));
      k++;
      bits &= bits - 1;
    }
  }
  return k;
}
