/**
 * Typed decoders for one CSV field's bytes [s, e). Each returns false when the text does not conform to
 * its type, and otherwise stores the value at `dst` (nothing is written on failure). No allocation, no
 * calls per byte. The accepted grammars are documented in kernels/README.md.
 */

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/** Value of the ASCII digit at p, or a number above 9 when it is not a digit. */
// @ts-ignore: decorator
@inline function digit(p: usize): u32 {
  return <u32>load<u8>(p) - 0x30;
}

/** Two ASCII digits at p as a number, or a number above 99 when either is not a digit. */
// @ts-ignore: decorator
@inline function twoDigits(p: usize): u32 {
  const a = digit(p);
  const b = digit(p + 1);
  return a > 9 || b > 9 ? 1000 : a * 10 + b;
}

/**
 * The value of the n (1..8) ASCII digits at p, or -1 when one is not a digit. Branch-free: the usual loop
 * mispredicts its exit on every number whose length differs from the last one's. Reads 8 bytes at p (the
 * input always has spare bytes after it).
 */
// @ts-ignore: decorator
@inline function eightDigits(p: usize, n: u32): i64 {
  return digitsOf(load<u64>(p), n);
}

/** {@link eightDigits} of the low n (1..8) bytes of `word`; the bytes above them do not matter. */
// @ts-ignore: decorator
@inline export function digitsOf(word: u64, n: u32): i64 {
  // Less '0' in every byte, then the n digits move to the top bytes: zeros fill the bytes below, which then
  // count as leading zeros. A borrow only moves up, from a digit byte to the next: the bytes shifted out
  // (after the digits) never change the digits' bytes.
  let x = (word - 0x3030303030303030) << ((<u64> 8 - <u64> n) << 3);
  // A byte is a digit when neither byte - '0' nor byte + 0x46 has its top bit set. Only a non-digit can
  // borrow or carry into the next byte, and by at most one, which never clears both top bits (checked for
  // every byte value), so all eight are checked at once.
  const bad = (x | (x + 0x7676767676767676)) & 0x8080808080808080;
  x = x * 10 + (x >> 8);
  x = (((x & 0x000000ff000000ff) * (100 + (<u64> 1000000 << 32))) +
    (((x >> 16) & 0x000000ff000000ff) * (1 + (<u64> 10000 << 32)))) >> 32;
  return bad == 0 ? <i64> x : -1;
}

/**
 * `[+-]?[0-9]+` within the int64 range. Up to 18 digits cannot overflow, so the common case is one loop
 * with a digit check; longer texts skip leading zeros and check the bound. Inlined: the call cost as much
 * as the usual short number's decoding.
 */
// @ts-ignore: decorator
@inline export function parseInt64(s: usize, e: usize, dst: usize): bool {
  let i = s;
  if (i == e) return false;
  let neg = false;
  const c0 = load<u8>(i);
  if (c0 == 0x2d || c0 == 0x2b) {
    neg = c0 == 0x2d;
    i++;
    if (i == e) return false;
  }
  if (e - i <= 8) {
    const v = eightDigits(i, <u32> (e - i));
    if (v < 0) return false;
    store<i64>(dst, neg ? -v : v);
    return true;
  }
  if (e - i > 18) {
    while (i < e && load<u8>(i) == 0x30) i++;
    if (e - i > 19) return false;
  }
  let v: u64 = 0;
  while (i < e) {
    const d = digit(i);
    if (d > 9) return false;
    v = v * 10 + <u64>d;
    i++;
  }
  // 19 digits fit in u64 (< 1.8e19), so the bound check below sees the true value.
  if (neg) {
    if (v > (<u64>1 << 63)) return false;
    store<i64>(dst, -<i64>v);
  } else {
    if (v > <u64>i64.MAX_VALUE) return false;
    store<i64>(dst, <i64>v);
  }
  return true;
}

const POW10_I64: usize = memory.data<i64>([
  1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000, 100000000000,
  1000000000000, 10000000000000, 100000000000000, 1000000000000000, 10000000000000000, 100000000000000000,
  1000000000000000000,
]);

/**
 * `[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)` as a scaled integer value × 10^scale, for precision <= 18. More
 * fractional digits than `scale` are accepted only when the extra ones are zeros (the value stays exact);
 * more than `precision - scale` integer digits do not fit.
 */
// @ts-ignore: decorator
@inline export function parseDecimal(s: usize, e: usize, precision: i32, scale: i32, dst: usize): bool {
  return parseDecimalFast(s, e, precision, scale, dst) || parseDecimalGeneral(s, e, precision, scale, dst);
}

/**
 * {@link parseDecimal}'s usual text, decoded inline: 2..8 bytes, no sign, exactly `scale` (>= 1) digits
 * after the point, which is then at a known place. False for anything else, which is for the general parser.
 */
// @ts-ignore: decorator
@inline export function parseDecimalFast(s: usize, e: usize, precision: i32, scale: i32, dst: usize): bool {
  const n = <u32> (e - s);
  const dot = n - <u32> scale - 1;
  if (n <= 8 && dot - 1 < 6 && load<u8>(s + dot) == 0x2e) {
    const word = load<u64>(s);
    const low = <u64> dot << 3;
    // The digits close up over the point: the value, already scaled.
    const v = digitsOf((word & ((<u64> 1 << low) - 1)) | ((word >> (low + 8)) << low), n - 1);
    if (v >= 0 && v < load<i64>(POW10_I64 + (<usize> precision << 3))) {
      store<i64>(dst, v);
      return true;
    }
  }
  return false;
}

/** {@link parseDecimal} for any text. */
function parseDecimalGeneral(s: usize, e: usize, precision: i32, scale: i32, dst: usize): bool {
  let i = s;
  if (i == e) return false;
  let neg = false;
  const c0 = load<u8>(i);
  if (c0 == 0x2d || c0 == 0x2b) {
    neg = c0 == 0x2d;
    i++;
  }
  // Common case: 1..8 integer digits, a point, then 1..scale (<= 8) fraction digits.
  const n = <u32> (e - i);
  if (n >= 3 && n <= 17) {
    // The first '.' among the bytes 1..8, by a zero-byte search in one word (9 when there is none).
    const x = load<u64>(i + 1) ^ 0x2e2e2e2e2e2e2e2e;
    const z = (x - 0x0101010101010101) & ~x & 0x8080808080808080;
    const dot: u32 = z == 0 ? 9 : (<u32>ctz(z) >> 3) + 1;
    const frac = n - dot - 1;
    if (dot < n && dot <= 8 && frac >= 1 && frac <= <u32> scale && frac <= 8) {
      if (n <= 8) {
        // The text fits one word (so dot <= 6): its digits close up over the point and decode at once, as
        // whole × 10^frac + part, which has fewer than precision - scale + frac digits exactly when the whole
        // part has fewer than precision - scale.
        const word = load<u64>(i);
        const low = <u64> dot << 3;
        const v = digitsOf((word & ((<u64> 1 << low) - 1)) | ((word >> (low + 8)) << low), n - 1);
        if (v >= 0 && v < load<i64>(POW10_I64 + (<usize> (<u32> (precision - scale) + frac) << 3))) {
          const scaled = v * load<i64>(POW10_I64 + (<usize> (<u32> scale - frac) << 3));
          store<i64>(dst, neg ? -scaled : scaled);
          return true;
        }
      }
      const whole = eightDigits(i, dot);
      const part = eightDigits(i + dot + 1, frac);
      if (whole >= 0 && part >= 0 && whole < load<i64>(POW10_I64 + (<usize> (precision - scale) << 3))) {
        const v = whole * load<i64>(POW10_I64 + (<usize> scale << 3)) +
          part * load<i64>(POW10_I64 + (<usize> (<u32> scale - frac) << 3));
        store<i64>(dst, neg ? -v : v);
        return true;
      }
    }
  }
  let any = false;
  while (i < e && load<u8>(i) == 0x30) {
    i++;
    any = true;
  }
  let v: i64 = 0;
  let intDigits: i32 = 0;
  while (i < e) {
    const d = digit(i);
    if (d > 9) break;
    v = v * 10 + <i64>d;
    intDigits++;
    if (intDigits > precision - scale) return false;
    i++;
  }
  any = any || intDigits > 0;
  let fracDigits: i32 = 0;
  if (i < e && load<u8>(i) == 0x2e) {
    i++;
    while (i < e) {
      const d = digit(i);
      if (d > 9) return false;
      any = true;
      if (fracDigits < scale) {
        v = v * 10 + <i64>d;
        fracDigits++;
      } else if (d != 0) {
        return false;
      }
      i++;
    }
  }
  if (i != e || !any) return false;
  v *= load<i64>(POW10_I64 + (<usize>(scale - fracDigits) << 3));
  store<i64>(dst, neg ? -v : v);
  return true;
}

/**
 * `true`/`false`, `yes`/`no`, `1`/`0`, in any letter case. Returns 1 or 0, or -1 when the text is none
 * of these. Branch-free on the text (columns mix the two values at random): its bytes, as one word,
 * are compared with each spelling. Reads 8 bytes at s (the input always has spare bytes after it).
 */
export function parseBoolean(s: usize, e: usize): i32 {
  const n = e - s;
  if (n - 1 > 4) return -1;
  const mask = (<u64>1 << (<u64>n << 3)) - 1;
  const word = load<u64>(s) & mask;
  // Letters only: 0x20 would also turn control bytes into digits.
  const lower = word | (0x2020202020 & mask);
  const one = <i32>(word == 0x31) | <i32>(lower == 0x65757274) | <i32>(lower == 0x736579);
  const zero = <i32>(word == 0x30) | <i32>(lower == 0x65736c6166) | <i32>(lower == 0x6f6e);
  return one != 0 ? 1 : zero != 0 ? 0 : -1;
}

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Hinnant's `days_from_civil`). */
// @ts-ignore: decorator
@inline function daysFromCivil(y: i32, m: u32, d: u32): i32 {
  y -= m <= 2 ? 1 : 0;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = <u32>(y - era * 400);
  const doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + <i32>doe - 719468;
}

// @ts-ignore: decorator
@inline function daysInMonth(y: i32, m: u32): u32 {
  if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
  return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
}

/**
 * Days since the epoch of `YYYY-MM-DD` at p (10 bytes, which the caller guarantees), or `i32.MIN_VALUE`
 * when they are not a valid date. Inlined, like csv.ts's copyUnescaped: the lean variant of the fast path's
 * field loop has no call.
 */
// @ts-ignore: decorator
@inline export function dateAt(p: usize): i32 {
  if (load<u8>(p, 4) != 0x2d || load<u8>(p, 7) != 0x2d) return i32.MIN_VALUE;
  const hi = twoDigits(p);
  const lo = twoDigits(p + 2);
  const m = twoDigits(p + 5);
  const d = twoDigits(p + 8);
  if (hi > 99 || lo > 99 || m < 1 || m > 12 || d < 1) return i32.MIN_VALUE;
  const y = <i32>(hi * 100 + lo);
  if (d > daysInMonth(y, m)) return i32.MIN_VALUE;
  return daysFromCivil(y, m, d);
}

/** `YYYY-MM-DD` as an int32 count of days since 1970-01-01. */
export function parseDate(s: usize, e: usize, dst: usize): bool {
  if (e - s != 10) return false;
  const days = dateAt(s);
  if (days == i32.MIN_VALUE) return false;
  store<i32>(dst, days);
  return true;
}

/** An ISO 8601 timestamp (see {@link parseTimestampAfterDate}) as int64 µs since the epoch, UTC. */
export function parseTimestamp(s: usize, e: usize, dst: usize): bool {
  if (e - s < 10) return false;
  const days = dateAt(s);
  if (days == i32.MIN_VALUE) return false;
  return parseTimestampAfterDate(s, e, days, dst);
}

/**
 * {@link parseTimestampFast}'s shapes, by the length of the text after the seconds (0, or a point and 1..6
 * fraction digits): 48 bytes each. The 16 bytes after the date separator, less '0', must lie between the
 * first two vectors lane by lane (digits 0..9, ':' 10, '.' 254; 0..255 where anything goes); the third
 * picks the digits as `hhmmss..` and `ffffff..` (255 gives 0: missing fraction digits count as zeros).
 */
const TIME_SHAPES: usize = memory.data<u8>([
  // 0: no fraction
  0, 0, 10, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 255, 255, 255, 255, 255, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  // 1: unused (a point without digits)
  0, 0, 10, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 255, 255, 255, 255, 255, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
  // 2: 1 fraction digit
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 255, 255, 255, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 255, 255, 255, 255, 255, 255, 255,
  // 3: 2 fraction digits
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 9, 255, 255, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 10, 255, 255, 255, 255, 255, 255,
  // 4: 3 fraction digits
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 9, 9, 255, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 10, 11, 255, 255, 255, 255, 255,
  // 5: 4 fraction digits
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 9, 9, 9, 255, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 10, 11, 12, 255, 255, 255, 255,
  // 6: 5 fraction digits
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 9, 9, 9, 9, 255, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 10, 11, 12, 13, 255, 255, 255,
  // 7: 6 fraction digits
  0, 0, 10, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0,
  9, 9, 10, 9, 9, 10, 9, 9, 254, 9, 9, 9, 9, 9, 9, 255,
  0, 1, 3, 4, 6, 7, 255, 255, 9, 10, 11, 12, 13, 14, 255, 255,
]);

/**
 * The common shape of {@link parseTimestampAfterDate}, decoded in a few vector steps without branches on
 * its digits: `YYYY-MM-DD` + (`T`, `t` or a space) + `hh:mm:ss` + optionally `.f{1,6}` + optionally `Z` or
 * `z`. Returns false when the text is not of this shape (an offset, no seconds, a bad digit, an hour past
 * 23, more than six fraction digits…), leaving the decision to the general parser, which accepts every text
 * this one does with the same value. Reads the 16 bytes after the date separator (the input always has
 * spare bytes after it).
 */
// @ts-ignore: decorator
@inline export function parseTimestampFast(s: usize, e: usize, days: i32, dst: usize): bool {
  const end = (<u32>load<u8>(e - 1) | 0x20) == 0x7a ? e - 1 : e;
  // The bytes after the seconds: none, or a point and the fraction digits.
  const m = end - s - 19;
  if (m > 7 || m == 1) return false;
  const sep = <u32>load<u8>(s, 10);
  if ((sep | 0x20) != 0x74 && sep != 0x20) return false;
  const shape = TIME_SHAPES + m * 48;
  // Lanes: hh ':' mm ':' ss '.' ffffff, less '0'.
  const d = i8x16.sub(v128.load(s, 11), i8x16.splat(0x30));
  const conforms = i8x16.eq(i8x16.max_u(i8x16.min_u(d, v128.load(shape, 16)), v128.load(shape)), d);
  // Digit pairs as numbers: hh, mm, ss, 0, then the fraction's pairs (the low byte of a lane is the tens).
  const digits = i8x16.swizzle(d, v128.load(shape, 32));
  const pairs = i16x8.add(
    i16x8.mul(v128.and(digits, i16x8.splat(0xff)), i16x8.splat(10)),
    i16x8.shr_u(digits, 8),
  );
  const inRange = i16x8.eq(i16x8.min_u(pairs, i16x8(23, 59, 59, 0, 99, 99, 99, 0)), pairs);
  if (i8x16.bitmask(v128.and(conforms, inRange)) != 0xffff) return false;
  // [hh × 60 + mm, ss, the first four fraction digits, the last two].
  const parts = i32x4.dot_i16x8_s(pairs, i16x8(60, 1, 1, 0, 100, 1, 1, 0));
  const seconds = i32x4.extract_lane(parts, 0) * 60 + i32x4.extract_lane(parts, 1);
  const micros = i32x4.extract_lane(parts, 2) * 100 + i32x4.extract_lane(parts, 3);
  store<i64>(dst, (<i64>days * SECONDS_PER_DAY + <i64>seconds) * MICROS_PER_SECOND + <i64>micros);
  return true;
}

/**
 * The time of the most common timestamp text, `YYYY-MM-DDThh:mm:ss.fffZ` (24 bytes), from `t`, its bytes 8..23
 * (the last two date digits, `T`, the time, `Z`), given the date's `days`. Its shape is known, so the checks
 * and the digits' places are constants, not {@link TIME_SHAPES}' rows in memory. Returns false when the text
 * is not of this shape (other letters, a bad digit, an hour past 23...), for {@link parseTimestampFast},
 * which gives the same value for every text this one takes.
 */
// @ts-ignore: decorator
@inline export function timestamp24(t: v128, days: i32, dst: usize): bool {
  // A digit xor '0' is 0..9, a matching separator 0; the first two lanes are the date's.
  const x = v128.xor(t, i8x16(0, 0, 0x54, 0x30, 0x30, 0x3a, 0x30, 0x30, 0x3a, 0x30, 0x30, 0x2e, 0x30, 0x30, 0x30, 0x5a));
  const conforms = i8x16.le_u(x, i8x16(-1, -1, 0, 9, 9, 0, 9, 9, 0, 9, 9, 0, 9, 9, 9, 0));
  // Digit pairs as numbers (the low byte of a lane is the tens): hh, mm, ss, 0, fff as fff0 in two lanes.
  const digits = i8x16.swizzle(x, i8x16(3, 4, 6, 7, 9, 10, -1, -1, 12, 13, 14, -1, -1, -1, -1, -1));
  const pairs = i16x8.add(
    i16x8.mul(v128.and(digits, i16x8.splat(0xff)), i16x8.splat(10)),
    i16x8.shr_u(digits, 8),
  );
  const inRange = i16x8.le_u(pairs, i16x8(23, 59, 59, 0, 99, 99, 0, 0));
  if (!i8x16.all_true(v128.and(conforms, inRange))) return false;
  // [hh × 3600 + mm × 60, ss, the fraction in units of 100 µs, 0].
  const parts = i32x4.dot_i16x8_s(pairs, i16x8(3600, 60, 1, 0, 100, 1, 0, 0));
  const seconds = i32x4.extract_lane(parts, 0) + i32x4.extract_lane(parts, 1);
  const micros = i32x4.extract_lane(parts, 2) * 100;
  store<i64>(dst, (<i64>days * SECONDS_PER_DAY + <i64>seconds) * MICROS_PER_SECOND + <i64>micros);
  return true;
}

/**
 * ISO 8601 timestamp as int64 microseconds since the epoch, UTC:
 * `YYYY-MM-DD` then optionally (`T`, `t` or a space) `hh:mm[:ss[.f{1,9}]]` then optionally `Z`, `z`,
 * `±hh:mm`, `±hhmm` or `±hh`. No offset means UTC; a date alone is midnight UTC. Fraction digits past the
 * sixth (nanoseconds) are truncated.
 *
 * The date part (the first 10 bytes, e - s >= 10) was already decoded by {@link dateAt} into `days`.
 */
export function parseTimestampAfterDate(s: usize, e: usize, days: i32, dst: usize): bool {
  let seconds = <i64>days * SECONDS_PER_DAY;
  let micros: i64 = 0;
  let i = s + 10;
  if (i < e) {
    const sep = load<u8>(i);
    if ((sep | 0x20) != 0x74 && sep != 0x20) return false;
    i++;
    if (e - i < 5 || load<u8>(i, 2) != 0x3a) return false;
    const hh = twoDigits(i);
    const mm = twoDigits(i + 3);
    if (hh > 23 || mm > 59) return false;
    seconds += <i64>(hh * 3600 + mm * 60);
    i += 5;
    if (i < e && load<u8>(i) == 0x3a) {
      if (e - i < 3) return false;
      const ss = twoDigits(i + 1);
      if (ss > 59) return false;
      seconds += <i64>ss;
      i += 3;
      if (i < e && load<u8>(i) == 0x2e) {
        i++;
        let fd: i32 = 0;
        while (i < e) {
          const d = digit(i);
          if (d > 9) break;
          if (fd < 6) micros = micros * 10 + <i64>d;
          fd++;
          i++;
        }
        if (fd == 0 || fd > 9) return false;
        while (fd < 6) {
          micros *= 10;
          fd++;
        }
      }
    }
    if (i < e) {
      const z = load<u8>(i);
      if ((z | 0x20) == 0x7a) {
        i++;
      } else if (z == 0x2b || z == 0x2d) {
        i++;
        if (e - i < 2) return false;
        const oh = twoDigits(i);
        if (oh > 23) return false;
        i += 2;
        let om: u32 = 0;
        if (i < e) {
          if (load<u8>(i) == 0x3a) i++;
          if (e - i != 2) return false;
          om = twoDigits(i);
          if (om > 59) return false;
          i += 2;
        }
        const offset = <i64>(oh * 3600 + om * 60);
        seconds += z == 0x2b ? -offset : offset;
      } else {
        return false;
      }
    }
    if (i != e) return false;
  }
  store<i64>(dst, seconds * MICROS_PER_SECOND + micros);
  return true;
}
