/**
 * Every component weir.yaml can name, listed explicitly: nothing registers itself by side effect. The spec
 * (pipeline/spec.ts) validates against this list, `deno task docs` documents it and plan.ts builds from it.
 *
 * @module
 */
import type { Catalog, ComponentDescriptor } from "./spec.ts";
import type { SinkSpec, TransformSpec } from "./component.ts";
import { httpSourceDescriptor } from "./sources/http/config.ts";
import { fileSourceDescriptor } from "./sources/file/config.ts";
import { TRANSFORM_SPECS } from "./transforms/mod.ts";
import { SINK_SPECS } from "./sinks/mod.ts";

/** A source as the registry lists it: name, summary and config schema (the runner builds sources). */
export type SourceDescriptor = ComponentDescriptor & { readonly kind: "source" };

/** The sources. */
export const SOURCES: readonly SourceDescriptor[] = [httpSourceDescriptor, fileSourceDescriptor];

/** The catalog of real components. */
export type Registry = Catalog<SourceDescriptor, TransformSpec, SinkSpec>;

/** Every source, transform and sink, in the order the docs list them. */
export const REGISTRY: Registry = {
  sources: SOURCES,
  transforms: TRANSFORM_SPECS,
  sinks: SINK_SPECS,
};
