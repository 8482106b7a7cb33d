/**
 * The types of expression values: the column types of a batch, plus `interval` (µs, only as an operand of
 * date arithmetic) and `null` (the type of the literal `null`, which fits anywhere).
 *
 * @module
 */

import type { ColumnType } from "../batch.ts";

/** The type of an expression or sub-expression. */
export type ExprType = ColumnType | { readonly type: "interval" } | { readonly type: "null" };

/** The largest decimal precision: decimals are stored in an int64. */
export const MAX_PRECISION = 18;

/** `decimal(12,2)`, `int64`, … for messages. */
export function typeName(t: ExprType): string {
  return t.type === "decimal" ? `decimal(${t.precision},${t.scale})` : t.type;
}

/** Whether `t` is int64, decimal or float64 (or the untyped null). */
export function isNumeric(t: ExprType): boolean {
  return t.type === "int64" || t.type === "decimal" || t.type === "float64" || t.type === "null";
}

/** int64 seen as a decimal, for mixing with decimals. */
export function asDecimal(t: ExprType): { precision: number; scale: number } {
  if (t.type === "decimal") return { precision: t.precision, scale: t.scale };
  return { precision: MAX_PRECISION, scale: 0 };
}

/**
 * The common type of `a` and `b` for comparisons, `coalesce`, `if`, `case` and `in`; undefined when there is
 * none. Numbers widen int64 → decimal → float64, dates widen to timestamps, and `null` takes the other side.
 */
export function commonType(a: ExprType, b: ExprType): ExprType | undefined {
  if (a.type === "null") return b;
  if (b.type === "null") return a;
  if (a.type === b.type && a.type !== "decimal") return a;
  if (isNumeric(a) && isNumeric(b)) {
    if (a.type === "float64" || b.type === "float64") return { type: "float64" };
    const x = asDecimal(a);
    const y = asDecimal(b);
    const scale = Math.max(x.scale, y.scale);
    const whole = Math.max(x.precision - x.scale, y.precision - y.scale);
    return { type: "decimal", precision: Math.min(MAX_PRECISION, whole + scale), scale };
  }
  if ((a.type === "date" || a.type === "timestamp") && (b.type === "date" || b.type === "timestamp")) {
    return { type: "timestamp" };
  }
  return undefined;
}
