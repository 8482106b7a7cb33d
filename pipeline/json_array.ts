/**
 * Turns a streamed JSON array of objects (`[ {...}, {...} ]`, pretty-printed or not) into NDJSON, one element a
 * line, so arrays take the same chunked, parallel path as NDJSON. Whitespace between tokens (newlines
 * included) becomes a space; strings are copied as they are. A record's `line` is then its element number.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = [0x5b, 0x7b]; // [ {
const CLOSE = [0x5d, 0x7d]; // ] }
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

/** Converts a JSON array stream to NDJSON; what is not inside the top-level array is passed through as a line. */
export async function* jsonArrayToNdjson(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for await (const piece of input) {
    const out = new Uint8Array(piece.length + 1);
    let n = 0;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i];
      if (inString) {
        out[n++] = b;
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
        continue;
      }
      if (b === QUOTE) {
        inString = true;
        out[n++] = b;
      } else if (OPEN.includes(b)) {
        depth++;
        if (depth > 1) out[n++] = b; // the outer bracket is dropped
      } else if (CLOSE.includes(b)) {
        depth--;
        if (depth >= 1) out[n++] = b;
        else out[n++] = LF; // the array's end ends its last element
      } else if (b === COMMA && depth === 1) {
        out[n++] = LF;
      } else if (b === LF || b === CR) {
        if (depth >= 1) out[n++] = SPACE;
        else out[n++] = LF;
      } else {
        out[n++] = b;
      }
    }
    if (n > 0) yield out.subarray(0, n);
  }
}
