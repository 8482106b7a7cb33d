/**
 * A small catalog for tests of the spec, independent of the real transforms and sinks: its sinks and
 * transforms have the shapes of weir.yaml's examples, so tests can name them without building anything.
 *
 * @module
 */
import * as v from "valibot";
import type { Catalog, ComponentDescriptor } from "./spec.ts";
import { httpSourceDescriptor } from "./sources/http/config.ts";
import { fileSourceDescriptor } from "./sources/file/config.ts";

const component = (
  kind: ComponentDescriptor["kind"],
  name: string,
  config: ComponentDescriptor["config"],
): ComponentDescriptor => ({ kind, name, summary: `The ${name} ${kind} of the test catalog`, config });

/** Sources as registered, transforms `derive`/`filter`, sinks `postgres`/`kafka`/`redis`/`file`. */
export const TEST_CATALOG: Catalog = {
  sources: [httpSourceDescriptor, fileSourceDescriptor],
  transforms: [
    component(
      "transform",
      "derive",
      v.pipe(v.record(v.string(), v.string()), v.description("Column: expression")),
    ),
    component("transform", "filter", v.pipe(v.string(), v.description("Keeps rows where it is true"))),
  ],
  sinks: [
    component(
      "sink",
      "postgres",
      v.strictObject({
        table: v.pipe(v.string(), v.description("Table")),
        mode: v.pipe(
          v.optional(v.picklist(["append", "upsert"]), "append"),
          v.description("How rows are written"),
        ),
      }),
    ),
    component("sink", "kafka", v.strictObject({ topic: v.pipe(v.string(), v.description("Topic")) })),
    component("sink", "redis", v.strictObject({ key: v.pipe(v.string(), v.description("Key prefix")) })),
    component("sink", "file", v.strictObject({ path: v.pipe(v.string(), v.description("Path")) })),
  ],
};

/** A catalog that accepts any config for any transform or sink named in the example weir.yaml. */
export const PERMISSIVE_CATALOG: Catalog = {
  sources: TEST_CATALOG.sources,
  transforms: ["derive", "filter"].map((n) => component("transform", n, v.unknown())),
  sinks: ["postgres", "kafka", "redis", "file"].map((n) => component("sink", n, v.unknown())),
};
