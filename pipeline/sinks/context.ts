/**
 * What sinks take from the component context, and the helpers they share (quoting, error wrapping, the
 * deterministic split of a batch into parts).
 *
 * @module
 */

import * as v from "valibot";
import type { ComponentContext, PipelineSchema, Sink, SinkSpec } from "../component.ts";
import { PipelineError } from "../errors.ts";

/**
 * The part of {@linkcode ComponentContext} sinks use, plus the pipeline schema. A full context is one, so the
 * runner passes its own; tests build only what a sink needs (no kernel pool: sinks never parse).
 */
export type SinkContext =
  & Pick<ComponentContext, "pipeline" | "logger" | "telemetry">
  & Partial<Pick<ComponentContext, "database" | "redis" | "kafka" | "store">>
  & {
    /** The schema of the batches the sink receives, with the key that makes writes idempotent. */
    schema: PipelineSchema;
  };

/** A sink spec whose `build` needs only a {@linkcode SinkContext}, as every spec here does. */
export type SinkDefinition<C> = Omit<SinkSpec<C>, "build"> & {
  build(config: C, ctx: SinkContext): Promise<Sink>;
};

/** Attaches a `description` (a sentence, for the generated docs) to a config field. */
export const describe = <S extends v.GenericSchema>(schema: S, text: string) =>
  v.pipe(schema, v.description(text));

/** Where a sink's config is, for errors: `sinks.<name>.<field>` (the plan prefixes the pipeline path). */
export function configPath(name: string, ...rest: string[]): string {
  return ["sinks", name, ...rest].join(".");
}

/** The message of `error`, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Wraps `error` as the sink's {@linkcode PipelineError}, keeping a `PipelineError` as it is. */
export function sinkError(
  error: unknown,
  options: { component: string; message: string; retriable: boolean },
): PipelineError {
  if (error instanceof PipelineError && error.component === options.component) return error;
  return new PipelineError(`${options.message}: ${messageOf(error)}`, {
    component: options.component,
    retriable: options.retriable,
    cause: error,
  });
}

/**
 * Splits rows `[0, length)` into `parts` contiguous ranges. Deterministic, so a retry of the same batch with
 * the same part count writes the same rows per part (parts are committed, and deduplicated, one by one).
 */
export function splitRows(length: number, parts: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  for (let p = 0; p < parts; p++) {
    out.push({ from: Math.floor((length * p) / parts), to: Math.floor((length * (p + 1)) / parts) });
  }
  return out;
}
