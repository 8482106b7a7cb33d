/**
 * The config of the `http` source: what `POST /v1/pipelines/:name/ingest` accepts for a pipeline and when it
 * answers. Config only; the source itself lives beside it in mod.ts.
 *
 * @module
 */
import * as v from "valibot";
import { byteSize } from "../../units.ts";
import { CsvDialectSchema, FORMATS } from "../dialect.ts";

/** The `Content-Encoding`s a request body may use. */
export const CONTENT_ENCODINGS = ["identity", "gzip", "deflate"] as const;

const unique = <T>(items: readonly T[]) => new Set(items).size === items.length;

/** The `http` source's config. */
export const HttpSourceConfigSchema = v.strictObject({
  formats: v.pipe(
    v.optional(
      v.pipe(
        v.array(v.picklist(FORMATS)),
        v.minLength(1, "expected at least one format"),
        v.check(unique, "expected each format once"),
      ),
      () => [...FORMATS],
    ),
    v.description(
      "Accepted body formats, chosen by `Content-Type`: csv (`text/csv`), ndjson (`application/x-ndjson`), json (`application/json`, an array of objects)",
    ),
  ),
  encodings: v.pipe(
    v.optional(
      v.pipe(
        v.array(v.picklist(CONTENT_ENCODINGS)),
        v.minLength(1, "expected at least one encoding"),
        v.check(unique, "expected each encoding once"),
      ),
      () => [...CONTENT_ENCODINGS],
    ),
    v.description("Accepted `Content-Encoding`s; any other is answered with 415"),
  ),
  maxBodySize: v.pipe(
    v.optional(byteSize(), "10GiB"),
    v.description(
      "Largest request body, counted after decoding (a size such as 64MiB); a larger one is answered with 413. Bodies are streamed, so this bounds work, not memory",
    ),
  ),
  csv: v.pipe(
    v.optional(CsvDialectSchema, {}),
    v.description("How CSV bodies are written"),
  ),
  ack: v.pipe(
    v.optional(v.picklist(["committed", "accepted"]), "committed"),
    v.description(
      "When a request is answered: `committed` after every sink committed; `accepted` once the body is fsync'd to the local spool (drained to the sinks in order, surviving restarts)",
    ),
  ),
});

/** A validated `http` source config. */
export type HttpSourceConfig = v.InferOutput<typeof HttpSourceConfigSchema>;

/** The `http` source as the registry lists it (name, summary, config); the runner builds it. */
export const httpSourceDescriptor = {
  kind: "source",
  name: "http",
  summary: "Rows pushed over HTTP: POST /v1/pipelines/<name>/ingest with a CSV, NDJSON or JSON body",
  config: HttpSourceConfigSchema,
} as const;
