/**
 * `drop`: removes columns.
 *
 * ```yaml
 * transforms: [ { drop: [internal_note, raw] } ]
 * transforms: [ { drop: { columns: [raw], missing: ignore } } ]
 * ```
 *
 * @module
 */

import * as v from "valibot";
import type { Column } from "../batch.ts";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";
import { Missing } from "./rename.ts";

const Columns = v.pipe(
  v.array(v.pipe(v.string(), v.minLength(1))),
  v.minLength(1),
  v.description("Columns to remove"),
);

/** The full form of the config. */
export const DropOptions = v.strictObject({
  columns: v.pipe(Columns, v.description("Columns to remove")),
  missing: Missing,
});

/** `drop`'s config: a list of columns, or the full form with options. */
export const DropConfig = v.pipe(
  v.union([DropOptions, Columns]),
  v.description("Columns to remove, `[a, b]`, or `{ columns: [a, b], missing: error|ignore }`"),
);

/** The parsed config. */
export type DropConfig = v.InferOutput<typeof DropConfig>;

/** The full form of any `drop` config. */
export function dropOptions(config: DropConfig): v.InferOutput<typeof DropOptions> {
  return Array.isArray(config) ? { columns: config, missing: "error" } : config;
}

/** Builds a drop for the input schema. */
export function buildDrop(config: DropConfig, ctx: TransformContext): Transform {
  const { columns, missing } = dropOptions(config);
  const names = new Set(ctx.input.fields.map((f) => f.name));
  for (const name of columns) {
    if (!names.has(name) && missing === "error") {
      throw new ConfigError(`Cannot drop a column the input does not have: ${name}`, {
        path: configPath("drop", name),
      });
    }
  }
  const dropped = new Set(columns);
  const schema = { fields: ctx.input.fields.filter((f) => !dropped.has(f.name)) };
  if (schema.fields.length === 0) {
    throw new ConfigError("Drop would remove every column", { path: configPath("drop") });
  }
  const meters = transformMeters(ctx, "drop");
  return {
    schema,
    apply(batch) {
      const out: Record<string, Column> = {};
      for (const f of schema.fields) out[f.name] = batch.columns[f.name];
      meters.batch(batch.length, batch.length);
      return { schema, length: batch.length, lines: batch.lines, columns: out };
    },
  };
}

/** The `drop` transform. */
export const dropSpec = {
  kind: "transform",
  name: "drop",
  summary: "Removes columns",
  config: DropConfig,
  build: buildDrop,
  keepsNoBatch: true,
} satisfies TransformSpec<DropConfig>;
