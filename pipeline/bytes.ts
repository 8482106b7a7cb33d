/**
 * Byte helpers shared across the pipeline.
 *
 * @module
 */

/**
 * `parts` one after another in one new buffer.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 * if (concatBytes([Uint8Array.of(1), Uint8Array.of(2, 3)]).join() !== "1,2,3") throw new Error("expected 1,2,3");
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
