import assert from "node:assert/strict";
import { batchFromRows, type Field, rowValues } from "./batch.ts";
import { concatBatches } from "./batch_concat.ts";

const FIELDS: Field[] = [
  { name: "id", type: "int64" },
  { name: "amount", type: "decimal", precision: 12, scale: 2 },
  { name: "x", type: "float64" },
  { name: "ok", type: "boolean" },
  { name: "day", type: "date" },
  { name: "ts", type: "timestamp" },
  { name: "tag", type: "string" },
];

Deno.test("concatBatches keeps every value and null across unaligned bitmaps", () => {
  const rows = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => {
      const k = from + i;
      return k % 4 === 0
        ? [BigInt(k), null, null, null, null, null, null]
        : [BigInt(k), `${k}.25`, k / 2, k % 3 === 0, k, BigInt(k) * 1000n, `t${k}é`];
    });
  // Sizes that leave bitmaps unaligned (3, 9) and one without nulls (1 row, k = 13).
  const parts = [rows(0, 3), rows(3, 9), rows(13, 1), rows(14, 8)];
  const all = concatBatches(parts.map((r) => batchFromRows(FIELDS, r)));
  const expected = batchFromRows(FIELDS, parts.flat());
  assert.equal(all.length, expected.length);
  for (let i = 0; i < all.length; i++) {
    assert.deepEqual(rowValues(all, i), rowValues(expected, i), `row ${i}`);
  }
  for (const f of FIELDS) assert.equal(all.columns[f.name].nullCount, expected.columns[f.name].nullCount);
});

Deno.test("concatBatches rejects batches with different fields", () => {
  const a = batchFromRows([{ name: "id", type: "int64" }], [[1n]]);
  const b = batchFromRows([{ name: "id", type: "string" }], [["1"]]);
  assert.throws(() => concatBatches([a, b]), TypeError);
});
