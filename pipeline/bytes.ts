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

/**
 * A free-list of byte buffers for data that moves to a kernel worker and back (the chunks of an input): each
 * chunk is copied into a buffer taken here, the buffer is moved to a worker and comes back with the result, and
 * is given back once the chunk is done with. Reused memory is already mapped, so the copy into it costs a
 * fraction of a fresh buffer's (whose page faults cost more than the copy itself), and nothing is left for the
 * collector to free.
 *
 * @example
 * ```ts
 * import { BufferFreeList } from "./bytes.ts";
 * const buffers = new BufferFreeList(2);
 * const first = buffers.take(1000);
 * buffers.give(first);
 * if (buffers.take(900) !== first) throw new Error("expected the given-back buffer");
 * ```
 */
export class BufferFreeList {
  readonly #free: ArrayBuffer[] = [];
  readonly #keep: number;
  readonly #maxBytes: number;
  readonly #minBytes: number;
  #bytes = 0;

  /**
   * Keeps up to `keep` given-back buffers (about the chunks in flight, plus the one being filled) and no more
   * than `maxBytes` in all, so that a few huge chunks (a record over the chunk size) do not stay mapped. With
   * `minBytes`, smaller buffers are neither kept nor handed out: they cost little to allocate, a small one
   * would hold a slot, and a small request would pin a large buffer for as long as its result lives.
   */
  constructor(keep: number, options: { maxBytes?: number; minBytes?: number } = {}) {
    this.#keep = keep;
    this.#maxBytes = options.maxBytes ?? Infinity;
    this.#minBytes = options.minBytes ?? 0;
  }

  /**
   * A buffer of at least `bytes` bytes: a given-back one when one is large enough (and `bytes` is at least
   * `minBytes`), else a new one with 1/16 headroom, as chunks vary by a record or so around their target size.
   */
  take(bytes: number): ArrayBuffer {
    const free = this.#free;
    for (let i = free.length - 1; i >= 0 && bytes >= this.#minBytes; i--) {
      const buffer = free[i];
      if (buffer.byteLength < bytes) continue;
      free[i] = free[free.length - 1];
      free.pop();
      this.#bytes -= buffer.byteLength;
      return buffer;
    }
    return new ArrayBuffer(bytes + (bytes >> 4));
  }

  /**
   * Gives `buffer` back: its bytes may be overwritten from now on. One that was moved away (detached), one
   * already given back, one under `minBytes` and one past `keep` or `maxBytes` are dropped.
   */
  give(buffer: ArrayBuffer): void {
    if (buffer.detached || buffer.byteLength < this.#minBytes) return;
    if (this.#free.length >= this.#keep || this.#free.includes(buffer)) return;
    if (this.#bytes + buffer.byteLength > this.#maxBytes) return;
    this.#bytes += buffer.byteLength;
    this.#free.push(buffer);
  }

  /** Buffers kept for reuse. */
  get size(): number {
    return this.#free.length;
  }
}

/** Reads up to `n` bytes at `offset` of `file` (fewer at its end) into a new buffer. */
export async function readAt(file: Deno.FsFile, offset: number, n: number): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(n);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < n) {
    const read = await file.read(out.subarray(got));
    if (read === null) break;
    got += read;
  }
  return out.subarray(0, got);
}
