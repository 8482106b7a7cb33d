/**
 * `rename`: gives columns new names, keeping their order, types and values.
 *
 * ```yaml
 * transforms: [ { rename: { cust_id: customer_id } } ]                          # short form
 * transforms: [ { rename: { columns: { cust_id: customer_id }, missing: ignore } } ]
 * ```
 *
 * @module
 */

import * as v from "valibot";
import type { Column, Field } from "../batch.ts";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";

/** What to do about a configured column that the input does not have. */
export const Missing = v.pipe(
  v.optional(v.picklist(["error", "ignore"]), "error"),
  v.description("A configured column missing from the input: `error` fails at load, `ignore` skips it"),
);

const Renames = v.pipe(
  v.record(v.string(), v.pipe(v.string(), v.minLength(1))),
  v.description("Old name: new name"),
);

/** The full form of the config. */
export const RenameOptions = v.strictObject({
  columns: v.pipe(Renames, v.description("Old name: new name, for each column to rename")),
  missing: Missing,
});

/** `rename`'s config: `{ old: new }`, or the full form with options. */
export const RenameConfig = v.pipe(
  v.union([RenameOptions, Renames]),
  v.description("Columns to rename, `{ old: new }`, or `{ columns: { old: new }, missing: error|ignore }`"),
);

/** The parsed config. */
export type RenameConfig = v.InferOutput<typeof RenameConfig>;

/** The full form of any `rename` config. */
export function renameOptions(config: RenameConfig): v.InferOutput<typeof RenameOptions> {
  return isOptions(config) ? config : { columns: config, missing: "error" };
}

function isOptions(config: RenameConfig): config is v.InferOutput<typeof RenameOptions> {
  return typeof config.columns === "object" && config.columns !== null;
}

/** Builds a rename for the input schema. */
export function buildRename(config: RenameConfig, ctx: TransformContext): Transform {
  const { columns, missing } = renameOptions(config);
  const names = new Set(ctx.input.fields.map((f) => f.name));
  const renames = new Map<string, string>();
  for (const [from, to] of Object.entries(columns)) {
    if (!names.has(from)) {
      if (missing === "ignore") continue;
      throw new ConfigError(`Cannot rename a column the input does not have: ${from}`, {
        path: configPath("rename", from),
      });
    }
    renames.set(from, to);
  }
  const fields: Field[] = ctx.input.fields.map((f) => ({ ...f, name: renames.get(f.name) ?? f.name }));
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name)) {
      throw new ConfigError(`Rename would give two columns the same name: ${f.name}`, {
        path: configPath("rename"),
      });
    }
    seen.add(f.name);
  }
  const schema = { fields };
  const meters = transformMeters(ctx, "rename");
  return {
    schema,
    apply(batch) {
      const out: Record<string, Column> = {};
      for (const f of batch.schema.fields) {
        const to = renames.get(f.name) ?? f.name;
        out[to] = { ...batch.columns[f.name], name: to };
      }
      meters.batch(batch.length, batch.length);
      return { schema, length: batch.length, lines: batch.lines, columns: out };
    },
  };
}

/** The `rename` transform. */
export const renameSpec = {
  kind: "transform",
  name: "rename",
  summary: "Renames columns, keeping their order, types and values",
  config: RenameConfig,
  build: buildRename,
  keepsNoBatch: true,
} satisfies TransformSpec<RenameConfig>;
