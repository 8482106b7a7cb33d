/**
 * Rows as JSON, the one encoding the kafka, redis and file (NDJSON) sinks share. Choices, so consumers can
 * rely on them: int64 is a JSON number when it is a safe integer (|v| ≤ 2^53 − 1) and a string otherwise, so
 * no consumer silently rounds it; decimals are always strings (`"12.30"`, exact, scale kept); float64 is a
 * number, or the string `"NaN"`, `"Infinity"` or `"-Infinity"`; dates are `YYYY-MM-DD`; timestamps are
 * ISO 8601 UTC with microseconds; null is `null`.
 *
 * @module
 */

import { type Batch, cellValue, type Column } from "../batch.ts";

/** A JSON value of one cell. */
export type JsonCell = string | number | boolean | null;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Cell `row` of `column` as its JSON value (see the module doc for the choices). */
export function jsonCell(column: Column, row: number): JsonCell {
  const value = cellValue(column, row);
  if (typeof value === "bigint") {
    return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
  }
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

/** Row `row` of `batch` as an object in field order. */
export function jsonRow(batch: Batch, row: number): Record<string, JsonCell> {
  const out: Record<string, JsonCell> = {};
  for (const f of batch.schema.fields) out[f.name] = jsonCell(batch.columns[f.name], row);
  return out;
}

/**
 * The record key of row `row`: the single key column's value as text, or the JSON array of the key values
 * when the key has several columns; `null` when there is no key.
 */
export function keyText(batch: Batch, key: readonly string[], row: number): string | null {
  if (key.length === 0) return null;
  if (key.length === 1) {
    const value = cellValue(batch.columns[key[0]], row);
    return value === null ? "" : String(value);
  }
  return JSON.stringify(key.map((k) => jsonCell(batch.columns[k], row)));
}
