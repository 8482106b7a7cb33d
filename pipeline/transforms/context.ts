/**
 * What the transforms take from the component context, and the telemetry they all report.
 *
 * @module
 */

import type { Schema } from "../batch.ts";
import type { Redis } from "@upstash/redis";
import type { ComponentContext, Transform, TransformSpec } from "../component.ts";
import type { SqlExecutor } from "../../storage/sql.ts";
import { ConfigError } from "../errors.ts";
import { COMPONENT_INSTRUMENTS, COMPONENT_LABELS, type Labels } from "../../observability/metrics.ts";

/**
 * The part of {@linkcode ComponentContext} transforms use, plus the input schema. A full context is one, so
 * the runner passes its own; tests build only this.
 */
export type TransformContext = Pick<ComponentContext, "pipeline" | "logger" | "telemetry"> & {
  /** The database `lookup` reads (only queries are needed). */
  database?: Pick<SqlExecutor, "query">;
  /** Redis for `lookup`'s cache, when configured. */
  redis?: Redis;
  /** The schema of the batches the transform receives. */
  input: Schema;
};

/** The component counters every transform reports, with its labels bound. */
export interface TransformMeters {
  /** Counts a batch in and out: rows received, sent and dropped. */
  batch(received: number, sent: number): void;
  /** Counts rows whose value became null through a runtime error (failed cast, division by zero). */
  errors(count: number): void;
}

/** The counters of transform `name`. */
export function transformMeters(ctx: TransformContext, name: string): TransformMeters {
  const labels: Labels = { "component.kind": "transform", "component.name": name };
  const counter = (spec: (typeof COMPONENT_INSTRUMENTS)[keyof typeof COMPONENT_INSTRUMENTS]) =>
    ctx.telemetry.counter({ ...spec, labels: COMPONENT_LABELS });
  const received = counter(COMPONENT_INSTRUMENTS.received);
  const sent = counter(COMPONENT_INSTRUMENTS.sent);
  const dropped = counter(COMPONENT_INSTRUMENTS.dropped);
  const errors = counter(COMPONENT_INSTRUMENTS.errors);
  return {
    batch(r, s) {
      received.add(r, labels);
      sent.add(s, labels);
      if (r > s) dropped.add(r - s, labels);
    },
    errors(count) {
      if (count > 0) errors.add(count, labels);
    },
  };
}

/** Where a transform's config is, for errors: `transforms.<name>` (the spec prefixes the pipeline path). */
export function configPath(name: string, ...rest: string[]): string {
  return ["transforms", name, ...rest].join(".");
}

/** Fails unless `column` is in `schema`. */
export function requireColumn(schema: Schema, column: string, options: { path: string; what: string }): void {
  if (!schema.fields.some((f) => f.name === column)) {
    const known = schema.fields.map((f) => f.name).join(", ");
    throw new ConfigError(`Unknown column in ${options.what}: ${column} (columns: ${known})`, {
      path: options.path,
    });
  }
}

/** A transform spec whose `build` needs only a {@linkcode TransformContext}, as every spec here does. */
export type TransformDefinition<C> = Omit<TransformSpec<C>, "build"> & {
  build(config: C, ctx: TransformContext): Transform | Promise<Transform>;
};
