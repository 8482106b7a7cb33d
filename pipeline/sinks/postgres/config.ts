/**
 * The `postgres` sink's config schema.
 *
 * @module
 */

import * as v from "valibot";
import { describe } from "../context.ts";

const Name = v.pipe(v.string(), v.minLength(1), v.maxLength(63));

/** `sinks: [ { postgres: { … } } ]` in weir.yaml. */
export const PostgresSinkConfig = v.strictObject({
  table: describe(Name, "Table the rows land in; quoted, so any name works"),
  schema: describe(v.optional(Name, "public"), "The table's PostgreSQL schema"),
  mode: describe(
    v.optional(v.picklist(["append", "upsert"]), "append"),
    "`append` copies rows in; `upsert` inserts or updates them by the pipeline's key (the last row of a batch wins)",
  ),
  create: describe(
    v.optional(v.boolean(), true),
    "Create the table from the pipeline schema when it is missing (primary key from the key); false fails instead",
  ),
  streams: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16)), 2),
    "Parallel COPY streams (connections) for a large append batch; the embedded database always uses one",
  ),
  minRowsPerStream: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 20_000),
    "A batch is split into parallel streams only when every stream gets at least this many rows",
  ),
});

/** The parsed config of a `postgres` sink. */
export type PostgresSinkConfig = v.InferOutput<typeof PostgresSinkConfig>;
