/**
 * Time-ordered ids: a prefix and a ULID (48-bit millisecond time, 80 random bits, Crockford base32).
 * Within one millisecond the random part is incremented, so ids made by one process are strictly
 * increasing and keyset paging on the id alone lists newest first.
 *
 * @module
 */

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastTime = -1;
const lastRandom = new Uint8Array(10);

/**
 * A new id such as `r_01JDZ3KX5M8Q9W2T4V6Y8A0C2E`.
 *
 * @example
 * ```ts
 * import { newId } from "./ids.ts";
 * const a = newId("r");
 * const b = newId("r");
 * if (!(a < b) || !/^r_[0-9A-HJKMNP-TV-Z]{26}$/.test(a)) throw new Error("expected increasing ULIDs");
 * ```
 */
export function newId(prefix: string, now: number = Date.now()): string {
  if (now > lastTime) {
    lastTime = now;
    crypto.getRandomValues(lastRandom);
  } else {
    // Same millisecond (or the clock stepped back): keep the time, bump the random part.
    increment(lastRandom);
  }
  return `${prefix}_${encodeTime(lastTime)}${encodeRandom(lastRandom)}`;
}

function increment(bytes: Uint8Array): void {
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 255) {
      bytes[i]++;
      return;
    }
    bytes[i] = 0;
  }
}

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 characters of 5 bits each.
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}
