/**
 * Host mirror of the kernel status codes in `kernels/assembly/status.ts`; `status_test.ts` checks that
 * both agree. `0` is success, a positive code is a condition in the data (reported as data), a negative
 * code is a kernel failure.
 *
 * @module
 */

/** Kernel status codes by name. */
export const KERNEL_STATUS = Object.freeze(
  {
    OK: 0,
    UNTERMINATED_QUOTE: 1,
    OUT_OF_MEMORY: -1,
    BAD_ARGUMENT: -2,
    BAD_STATE: -3,
  } as const,
);

/** The name of a kernel status code. */
export type KernelStatusName = keyof typeof KERNEL_STATUS;

/** A kernel status code. */
export type KernelStatus = (typeof KERNEL_STATUS)[KernelStatusName];

const NAMES = new Map<number, KernelStatusName>(
  Object.entries(KERNEL_STATUS).map(([name, code]) => [code, name as KernelStatusName]),
);

/**
 * The name of a status code, or `undefined` for a code this host does not know.
 *
 * @example
 * ```ts
 * import { kernelStatusName } from "./status.ts";
 * if (kernelStatusName(-1) !== "OUT_OF_MEMORY") throw new Error("expected the name");
 * ```
 */
export function kernelStatusName(code: number): KernelStatusName | undefined {
  return NAMES.get(code);
}
