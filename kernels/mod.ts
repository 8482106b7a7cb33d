/**
 * Loads the kernel module (`build/kernels/weir.wasm`, built by `deno task build:kernels`) and wraps its
 * exports in typed functions. Callers pass bytes and host objects; pointers stay inside `kernels/`.
 *
 * ```ts ignore
 * const kernels = instantiateKernels(await compileKernels());
 * const state = new RecordScanState();
 * const { records, cut } = kernels.scanRecords(state, bytes);
 * ```
 *
 * @module
 */

import { type ValidateKernels, validateKernels } from "./validate.ts";
import { KernelError } from "../pipeline/errors.ts";
import { KernelCore } from "./core.ts";
import { type RecordKernels, recordKernels } from "./records.ts";
import { type JsonKernels, jsonKernels } from "./ndjson.ts";
import { type CsvKernels, csvKernels } from "./csv.ts";

export { type RecordKernels, type RecordScan, type RecordScanOptions, RecordScanState } from "./records.ts";
export {
  type JsonChunkResult,
  type JsonColumn,
  type JsonKernels,
  type JsonParser,
  type JsonParserOptions,
  type JsonReject,
  type JsonRule,
} from "./ndjson.ts";
export {
  type CsvByteSource,
  type CsvChunkResult,
  type CsvKernels,
  type CsvLimits,
  type CsvParser,
  type CsvParserOptions,
  type CsvReject,
  type CsvRule,
} from "./csv.ts";
export { KERNEL_STATUS, type KernelStatus, type KernelStatusName, kernelStatusName } from "./status.ts";

/**
 * Where the built module is, relative to this file, so `deno compile --include build/kernels` finds it
 * inside the binary too.
 */
export const KERNELS_WASM_URL: URL = new URL("../build/kernels/weir.wasm", import.meta.url);

/** Options for {@linkcode compileKernels}. */
export interface CompileKernelsOptions {
  /** Module to load instead of {@linkcode KERNELS_WASM_URL}. */
  url?: URL;
}

/**
 * Reads and compiles the kernel module. Compile once per process; post the module to workers, which
 * instantiate it without compiling again.
 *
 * @throws {KernelError} with reason `load` when the file is missing or not a valid module.
 */
export async function compileKernels(options: CompileKernelsOptions = {}): Promise<WebAssembly.Module> {
  const url = options.url ?? KERNELS_WASM_URL;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(url);
  } catch (error) {
    const missing = error instanceof Deno.errors.NotFound;
    const message = missing
      ? `Kernel module not found: ${url.pathname} (run deno task build:kernels)`
      : `Kernel module could not be read: ${url.pathname}`;
    throw new KernelError(message, { reason: "load", cause: error });
  }
  try {
    return await WebAssembly.compile(bytes);
  } catch (error) {
    throw new KernelError(`Kernel module is not valid WebAssembly: ${url.pathname}`, {
      reason: "load",
      cause: error,
    });
  }
}

/** Test hooks of the module, for pool tests. Nothing on the data path calls them. */
export interface TestKernels {
  /** Test hook: makes the instance trap (`unreachable`) when `when` is true. */
  testTrap(when: boolean): void;
  /** Test hook: spins for roughly `ms` milliseconds of computation and returns a value derived from it. */
  testSpin(ms: number): number;
}

/** Every kernel of one instance, as typed functions. */
export interface Kernels extends RecordKernels, JsonKernels, CsvKernels, ValidateKernels, TestKernels {
  /** Bytes of the instance's linear memory (it grows to the largest job and stays there). */
  memoryBytes(): number;
}

/**
 * Instantiates the module and wraps its kernels. An instance that trapped must be dropped, never
 * reused: its memory may be half-written.
 *
 * @throws {KernelError} with reason `load` when the module lacks an export the host expects.
 */
export function instantiateKernels(module: WebAssembly.Module): Kernels {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {});
  } catch (error) {
    throw new KernelError("Kernel module could not be instantiated", { reason: "load", cause: error });
  }
  const core = new KernelCore(instance);
  const trap = core.fn("test_trap");
  const spin = core.fn("test_spin");
  return {
    ...recordKernels(core),
    ...jsonKernels(core),
    ...csvKernels(core),
    ...validateKernels(core),
    testTrap: (when) => void trap(when ? 1 : 0),
    testSpin: (ms) => spin(Math.max(0, Math.min(Math.round(ms), 0xffff_ffff))) >>> 0,
    memoryBytes: () => core.memoryBytes,
  };
}
