/**
 * weir's side of each benchmark, built on the kernels as they land. A side whose pieces are missing returns
 * `{ skip }` with the reason, so the harness prints `skipped …` and never a made-up number.
 *
 * @module
 */

import type { Contender, Unavailable } from "./harness.ts";

/** Options for {@linkcode weirCsvContender}. */
export interface WeirCsvOptions {
  /** Data rows in the file, for rows/s and the row-count check. */
  rows: number;
  /** Worker count. */
  workers: number;
}

async function exists(relative: string): Promise<boolean> {
  try {
    await Deno.stat(new URL(relative, import.meta.url));
    return true;
  } catch {
    return false;
  }
}

/** weir's typed CSV parse + validate of orders.csv through the worker pool. */
export async function weirCsvContender(
  _bytes: Uint8Array,
  options: WeirCsvOptions,
): Promise<Contender | Unavailable> {
  for (const f of ["../kernels/csv.ts", "../workers/pool.ts", "../pipeline/batch.ts"]) {
    if (!(await exists(f))) {
      return { skip: `${f.slice(3)} is not there yet (CSV kernel and worker pool pending)` };
    }
  }
  return { skip: `weir CSV side with ${options.workers} worker(s) is not wired yet` };
}

/** weir's NDJSON reader into a typed orders `Batch`. */
export async function weirNdjsonContender(
  _bytes: Uint8Array,
  _options: { rows: number },
): Promise<Contender | Unavailable> {
  if (!(await exists("../pipeline/batch.ts"))) return { skip: "pipeline/batch.ts is not there yet" };
  return { skip: "weir NDJSON reader is not wired yet" };
}

/** weir's validation kernel over a typed orders `Batch` built from `objects` outside the timed region. */
export async function weirValidateContender(
  _objects: readonly unknown[],
  _options: { bytes: number },
): Promise<Contender | Unavailable> {
  if (!(await exists("../pipeline/batch.ts"))) return { skip: "pipeline/batch.ts is not there yet" };
  return { skip: "weir validation kernel is not wired yet" };
}
