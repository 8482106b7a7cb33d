/**
 * `cast`: converts columns to other types, with the conversions of the expression language's `cast(x as t)`.
 *
 * ```yaml
 * transforms: [ { cast: { amount: "decimal(12,2)", qty: int64 } } ]
 * ```
 *
 * A value that does not convert (`'abc'` to int64, an out-of-range number) becomes null: the transform
 * contract has no rejects channel, so the rows stay and the failures are counted in the `errors` metric and
 * logged. Declare the column's type in the schema instead when bad values must be rejected with their line.
 *
 * @module
 */

import * as v from "valibot";
import type { Column, Field } from "../batch.ts";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { compileExpression, type Expression, ExpressionError, typeName } from "../expr/mod.ts";
import { parseTypeName, SyntaxProblem } from "../expr/syntax.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";
import { Missing } from "./rename.ts";

const Types = v.pipe(
  v.record(v.string(), v.pipe(v.string(), v.minLength(1))),
  v.description("Column: type (int64, float64, decimal(p,s), string, boolean, date, timestamp)"),
);

/** The full form of the config. */
export const CastOptions = v.strictObject({
  columns: v.pipe(Types, v.description("Column: type, for each column to convert")),
  missing: Missing,
});

/** `cast`'s config: `{ column: type }`, or the full form with options. */
export const CastConfig = v.pipe(
  v.union([CastOptions, Types]),
  v.description(
    "Columns to convert, `{ column: type }`, or `{ columns: { column: type }, missing: error|ignore }`",
  ),
);

/** The parsed config. */
export type CastConfig = v.InferOutput<typeof CastConfig>;

/** The full form of any `cast` config. */
export function castOptions(config: CastConfig): v.InferOutput<typeof CastOptions> {
  return typeof config.columns === "object" && config.columns !== null
    ? config as v.InferOutput<typeof CastOptions>
    : { columns: config as Record<string, string>, missing: "error" };
}

/** Builds a cast for the input schema. */
export function buildCast(config: CastConfig, ctx: TransformContext): Transform {
  const { columns, missing } = castOptions(config);
  const casts = new Map<string, Expression>();
  for (const [name, text] of Object.entries(columns)) {
    const path = configPath("cast", name);
    const field = ctx.input.fields.find((f) => f.name === name);
    if (field === undefined) {
      if (missing === "ignore") continue;
      throw new ConfigError(`Cannot cast a column the input does not have: ${name}`, { path });
    }
    let to;
    try {
      to = parseTypeName(text);
    } catch (error) {
      if (!(error instanceof SyntaxProblem)) throw error;
      throw new ConfigError(`Invalid type for column ${name}: ${error.message}`, { path });
    }
    const source = `cast("${name.replaceAll('"', '""')}" as ${typeName(to)})`;
    try {
      casts.set(name, compileExpression(source, { schema: ctx.input, path }));
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      throw new ConfigError(`Cannot cast column ${name} from ${typeName(field)} to ${typeName(to)}`, {
        path,
      });
    }
  }
  const fields: Field[] = ctx.input.fields.map((f) => {
    const e = casts.get(f.name);
    return e === undefined ? f : { ...(e.type as Field), name: f.name };
  });
  const schema = { fields };
  const meters = transformMeters(ctx, "cast");
  const logger = ctx.logger.child({ component: "transform.cast" });
  return {
    schema,
    apply(batch) {
      const out: Record<string, Column> = {};
      let errors = 0;
      const failed: Record<string, number> = {};
      for (const f of batch.schema.fields) {
        const e = casts.get(f.name);
        if (e === undefined) {
          out[f.name] = batch.columns[f.name];
          continue;
        }
        const result = e.evaluateColumn(batch, { name: f.name });
        out[f.name] = result.column;
        if (result.errors > 0) failed[f.name] = result.errors;
        errors += result.errors;
      }
      meters.batch(batch.length, batch.length);
      meters.errors(errors);
      if (errors > 0) {
        logger.warn("Values that did not convert became null", { pipeline: ctx.pipeline, failed });
      }
      return { schema, length: batch.length, lines: batch.lines, columns: out };
    },
  };
}

/** The `cast` transform. */
export const castSpec = {
  kind: "transform",
  name: "cast",
  summary: "Converts columns to other types; values that do not convert become null and are counted",
  config: CastConfig,
  build: buildCast,
  keepsNoBatch: true,
} satisfies TransformSpec<CastConfig>;
