/**
 * Run ids of ingests. A request with an `Idempotency-Key` gets an id derived from the key, so that a retry after
 * a crash (or the spool drainer after a restart) continues the same run, whose chunks the sinks recognise; a file
 * given to `weir run` one derived from its content; any other request gets a fresh time-ordered one.
 *
 * @module
 */

import { newId } from "../storage/ids.ts";

/**
 * The run id of `key` in `pipeline`: the same whichever ack mode the request used, so that a key retried with
 * another mode still continues the same run.
 *
 * @example
 * ```ts
 * import { runIdFor } from "./run_ids.ts";
 * if (await runIdFor("orders", "k1") !== await runIdFor("orders", "k1")) throw new Error("expected stable ids");
 * ```
 */
export function runIdFor(pipeline: string, key: string): Promise<string> {
  return derivedRunId("k", [pipeline, key]);
}

/**
 * The run id of input whose bytes hash to `sha256` (hex) in `pipeline`, wherever it is read from: `weir run`
 * over the same content again continues (or finds finished) the same run, whose chunks the sinks recognise.
 */
export function contentRunId(pipeline: string, sha256: string): Promise<string> {
  return derivedRunId("c", [pipeline, sha256]);
}

/** `r_` + a tag + 26 hex digits of the SHA-256 of `parts`: stable across processes and restarts. */
export async function derivedRunId(tag: string, parts: readonly string[]): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\0"))),
  );
  return `r_${tag}${[...digest.subarray(0, 13)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A fresh run id: a time-ordered ULID, like every id weir makes itself. */
export function newRunId(): string {
  return newId("r");
}
