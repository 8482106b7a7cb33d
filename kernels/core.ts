/**
 * The low-level side of one kernel instance: the arena, copying bytes in and out, and status checks.
 * Only the typed wrappers in `kernels/` use it; pointers never leave this directory.
 *
 * @module
 */

import { KernelError } from "../pipeline/errors.ts";
import { KERNEL_STATUS, kernelStatusName } from "./status.ts";

/** A kernel export: numbers in, a number out. */
export type KernelFunction = (...args: number[]) => number;

/** One instance of the kernel module with helpers for its linear memory. */
export class KernelCore {
  #exports: WebAssembly.Exports;
  #memory: WebAssembly.Memory;
  #reset: () => void;
  #alloc: (size: number) => number;

  /** Wraps an instance; throws a `KernelError` (`load`) when the module lacks the memory or the arena. */
  constructor(instance: WebAssembly.Instance) {
    this.#exports = instance.exports;
    const memory = this.#exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw stale("memory");
    this.#memory = memory;
    this.#reset = this.fn("arena_reset");
    this.#alloc = this.fn("arena_alloc");
  }

  /** An exported function; throws a `KernelError` (`load`) naming the export when it is missing. */
  fn(name: string): KernelFunction {
    const value = this.#exports[name];
    if (typeof value !== "function") throw stale(name);
    return value as KernelFunction;
  }

  /** The value of an exported constant (an immutable global). */
  constant(name: string): number {
    const value = this.#exports[name];
    if (!(value instanceof WebAssembly.Global)) throw stale(name);
    return Number(value.value);
  }

  /** Forgets every arena allocation; call at the start of each job. */
  reset(): void {
    this.#reset();
  }

  /** Allocates `size` bytes in the arena; throws a `KernelError` (`status`) when memory cannot grow. */
  alloc(size: number): number {
    const ptr = this.#alloc(size) >>> 0;
    if (ptr === 0) {
      throw new KernelError(`Kernel arena is out of memory: ${size} bytes requested`, {
        reason: "status",
        status: KERNEL_STATUS.OUT_OF_MEMORY,
      });
    }
    return ptr;
  }

  /** Allocates room for `bytes` in the arena and copies them in; returns the pointer. */
  write(bytes: Uint8Array): number {
    const ptr = this.alloc(bytes.byteLength);
    this.view(ptr, bytes.byteLength).set(bytes);
    return ptr;
  }

  /** A view of linear memory. Valid until the next allocation, which may grow (and move) the memory. */
  view(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.#memory.buffer, ptr, length);
  }

  /** An `Int32Array` over `length` i32s of linear memory at `ptr` (4-aligned); valid like {@linkcode view}. */
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.#memory.buffer, ptr, length);
  }

  /** Bytes of linear memory, for statistics. */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  /**
   * Returns a data status (success or a condition in the data) and throws a `KernelError` (`status`)
   * for a failure, naming the kernel.
   */
  check(status: number, kernel: string): number {
    if (status >= 0) return status;
    const name = kernelStatusName(status) ?? "unknown status";
    throw new KernelError(`Kernel ${kernel} failed: ${name} (${status})`, { reason: "status", status });
  }
}

function stale(name: string): KernelError {
  return new KernelError(
    `Kernel module has no export ${name}: rebuild it with deno task build:kernels`,
    { reason: "load" },
  );
}
