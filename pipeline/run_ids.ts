/**
 * Run ids of ingests. A request with an `Idempotency-Key` gets an id derived from the key, so that a retry after
 * a crash (or the spool drainer after a restart) continues the same run, whose chunks the sinks recognise; any
 * other request gets a random one.
 *
 * @module
 */

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
export async function runIdFor(pipeline: string, key: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${pipeline}\0${key}`)),
  );
  return `r_k${[...digest.subarray(0, 13)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A fresh random run id. */
export function newRunId(): string {
  return `r_${crypto.randomUUID().replaceAll("-", "")}`;
}
