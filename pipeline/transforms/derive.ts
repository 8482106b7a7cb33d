/**
 * `derive`: adds columns computed by expressions (see pipeline/expr/mod.ts for the language). Expressions run
 * in order, so a later one may use an earlier one's column.
 *
 * ```yaml
 * transforms: [ { derive: { total: "amount * qty", big: "total > 1000" } } ]
 * transforms: [ { derive: { columns: { amount: "round(amount, 0)" }, replace: true } } ]
 * ```
 *
 * @module
 */

import * as v from "valibot";
import type { Column, Field, Schema } from "../batch.ts";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { compileExpression, type Expression, storableType } from "../expr/mod.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";

const Expressions = v.pipe(
  v.record(v.pipe(v.string(), v.minLength(1)), v.pipe(v.string(), v.minLength(1))),
  v.description("New column: expression"),
);

/** The full form of the config. */
export const DeriveOptions = v.strictObject({
  columns: v.pipe(Expressions, v.description("New column: expression, evaluated in order")),
  replace: v.pipe(
    v.optional(v.boolean(), false),
    v.description("Whether a column may be replaced by one of the same name (otherwise that fails at load)"),
  ),
});

/** `derive`'s config: `{ column: expression }`, or the full form with options. */
export const DeriveConfig = v.pipe(
  v.union([DeriveOptions, Expressions]),
  v.description("Columns to compute, `{ column: expression }`, or `{ columns: { … }, replace: true }`"),
);

/** The parsed config. */
export type DeriveConfig = v.InferOutput<typeof DeriveConfig>;

/** The full form of any `derive` config. */
export function deriveOptions(config: DeriveConfig): v.InferOutput<typeof DeriveOptions> {
  return typeof config.columns === "object" && config.columns !== null
    ? config as v.InferOutput<typeof DeriveOptions>
    : { columns: config as Record<string, string>, replace: false };
}

/** Builds a derive for the input schema: every expression is parsed and type-checked here, once. */
export function buildDerive(config: DeriveConfig, ctx: TransformContext): Transform {
  const { columns, replace } = deriveOptions(config);
  const steps: { name: string; expression: Expression }[] = [];
  let fields: Field[] = [...ctx.input.fields];
  for (const [name, source] of Object.entries(columns)) {
    const path = configPath("derive", name);
    const exists = fields.some((f) => f.name === name);
    if (exists && !replace) {
      throw new ConfigError(`Derived column already exists: ${name} (set replace: true to overwrite it)`, {
        path,
      });
    }
    const expression = compileExpression(source, { schema: { fields }, path });
    const type = storableType(expression.type);
    if (typeof type === "string") throw new ConfigError(`Cannot derive column ${name}: ${type}`, { path });
    const field = { ...type, name } as Field;
    fields = exists ? fields.map((f) => (f.name === name ? field : f)) : [...fields, field];
    steps.push({ name, expression });
  }
  const schema: Schema = { fields };
  const meters = transformMeters(ctx, "derive");
  const logger = ctx.logger.child({ component: "transform.derive" });
  return {
    schema,
    apply(batch) {
      const columns: Record<string, Column> = { ...batch.columns };
      let current = batch;
      let errors = 0;
      const failed: Record<string, number> = {};
      // One instant for now() across every expression of the batch.
      const now = BigInt(Date.now()) * 1000n;
      for (const step of steps) {
        const result = step.expression.evaluateColumn(current, { name: step.name, now });
        columns[step.name] = result.column;
        if (result.errors > 0) failed[step.name] = result.errors;
        errors += result.errors;
        // Later expressions read earlier columns by name; the schema they were checked against says their type.
        current = { ...current, columns };
      }
      const out: Record<string, Column> = {};
      for (const f of fields) out[f.name] = columns[f.name];
      meters.batch(batch.length, batch.length);
      meters.errors(errors);
      if (errors > 0) logger.warn("Expressions gave null on errors", { pipeline: ctx.pipeline, failed });
      return { schema, length: batch.length, lines: batch.lines, columns: out };
    },
  };
}

/** The `derive` transform. */
export const deriveSpec = {
  kind: "transform",
  name: "derive",
  summary: "Adds columns computed by expressions, checked against the schema at load",
  config: DeriveConfig,
  build: buildDerive,
  keepsNoBatch: true,
} satisfies TransformSpec<DeriveConfig>;
