/**
 * A fixture batch for the expression tests: four rows covering every type, nulls, non-ASCII text, dates before
 * the epoch and int64 values beyond 2^53.
 *
 * @module
 */

import { type Batch, batchFromRows, type CellValue, cellValue, type Field } from "../batch.ts";
import { compileExpression, type Expression } from "./mod.ts";

/** The fields of {@linkcode FIXTURE}. */
export const FIXTURE_FIELDS: Field[] = [
  { name: "i", type: "int64" },
  { name: "j", type: "int64" },
  { name: "a", type: "decimal", precision: 10, scale: 2 },
  { name: "f", type: "float64" },
  { name: "s", type: "string" },
  { name: "d", type: "date" },
  { name: "ts", type: "timestamp" },
  { name: "ok", type: "boolean" },
  { name: "big", type: "int64" },
];

/** Four rows; row 2 is null everywhere except `j`. */
export const FIXTURE: Batch = batchFromRows(FIXTURE_FIELDS, [
  [7n, 2n, "2.50", 1.5, "Hello", "2024-02-29", "2024-02-29T13:45:10.123456Z", true, 9007199254740993n],
  [-3n, 0n, "-1.25", -0.5, "héllo wörld", "1969-12-31", "1969-12-31T23:59:59Z", false, -9223372036854775807n],
  [null, 3n, null, null, null, null, null, null, null],
  [0n, null, "0.10", 2, "  pad  ", "2000-01-01", "2000-01-01T00:00:00Z", true, 9223372036854775807n],
]);

/** `now()` in the tests: 2024-06-01T00:00:00Z. */
export const FIXED_NOW = 1_717_200_000_000_000n;

/** Compiles `source` against the fixture's schema. */
export function compileFixture(source: string): Expression {
  return compileExpression(source, { schema: FIXTURE.schema, path: "test" });
}

/** The value of `source` for each fixture row (as `cellValue` gives them) and the runtime error count. */
export function evaluateFixture(source: string): { values: CellValue[]; errors: number; type: string } {
  const expression = compileFixture(source);
  const { column, errors } = expression.evaluateColumn(FIXTURE, { name: "out", now: FIXED_NOW });
  const values = Array.from({ length: FIXTURE.length }, (_, i) => cellValue(column, i));
  const t = expression.type;
  return { values, errors, type: t.type === "decimal" ? `decimal(${t.precision},${t.scale})` : t.type };
}
