/**
 * The `file` sink's config schema.
 *
 * @module
 */

import * as v from "valibot";
import { describe } from "../context.ts";

/** `sinks: [ { file: { … } } ]` in weir.yaml. */
export const FileSinkConfig = v.strictObject({
  path: describe(
    v.optional(v.pipe(v.string(), v.minLength(1)), "./data/out/{pipeline}/{date}/{run}-{sequence}.{ext}"),
    "Path template; must contain {run} and {sequence} (one file per batch, so a retry replaces instead of duplicating). Also {pipeline}, {date} (the run's UTC day) and {ext}",
  ),
  format: describe(
    v.optional(v.picklist(["ndjson", "csv", "arrow"]), "ndjson"),
    "File format: NDJSON, CSV or Arrow IPC (file format)",
  ),
  header: describe(v.optional(v.boolean(), true), "CSV only: write a header line with the column names"),
  escapeFormulas: describe(
    v.optional(v.boolean(), true),
    "CSV only: prefix text cells starting with = + - @ tab or carriage return with ' so spreadsheets do not run them (OWASP)",
  ),
});

/** The parsed config of a `file` sink. */
export type FileSinkConfig = v.InferOutput<typeof FileSinkConfig>;
