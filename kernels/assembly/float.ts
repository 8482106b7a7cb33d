/**
 * Correctly rounded decimal → binary64 conversion for the CSV kernel: identical to JavaScript's `Number()`
 * for every string of the accepted grammar.
 *
 * - Clinger's fast path when the digits and the power of ten are both exact doubles.
 * - Eisel-Lemire (fast_float's `compute_float`) for up to 19 significant digits; Mushtak and Lemire proved
 *   the 128-bit product always suffices, so it never needs a fallback for those.
 * - More than 19 digits: Eisel-Lemire on the truncated digits w and w+1; when both round to the same double
 *   that is the answer, otherwise the exact "simple decimal conversion" (Go's strconv `decimal`) decides.
 *
 * Nothing allocates: the slow path works in a static buffer.
 */

import { POW5_MIN_EXPONENT, POW5_TABLE } from "./pow5";

const MANTISSA_BITS: i32 = 52;
const MIN_EXPONENT: i32 = -1023;
const INFINITE_POWER: i32 = 0x7ff;
const SMALLEST_POWER_OF_TEN: i64 = -342;
const LARGEST_POWER_OF_TEN: i64 = 308;

// Exact powers of ten as doubles, for Clinger's fast path.
const POW10: usize = memory.data<f64>([
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
  1e19, 1e20, 1e21, 1e22,
]);

// High 64 bits of the 128-bit product, set by `mul128`; the low half is its return value.
let mulHigh: u64 = 0;

/** 64×64 → 128-bit multiply from 32-bit halves (wasm has no wide multiply); returns the low half. */
// @ts-ignore: decorator
@inline function mul128(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff;
  const aHi = a >> 32;
  const bLo = b & 0xffffffff;
  const bHi = b >> 32;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
  mulHigh = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  return (mid << 32) | (ll & 0xffffffff);
}

/**
 * Eisel-Lemire: the binary64 bit pattern (without sign) nearest to w × 10^q, for w != 0 with at most 19
 * digits. A straight port of fast_float's `compute_float<binary64>`.
 */
function eiselLemire(w: u64, q: i64): u64 {
  if (q < SMALLEST_POWER_OF_TEN) return 0;
  if (q > LARGEST_POWER_OF_TEN) return <u64>INFINITE_POWER << 52;
  const lz = <i32>clz<u64>(w);
  w <<= <u64>lz;
  const index = <usize>(2 * (<i32>q - POW5_MIN_EXPONENT));
  const table = POW5_TABLE + (index << 3);
  let low = mul128(w, load<u64>(table));
  let high = mulHigh;
  // 55 = mantissa bits + 3: only when the bits below them are all ones can the second word change them.
  const precisionMask: u64 = 0xffffffffffffffff >> 55;
  if ((high & precisionMask) == precisionMask) {
    mul128(w, load<u64>(table, 8));
    const secondHigh = mulHigh;
    low += secondHigh;
    if (secondHigh > low) high++;
  }
  const upperbit = <i32>(high >> 63);
  const shift = upperbit + 64 - MANTISSA_BITS - 3;
  let mantissa = high >> <u64>shift;
  // power(q) = floor(q * log2(10)) + 63, as fast_float computes it.
  let power2 = <i32>(((152170 + 65536) * <i32>q) >> 16) + 63 + upperbit - lz - MIN_EXPONENT;
  if (power2 <= 0) {
    if (-power2 + 1 >= 64) return 0;
    mantissa >>= <u64>(-power2 + 1);
    mantissa += mantissa & 1;
    mantissa >>= 1;
    power2 = mantissa < (<u64>1 << 52) ? 0 : 1;
    return (<u64>power2 << 52) | (mantissa & ((<u64>1 << 52) - 1));
  }
  // Exactly halfway between two doubles can only happen when 5^q fits in 64 bits (-4 <= q <= 23).
  if (low <= 1 && q >= -4 && q <= 23 && (mantissa & 3) == 1) {
    if ((mantissa << <u64>shift) == high) mantissa &= ~(<u64>1);
  }
  mantissa += mantissa & 1;
  mantissa >>= 1;
  if (mantissa >= (<u64>2 << 52)) {
    mantissa = <u64>1 << 52;
    power2++;
  }
  mantissa &= ~(<u64>1 << 52);
  if (power2 >= INFINITE_POWER) return <u64>INFINITE_POWER << 52;
  return (<u64>power2 << 52) | mantissa;
}

// ---- Slow path: Go's strconv "decimal" (Nigel Tao's simple decimal conversion), exact for any input ----

const MAX_DIGITS: i32 = 800;
// 32 spare digits at the end: a left shift writes at most 19 new digits past the old end before trimming.
const DIGITS: usize = memory.data(MAX_DIGITS + 32);
const MAX_SHIFT: i32 = 60;
let nd: i32 = 0;
let dp: i32 = 0;
let trunc: bool = false;

// @ts-ignore: decorator
@inline function digitAt(i: i32): u64 {
  return <u64>load<u8>(DIGITS + <usize>i);
}

function trimDecimal(): void {
  while (nd > 0 && load<u8>(DIGITS + <usize>(nd - 1)) == 0) nd--;
  if (nd == 0) dp = 0;
}

function rightShift(k: i32): void {
  let r: i32 = 0;
  let w: i32 = 0;
  let n: u64 = 0;
  const kk = <u64>k;
  for (; (n >> kk) == 0; r++) {
    if (r >= nd) {
      if (n == 0) {
        nd = 0;
        return;
      }
      while ((n >> kk) == 0) {
        n = n * 10;
        r++;
      }
      break;
    }
    n = n * 10 + digitAt(r);
  }
  dp -= r - 1;
  const mask: u64 = (<u64>1 << kk) - 1;
  for (; r < nd; r++) {
    const dig = n >> kk;
    n &= mask;
    store<u8>(DIGITS + <usize>w, <u8>dig);
    w++;
    n = n * 10 + digitAt(r);
  }
  while (n > 0) {
    const dig = n >> kk;
    n &= mask;
    if (w < MAX_DIGITS) {
      store<u8>(DIGITS + <usize>w, <u8>dig);
      w++;
    } else if (dig > 0) {
      trunc = true;
    }
    n = n * 10;
  }
  nd = w;
  trimDecimal();
}

/** Multiplies by 2^k. Digits are written from the right into the spare room, then moved to the front. */
function leftShift(k: i32): void {
  const end = nd + 20;
  let w = end;
  let n: u64 = 0;
  const kk = <u64>k;
  for (let r = nd - 1; r >= 0; r--) {
    n += digitAt(r) << kk;
    const quo = n / 10;
    w--;
    store<u8>(DIGITS + <usize>w, <u8>(n - 10 * quo));
    n = quo;
  }
  while (n > 0) {
    const quo = n / 10;
    w--;
    store<u8>(DIGITS + <usize>w, <u8>(n - 10 * quo));
    n = quo;
  }
  // w >= 0 always: n < 2^64 has at most 20 decimal digits and `end` leaves 20 digits of room.
  const count = end - w;
  const delta = count - nd;
  memory.copy(DIGITS, DIGITS + <usize>w, <usize>count);
  nd = count;
  if (nd > MAX_DIGITS) {
    for (let i = MAX_DIGITS; i < nd; i++) {
      if (load<u8>(DIGITS + <usize>i) != 0) trunc = true;
    }
    nd = MAX_DIGITS;
  }
  dp += delta;
  trimDecimal();
}

function shiftDecimal(k: i32): void {
  if (nd == 0) return;
  if (k > 0) {
    while (k > MAX_SHIFT) {
      leftShift(MAX_SHIFT);
      k -= MAX_SHIFT;
    }
    leftShift(k);
  } else if (k < 0) {
    while (k < -MAX_SHIFT) {
      rightShift(MAX_SHIFT);
      k += MAX_SHIFT;
    }
    rightShift(-k);
  }
}

function shouldRoundUp(at: i32): bool {
  if (at < 0 || at >= nd) return false;
  const d = load<u8>(DIGITS + <usize>at);
  if (d == 5 && at + 1 == nd) {
    if (trunc) return true;
    return at > 0 && (load<u8>(DIGITS + <usize>(at - 1)) & 1) == 1;
  }
  return d >= 5;
}

function roundedInteger(): u64 {
  if (dp > 20) return 0xffffffffffffffff;
  let n: u64 = 0;
  let i: i32 = 0;
  for (; i < dp && i < nd; i++) n = n * 10 + digitAt(i);
  for (; i < dp; i++) n *= 10;
  if (shouldRoundUp(dp)) n++;
  return n;
}

// Bits to shift by for each decimal exponent step (Go's powtab).
// @ts-ignore: decorator
@inline function powtab(i: i32): i32 {
  if (i >= 9) return 27;
  return <i32>load<u8>(memory.data<u8>([1, 3, 6, 9, 13, 16, 19, 23, 26]) + <usize>i);
}

/** The exact conversion of the decimal in DIGITS (nd, dp, trunc) to binary64 bits without sign. */
function decimalToBits(): u64 {
  const bias = MIN_EXPONENT;
  if (nd == 0) return 0;
  if (dp > 310) return <u64>INFINITE_POWER << 52;
  if (dp < -330) return 0;
  let exp: i32 = 0;
  while (dp > 0) {
    const n = powtab(dp);
    shiftDecimal(-n);
    exp += n;
  }
  while (dp < 0 || (dp == 0 && load<u8>(DIGITS) < 5)) {
    const n = powtab(-dp);
    shiftDecimal(n);
    exp -= n;
  }
  // The decimal is now in [0.5, 1); binary64 normalises to [1, 2).
  exp--;
  if (exp < bias + 1) {
    const n = bias + 1 - exp;
    shiftDecimal(-n);
    exp += n;
  }
  if (exp - bias >= INFINITE_POWER) return <u64>INFINITE_POWER << 52;
  shiftDecimal(1 + MANTISSA_BITS);
  let mant = roundedInteger();
  if (mant == (<u64>2 << 52)) {
    mant >>= 1;
    exp++;
    if (exp - bias >= INFINITE_POWER) return <u64>INFINITE_POWER << 52;
  }
  if ((mant & (<u64>1 << 52)) == 0) exp = bias;
  return (mant & ((<u64>1 << 52) - 1)) | (<u64>((exp - bias) & INFINITE_POWER) << 52);
}

/**
 * Loads the digits of a decimal number at [s, e) into the slow-path buffer. The text was already checked
 * by `parseFloat64`: digits, at most one '.', then an optional exponent.
 */
function loadDecimal(s: usize, e: usize): void {
  nd = 0;
  dp = 0;
  trunc = false;
  let sawDot = false;
  let i = s;
  for (; i < e; i++) {
    const c = <u32>load<u8>(i);
    if (c == 0x2e) {
      sawDot = true;
      dp = nd;
      continue;
    }
    const d = c - 0x30;
    if (d > 9) break;
    if (d == 0 && nd == 0) {
      dp--;
      continue;
    }
    if (nd < MAX_DIGITS) {
      store<u8>(DIGITS + <usize>nd, <u8>d);
      nd++;
    } else if (d != 0) {
      trunc = true;
    }
  }
  if (!sawDot) dp = nd;
  if (i < e) {
    // Exponent: 'e' or 'E', optional sign, digits (already validated). Clamp like Go does.
    i++;
    let neg = false;
    const c = load<u8>(i);
    if (c == 0x2b || c == 0x2d) {
      neg = c == 0x2d;
      i++;
    }
    let x: i32 = 0;
    for (; i < e; i++) {
      if (x < 10000) x = x * 10 + <i32>(load<u8>(i) - 0x30);
    }
    dp += neg ? -x : x;
  }
  trimDecimal();
}

/** Result of the last successful {@link parseFloat64}. */
export let parsedFloat: f64 = 0;

/**
 * Parses [s, e) as a decimal float: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, or
 * `inf`, `infinity`, `nan` in any case with an optional sign. Returns false when the text does not match;
 * otherwise sets {@link parsedFloat} to exactly what `Number()` gives for the same text.
 */
export function parseFloat64(s: usize, e: usize): bool {
  let i = s;
  let neg = false;
  if (i == e) return false;
  let c = <u32>load<u8>(i);
  if (c == 0x2d || c == 0x2b) {
    neg = c == 0x2d;
    i++;
    if (i == e) return false;
  }
  const numStart = i;
  let w: u64 = 0;
  // Significant digits seen (after leading zeros); only the first 19 go into w.
  let digits: i32 = 0;
  let exp10: i64 = 0;
  let anyDigit = false;
  c = <u32>load<u8>(i) - 0x30;
  while (c <= 9) {
    anyDigit = true;
    if (digits < 19) {
      w = w * 10 + <u64>c;
      if (w != 0) digits++;
    } else {
      digits++;
      exp10++;
    }
    i++;
    if (i == e) break;
    c = <u32>load<u8>(i) - 0x30;
  }
  if (i < e && load<u8>(i) == 0x2e) {
    i++;
    if (i < e) {
      c = <u32>load<u8>(i) - 0x30;
      while (c <= 9) {
        anyDigit = true;
        if (digits < 19) {
          w = w * 10 + <u64>c;
          if (w != 0) digits++;
          exp10--;
        } else {
          digits++;
        }
        i++;
        if (i == e) break;
        c = <u32>load<u8>(i) - 0x30;
      }
    }
  }
  if (!anyDigit) return i == numStart && parseSpecial(i, e, neg);
  if (i < e) {
    c = <u32>load<u8>(i) | 0x20;
    if (c != 0x65) return false;
    i++;
    if (i == e) return false;
    let expNeg = false;
    c = <u32>load<u8>(i);
    if (c == 0x2d || c == 0x2b) {
      expNeg = c == 0x2d;
      i++;
      if (i == e) return false;
    }
    let x: i64 = 0;
    while (i < e) {
      const d = <u32>load<u8>(i) - 0x30;
      if (d > 9) return false;
      // Clamp: past 10^6 the value is 0 or infinity whatever the digits say.
      if (x < 1000000) x = x * 10 + <i64>d;
      i++;
    }
    exp10 += expNeg ? -x : x;
  }
  const sign: u64 = neg ? <u64>1 << 63 : 0;
  if (w == 0) {
    parsedFloat = reinterpret<f64>(sign);
    return true;
  }
  let bits: u64;
  if (digits <= 19) {
    if (w <= (<u64>1 << 53) && exp10 >= -22 && exp10 <= 22) {
      // Clinger: both operands are exact doubles, so one IEEE operation rounds correctly.
      const f = <f64>w;
      const p = load<f64>(POW10 + (<usize>(exp10 < 0 ? -exp10 : exp10) << 3));
      const r = exp10 < 0 ? f / p : f * p;
      parsedFloat = neg ? -r : r;
      return true;
    }
    bits = eiselLemire(w, exp10);
  } else {
    // w holds the first 19 digits; the true value lies in [w, w+1) × 10^exp10.
    bits = eiselLemire(w, exp10);
    if (bits != eiselLemire(w + 1, exp10)) {
      loadDecimal(numStart, e);
      bits = decimalToBits();
    }
  }
  parsedFloat = reinterpret<f64>(bits | sign);
  return true;
}

/** `inf`, `infinity`, `nan` in any letter case (the sign was already read). */
function parseSpecial(i: usize, e: usize, neg: bool): bool {
  const n = e - i;
  if (n == 3) {
    const t = (<u32>load<u8>(i) | 0x20) | ((<u32>load<u8>(i, 1) | 0x20) << 8) | ((<u32>load<u8>(i, 2) | 0x20) << 16);
    if (t == 0x666e69) {
      parsedFloat = neg ? -Infinity : Infinity;
      return true;
    }
    if (t == 0x6e616e) {
      parsedFloat = NaN;
      return true;
    }
    return false;
  }
  if (n == 8) {
    // "infinity", lower-cased, compared as one 64-bit word.
    const t = load<u64>(i) | 0x2020202020202020;
    if (t == 0x7974696e69666e69) {
      parsedFloat = neg ? -Infinity : Infinity;
      return true;
    }
  }
  return false;
}
