/**
 * One seeded pseudo-random generator for everything weir generates reproducibly: demo data, benchmark data and
 * test inputs. The same seed always gives the same sequence, so any generated input can be replayed.
 *
 * @module
 */

/**
 * Mulberry32: a tiny, fast PRNG returning numbers in [0, 1); good enough to make data look varied.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./seeded_random.ts";
 * const a = seededRandom(42), b = seededRandom(42);
 * if (a() !== b()) throw new Error("same seed, same sequence");
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
