/**
 * The config of the `file` source: a watched folder whose new or changed files are ingested. Config only; the
 * source itself lives beside it in mod.ts.
 *
 * @module
 */
import * as v from "valibot";
import { duration } from "../../units.ts";
import { CsvDialectSchema, FORMATS } from "../dialect.ts";

/** The `file` source's config. */
export const FileSourceConfigSchema = v.strictObject({
  path: v.pipe(
    v.string("expected a directory path"),
    v.nonEmpty("expected a directory path"),
    v.description("Directory to watch, relative to the working directory or absolute"),
  ),
  glob: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a glob such as *.csv")), "*"),
    v.description("Which file names in `path` are ingested, e.g. `*.csv` or `**/*.ndjson.gz`"),
  ),
  pollInterval: v.pipe(
    v.optional(duration({ min: 100 }), "5s"),
    v.description(
      "How often the folder is scanned besides file-system events, which can be missed (network mounts, restarts)",
    ),
  ),
  after: v.pipe(
    v.optional(v.picklist(["move", "mark"]), "move"),
    v.description(
      "What happens to an ingested file: `move` it into `moveTo`, or `mark` it by remembering its content hash in the store (the file stays)",
    ),
  ),
  moveTo: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a directory path")), "processed"),
    v.description("Where `after: move` puts ingested files; relative paths are inside `path`"),
  ),
  format: v.pipe(
    v.optional(v.picklist(["auto", ...FORMATS]), "auto"),
    v.description(
      "File format; `auto` goes by extension (.csv/.tsv, .ndjson/.jsonl, .json, each optionally .gz)",
    ),
  ),
  csv: v.pipe(
    v.optional(CsvDialectSchema, {}),
    v.description("How CSV files are written"),
  ),
});

/** A validated `file` source config. */
export type FileSourceConfig = v.InferOutput<typeof FileSourceConfigSchema>;

/** The `file` source as the registry lists it (name, summary, config); the runner builds it. */
export const fileSourceDescriptor = {
  kind: "source",
  name: "file",
  summary: "Files dropped into a folder: new or changed files (by content hash) are ingested once",
  config: FileSourceConfigSchema,
} as const;
