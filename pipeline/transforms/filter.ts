/**
 * `filter`: keeps the rows where a boolean expression is true; rows where it is false or null are dropped
 * (counted in the `dropped` metric), with their lines.
 *
 * ```yaml
 * transforms: [ { filter: "status != 'cancelled' and amount > 0" } ]
 * transforms: [ { filter: { where: "country = 'FR'", nulls: keep } } ]
 * ```
 *
 * @module
 */

import * as v from "valibot";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { compileExpression, typeName } from "../expr/mod.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";
import { takeRows } from "./take.ts";

const Where = v.pipe(
  v.string(),
  v.minLength(1),
  v.description("A boolean expression: rows where it is true stay"),
);

/** The full form of the config. */
export const FilterOptions = v.strictObject({
  where: Where,
  nulls: v.pipe(
    v.optional(v.picklist(["drop", "keep"]), "drop"),
    v.description("Rows where the expression is null: `drop` (as SQL's WHERE does) or `keep`"),
  ),
});

/** `filter`'s config: an expression, or the full form with options. */
export const FilterConfig = v.pipe(
  v.union([Where, FilterOptions]),
  v.description("The rows to keep: an expression, or `{ where: expression, nulls: drop|keep }`"),
);

/** The parsed config. */
export type FilterConfig = v.InferOutput<typeof FilterConfig>;

/** The full form of any `filter` config. */
export function filterOptions(config: FilterConfig): v.InferOutput<typeof FilterOptions> {
  return typeof config === "string" ? { where: config, nulls: "drop" } : config;
}

/** Builds a filter for the input schema: the expression is parsed and type-checked here, once. */
export function buildFilter(config: FilterConfig, ctx: TransformContext): Transform {
  const { where, nulls } = filterOptions(config);
  const path = configPath("filter");
  const bare = compileExpression(where, { schema: ctx.input, path });
  if (bare.type.type !== "boolean") {
    throw new ConfigError(`Filter must be a boolean expression: "${where}" is ${typeName(bare.type)}`, {
      path,
    });
  }
  // Keeping nulls is `where is not false`, which the expression language evaluates as well as any other.
  const expression = nulls === "keep"
    ? compileExpression(`coalesce((${where}), true)`, { schema: ctx.input, path })
    : bare;
  const meters = transformMeters(ctx, "filter");
  const logger = ctx.logger.child({ component: "transform.filter" });
  return {
    schema: ctx.input,
    apply(batch) {
      const { rows, errors } = expression.evaluateFilter(batch);
      meters.batch(batch.length, rows.length);
      meters.errors(errors);
      if (errors > 0) {
        logger.warn("Filter expression gave null on errors", { pipeline: ctx.pipeline, errors });
      }
      return takeRows(batch, rows);
    },
  };
}

/** The `filter` transform. */
export const filterSpec = {
  kind: "transform",
  name: "filter",
  summary: "Keeps the rows where a boolean expression is true",
  config: FilterConfig,
  build: buildFilter,
  keepsNoBatch: true,
} satisfies TransformSpec<FilterConfig>;
