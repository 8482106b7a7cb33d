/**
 * The `redis` sink's config schema.
 *
 * @module
 */

import * as v from "valibot";
import { describe } from "../context.ts";

const Seconds = v.pipe(v.number(), v.integer(), v.minValue(1));

/** `sinks: [ { redis: { … } } ]` in weir.yaml. */
export const RedisSinkConfig = v.strictObject({
  mode: describe(
    v.optional(v.picklist(["hash", "stream"]), "hash"),
    "`hash`: one hash per row at `prefix:key`, fields = columns (needs a key); `stream`: one XADD per row to the stream `prefix`",
  ),
  prefix: describe(
    v.optional(v.pipe(v.string(), v.minLength(1))),
    "Key prefix (hash) or stream key (stream); default the pipeline name",
  ),
  ttlSeconds: describe(
    v.optional(Seconds),
    "Expire each written hash (or the stream) this long after the write; default never",
  ),
  maxLen: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    "Stream only: trim to about this many entries (MAXLEN ~)",
  ),
  chunkRows: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000)), 1000),
    "Rows per atomic script call; each chunk is committed and deduplicated on its own. Keep it stable: a retry must chunk alike",
  ),
  markerTtlSeconds: describe(
    v.optional(Seconds, 7 * 86_400),
    "How long the (run, sequence) markers that make retries no-ops are kept",
  ),
});

/** The parsed config of a `redis` sink. */
export type RedisSinkConfig = v.InferOutput<typeof RedisSinkConfig>;
