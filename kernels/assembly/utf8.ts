/**
 * UTF-8 validation for the CSV kernel, called only for 64-byte blocks that hold a byte >= 0x80 (the SIMD
 * pass finds those), so ASCII input never reaches it.
 */

/** Bit i set: the byte at `base + i` starts an invalid sequence. Written by {@link validateUtf8}. */
export let utf8BadMask: u64 = 0;

/**
 * Validates the sequences that start in [from, to) (to <= base + 64), reading up to three bytes past `to`
 * but never past `len`. Marks the first byte of each invalid sequence in {@link utf8BadMask} (relative to
 * `base`) and resumes at the next byte. Returns the offset where the next block's validation starts.
 * Rejects overlong forms, surrogates and code points above U+10FFFF: the same inputs that
 * `TextDecoder` with `fatal: true` rejects.
 */
export function validateUtf8(ptr: usize, from: u32, to: u32, len: u32, base: u32): u32 {
  let bad: u64 = 0;
  let i = from;
  while (i < to) {
    const c = <u32>load<u8>(ptr + i);
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: u32 = 0;
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
      bad |= <u64>1 << <u64>(i - base);
      i++;
      continue;
    }
    let ok = i + n < len;
    if (ok) {
      const c1 = <u32>load<u8>(ptr + i + 1);
      ok = c1 >= lo && c1 <= hi;
      for (let k: u32 = 2; ok && k <= n; k++) {
        const ck = <u32>load<u8>(ptr + i + k);
        ok = ck >= 0x80 && ck <= 0xbf;
      }
    }
    if (ok) {
      i += n + 1;
    } else {
      bad |= <u64>1 << <u64>(i - base);
      i++;
    }
  }
  utf8BadMask = bad;
  return i;
}
