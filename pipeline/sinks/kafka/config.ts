/**
 * The `kafka` sink's config schema.
 *
 * @module
 */

import * as v from "valibot";
import { describe } from "../context.ts";

/** `sinks: [ { kafka: { … } } ]` in weir.yaml. */
export const KafkaSinkConfig = v.strictObject({
  topic: describe(
    v.pipe(v.string(), v.minLength(1), v.maxLength(249)),
    "Topic the records go to; created when missing",
  ),
  partitions: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
    "Partitions of the topic when weir creates it",
  ),
  replicationFactor: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
    "Replication factor of the topic when weir creates it",
  ),
  transactionalId: describe(
    v.optional(v.pipe(v.string(), v.minLength(1))),
    "Transactional id of the producer; default `weir.<pipeline>.<topic>`. Stable across restarts so a restarted process fences its crashed predecessor; give each process its own when several write one topic",
  ),
  messagesPerSend: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10_000),
    "Records per produce request inside the batch's transaction",
  ),
});

/** The parsed config of a `kafka` sink. */
export type KafkaSinkConfig = v.InferOutput<typeof KafkaSinkConfig>;
