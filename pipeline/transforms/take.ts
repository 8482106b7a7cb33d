/**
 * Selecting rows of a batch by index: what `filter` keeps and how `lookup` spreads looked-up values over rows.
 *
 * @module
 */

import type { Batch, Column } from "../batch.ts";
import { countNulls } from "../batch.ts";

/**
 * The rows `rows` (ascending or not) of `batch`, with their `lines`.
 *
 * @example
 * ```ts
 * import { batchFromRows, rowObject } from "../batch.ts";
 * import { takeRows } from "./take.ts";
 * const batch = batchFromRows([{ name: "x", type: "int64" }], [[1n], [2n], [3n]]);
 * const kept = takeRows(batch, Int32Array.of(0, 2));
 * if (kept.length !== 2 || rowObject(kept, 1).x !== 3n || kept.lines[1] !== 3) throw new Error("wrong rows");
 * ```
 */
export function takeRows(batch: Batch, rows: Int32Array): Batch {
  if (rows.length === batch.length && rows.every((r, i) => r === i)) return batch;
  const columns: Record<string, Column> = {};
  for (const f of batch.schema.fields) columns[f.name] = takeColumn(batch.columns[f.name], rows);
  const lines = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) lines[i] = batch.lines[rows[i]];
  return { schema: batch.schema, length: rows.length, lines, columns };
}

/** Rows `rows` of `column`; an index of −1 gives null (a left join's missing match). */
export function takeColumn(column: Column, rows: Int32Array): Column {
  const n = rows.length;
  const src = column.validity;
  let validity: Uint8Array | undefined;
  if (src !== undefined || rows.some((r) => r < 0)) {
    validity = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      if (r >= 0 && (src === undefined || ((src[r >> 3] >> (r & 7)) & 1) === 1)) {
        validity[i >> 3] |= 1 << (i & 7);
      }
    }
  }
  const nullCount = validity === undefined ? 0 : countNulls(validity, n);
  const base = { name: column.name, length: n, nullCount, ...(nullCount > 0 ? { validity } : {}) };
  switch (column.type) {
    case "int64":
    case "timestamp": {
      const values = gather(column.values, rows, new BigInt64Array(n));
      return { ...base, type: column.type, values };
    }
    case "decimal":
      return {
        ...base,
        type: "decimal",
        precision: column.precision,
        scale: column.scale,
        values: gather(column.values, rows, new BigInt64Array(n)),
      };
    case "float64":
      return { ...base, type: "float64", values: gather(column.values, rows, new Float64Array(n)) };
    case "date":
      return { ...base, type: "date", values: gather(column.values, rows, new Int32Array(n)) };
    case "boolean": {
      const values = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        if (r >= 0 && ((column.values[r >> 3] >> (r & 7)) & 1) === 1) values[i >> 3] |= 1 << (i & 7);
      }
      return { ...base, type: "boolean", values };
    }
    case "string": {
      const offsets = new Int32Array(n + 1);
      let size = 0;
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        if (r >= 0) size += column.offsets[r + 1] - column.offsets[r];
        offsets[i + 1] = size;
      }
      const data = new Uint8Array(size);
      for (let i = 0; i < n; i++) {
        const r = rows[i];
        if (r >= 0) data.set(column.data.subarray(column.offsets[r], column.offsets[r + 1]), offsets[i]);
      }
      return { ...base, type: "string", offsets, data };
    }
  }
}

function gather<A extends BigInt64Array | Float64Array | Int32Array>(src: A, rows: Int32Array, out: A): A {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r >= 0) out[i] = src[r];
  }
  return out;
}
