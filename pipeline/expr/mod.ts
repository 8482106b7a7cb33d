/**
 * weir's expression language, for `derive` and `filter`: a small, safe, SQL-flavoured language that is
 * parsed and type-checked once against the input schema when a pipeline loads, then evaluated column-wise
 * over whole batches. Nothing is ever handed to `eval` or `new Function`.
 *
 * ## Reference
 *
 * - **Literals**: `42` (int64), `3.14` (decimal(3,2)), `1e3` (float64), `'it''s'` (string, `''` escapes a
 *   quote), `true`, `false`, `null`, `date '2024-01-31'`, `timestamp '2024-01-31T12:00:00Z'`,
 *   `interval '1 day 2 hours'` (units microsecond … week; months vary in length, so they are not intervals).
 * - **Columns**: bare names (`amount`), or `"double quoted"` for names with other characters or that are
 *   keywords (`"order id"`, `"end"`); `""` escapes a quote. Names are case-sensitive.
 * - **Arithmetic** `+ - * / %`: int64 ⊕ int64 stays int64 (`/` excepted); decimals are exact — `+ - %`
 *   keep the larger scale, `*` adds the scales; `/` of int64s gives float64 (`7 / 2` is 3.5, `div(7, 2)` is 3),
 *   `/` with a decimal gives decimal(18, max(6, scale of the dividend)) rounded half away from zero; anything
 *   with a float64 is float64. Decimal precision is capped at 18 (an int64 holds the value). Overflow and
 *   division by zero are runtime errors.
 * - **Dates**: `timestamp ± interval`, `date ± interval` (a timestamp), `date ± int64` (days),
 *   `date - date` (int64 days). A string literal compared with a date or timestamp is read as one
 *   (`ts >= '2024-01-01'`); an invalid one fails at load.
 * - **Comparison** `= == != <> < <= > >=` between numbers (widened: int64 → decimal → float64), strings
 *   (by code point), booleans, dates and timestamps (a date is midnight UTC). `x [not] between a and b`,
 *   `x [not] in (a, b, …)`, `x is [not] null`.
 * - **Boolean** `and`, `or`, `not`, with SQL's three-valued logic: `null and false` is false, `null or true`
 *   is true, otherwise null in gives null out.
 * - **Conditionals**: `if(cond, a, b)`, `case when c then v … [else v] end`, `case x when v then r … end`,
 *   `coalesce(a, b, …)`, `nullif(a, b)`. A null condition counts as false.
 * - **Strings**: `a || b` (any non-interval types, as text; null if either is null), `concat(a, …)` (nulls
 *   skipped), `lower`, `upper`, `trim`, `ltrim`, `rtrim` (whitespace), `length` (characters),
 *   `substr(s, start[, count])` (1-based, characters), `starts_with`, `ends_with`, `contains`,
 *   `replace(s, from, to)` (every occurrence), `regexp_match(s, 'pattern')` (boolean: whether it matches
 *   anywhere; JS syntax, `u` flag), `regexp_replace(s, 'pattern', replacement)` (every match, `$1` refers to
 *   a group). Patterns are literals, compiled once at load.
 * - **Dates and times**: `now()` (a timestamp, the same for every row of a batch), `today()`,
 *   `date_trunc('second'|'minute'|'hour'|'day'|'week'|'month'|'quarter'|'year', x)` (weeks start on Monday),
 *   `year`, `quarter`, `month`, `day`, `day_of_week` (ISO: Monday 1 … Sunday 7) of a date or timestamp,
 *   `hour`, `minute`, `second` of a timestamp, `date_diff('second'|…|'week', a, b)` (whole units from a to b).
 *   Times are UTC.
 * - **Casts**: `cast(x as int64|float64|decimal(p,s)|string|boolean|date|timestamp)` (aliases: int, bigint,
 *   double, text, bool, numeric). Text is parsed after trimming: integers, decimals (rounded half away from
 *   zero to the scale), floats (`inf`, `nan`), booleans (`true/false/t/f/yes/no/y/n/1/0`), ISO dates and
 *   timestamps (`T` or a space; `Z`, `±HH[:MM]` or no zone for UTC). Numbers cast to int64 or to a smaller
 *   scale round half away from zero.
 * - **Math**: `abs`, `round(x[, digits])`, `floor`, `ceil`, `div(a, b)` (int64 division truncating toward
 *   zero).
 *
 * ## Errors
 *
 * Everything that can be known at load — syntax, unknown columns and functions, wrong arity, type mismatches
 * (`'a' + 1`), invalid literals and patterns — is an {@linkcode ExpressionError} (a `ConfigError`) that names
 * the expression and the 1-based column of the problem. At run time nothing throws: a row whose value cannot
 * be computed (division by zero, overflow, a failed cast, a negative substr count) gets null, and the rows
 * this happened to are counted in {@linkcode Evaluation.errors}. A branch that is not taken (`if`, `case`,
 * the right side of an `and`/`or` already decided by its left side, a `coalesce` argument after the first
 * non-null one) does not count. Nulls instead of failures keep one bad value from stopping a batch; the
 * count makes them visible (transforms report it as the `errors` metric and log it).
 *
 * @example
 * ```ts
 * import { batchFromRows, rowObject } from "../batch.ts";
 * import { compileExpression } from "./mod.ts";
 * const batch = batchFromRows(
 *   [{ name: "amount", type: "decimal", precision: 10, scale: 2 }, { name: "qty", type: "int64" }],
 *   [["2.50", 4n], ["1.10", null]],
 * );
 * const total = compileExpression("amount * qty", { schema: batch.schema, path: "derive.total" });
 * const { column } = total.evaluateColumn(batch, { name: "total" });
 * if (column.type !== "decimal" || column.values[0] !== 1000n || column.nullCount !== 1) throw new Error("wrong");
 * ```
 *
 * @module
 */

import type { Batch, Column, ColumnType, Schema } from "../batch.ts";
import { ConfigError } from "../errors.ts";
import { check, type Compiled, type Env } from "./check.ts";
import { parse, SyntaxProblem } from "./syntax.ts";
import { type ExprType, typeName } from "./types.ts";
import { bit, type BoolVec, countErrors, vecToColumn } from "./vector.ts";

export type { ExprType } from "./types.ts";
export { typeName } from "./types.ts";

/** An expression that failed to parse or type-check, with where in it the problem is. */
export class ExpressionError extends ConfigError {
  override name = "ExpressionError";
  /** The expression's source text. */
  readonly expression: string;
  /** 1-based character column of the problem within the expression. */
  readonly column: number;

  constructor(
    message: string,
    options: { path: string; expression: string; column: number; cause?: unknown },
  ) {
    super(message, { path: options.path, cause: options.cause });
    this.expression = options.expression;
    this.column = options.column;
  }
}

/** Options for {@linkcode compileExpression}. */
export interface CompileOptions {
  /** The schema of the batches it will run on. */
  schema: Schema;
  /** Where the expression is configured, e.g. `pipelines.orders.transforms[0].derive.total`. */
  path: string;
}

/** Options for one evaluation. */
export interface EvaluateOptions {
  /** `now()` for this batch, µs since the epoch. Default: the current time. */
  now?: bigint;
}

/** The result of evaluating an expression over a batch. */
export interface Evaluation {
  /** Rows whose value is null because of a runtime error (division by zero, a failed cast, overflow). */
  errors: number;
}

/** An expression checked against a schema, ready to run on its batches. */
export interface Expression {
  /** The source text. */
  readonly source: string;
  /** The type of its value. */
  readonly type: ExprType;
  /** The value for every row, as a batch column named `name`. */
  evaluateColumn(batch: Batch, options: EvaluateOptions & { name: string }): Evaluation & { column: Column };
  /** For a boolean expression: the rows where it is true (null and false rows are left out), ascending. */
  evaluateFilter(batch: Batch, options?: EvaluateOptions): Evaluation & { rows: Int32Array };
}

/**
 * Parses and type-checks `source` against `options.schema`; throws an {@linkcode ExpressionError} naming the
 * expression and the column of the problem.
 */
export function compileExpression(source: string, options: CompileOptions): Expression {
  let compiled: Compiled;
  try {
    compiled = check(parse(source), options.schema);
  } catch (error) {
    if (!(error instanceof SyntaxProblem)) throw error;
    const column = error.offset + 1;
    throw new ExpressionError(`Invalid expression "${source}" at column ${column}: ${error.message}`, {
      path: options.path,
      expression: source,
      column,
    });
  }
  return new CompiledExpression(source, compiled);
}

/** The column type an expression's value is stored as, or a reason it cannot be stored. */
export function storableType(type: ExprType): ColumnType | string {
  if (type.type === "null") return "the value is always null: cast it to a type, e.g. cast(null as string)";
  if (type.type === "interval") return "an interval cannot be stored: add it to a timestamp";
  return type;
}

class CompiledExpression implements Expression {
  readonly source: string;
  readonly type: ExprType;
  #compiled: Compiled;

  constructor(source: string, compiled: Compiled) {
    this.source = source;
    this.type = compiled.type;
    this.#compiled = compiled;
  }

  evaluateColumn(batch: Batch, options: EvaluateOptions & { name: string }): Evaluation & { column: Column } {
    const stored = storableType(this.type);
    if (typeof stored === "string") {
      throw new TypeError(`Cannot store expression "${this.source}": ${stored}`);
    }
    const env = this.#env(batch, options);
    const vec = this.#compiled.run(env);
    return {
      column: vecToColumn(vec, { name: options.name, type: stored, n: env.n }),
      errors: countErrors(vec.errors, env.n),
    };
  }

  evaluateFilter(batch: Batch, options: EvaluateOptions = {}): Evaluation & { rows: Int32Array } {
    if (this.type.type !== "boolean" && this.type.type !== "null") {
      throw new TypeError(`Expression "${this.source}" is ${typeName(this.type)}, not boolean`);
    }
    const env = this.#env(batch, options);
    const vec = this.#compiled.run(env) as BoolVec;
    const errors = countErrors(vec.errors, env.n);
    if (vec.length === 1) {
      const keep = this.type.type === "boolean" && vec.values[0] === 1 && bit(vec.validity, 0);
      return { rows: keep ? Int32Array.from({ length: env.n }, (_, i) => i) : new Int32Array(0), errors };
    }
    const rows = new Int32Array(env.n);
    let kept = 0;
    const { values, validity } = vec;
    for (let i = 0; i < env.n; i++) {
      if (values[i] === 1 && (validity === undefined || ((validity[i >> 3] >> (i & 7)) & 1) === 1)) {
        rows[kept++] = i;
      }
    }
    return { rows: rows.slice(0, kept), errors };
  }

  #env(batch: Batch, options: EvaluateOptions): Env {
    return { batch, n: batch.length, now: options.now ?? BigInt(Date.now()) * 1000n, memo: new Map() };
  }
}
