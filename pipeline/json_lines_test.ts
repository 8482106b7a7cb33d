import assert from "node:assert/strict";
import { type Batch, batchFromRows, type Field } from "./batch.ts";
import { encodeJsonLines } from "./json_lines.ts";
import { jsonRow } from "./sinks/json_row.ts";
import { instantiateKernels } from "../kernels/mod.ts";
import { compileKernels } from "../kernels/mod.ts";

const text = (batch: Batch) => new TextDecoder().decode(encodeJsonLines(batch));

/** What the sinks write, row by row: the reference the fast encoder must equal byte for byte. */
function reference(batch: Batch): string {
  let out = "";
  for (let i = 0; i < batch.length; i++) out += JSON.stringify(jsonRow(batch, i)) + "\n";
  return out;
}

const FIELDS: Field[] = [
  { name: "i", type: "int64" },
  { name: "f", type: "float64" },
  { name: "d", type: "decimal", precision: 18, scale: 3 },
  { name: "b", type: "boolean" },
  { name: "day", type: "date" },
  { name: "ts", type: "timestamp" },
  { name: "s", type: "string" },
];

Deno.test("encodeJsonLines writes what JSON.stringify(jsonRow()) writes", async (t) => {
  const table: { name: string; fields: Field[]; rows: unknown[][] }[] = [
    {
      name: "every type with nulls",
      fields: FIELDS,
      rows: [
        [1n, 1.5, "12.5", true, "2026-11-28", "2026-11-28T12:34:56.789012Z", "plain"],
        [null, null, null, null, null, null, null],
        [-7n, -0.1, "-0.001", false, "1969-12-31", "1969-12-31T23:59:59.999999Z", ""],
      ],
    },
    {
      name: "int64 at and past the safe range",
      fields: [{ name: "i", type: "int64" }, { name: "d", type: "decimal", precision: 18, scale: 2 }],
      rows: [
        [9007199254740991n, 9007199254740991n],
        [9007199254740992n, 9007199254740992n],
        [-9007199254740991n, -9007199254740991n],
        [-9007199254740992n, -9007199254740992n],
        [9223372036854775807n, 9223372036854775807n],
        [-9223372036854775808n, -9223372036854775807n],
        [4294967296n, 4294967295n],
        [-4294967296n, -1n],
      ],
    },
    {
      name: "non-finite and extreme floats",
      fields: [{ name: "f", type: "float64" }],
      rows: [[NaN], [Infinity], [-Infinity], [-0], [1e21], [5e-324], [0.1 + 0.2], [-123.456e-7]],
    },
    {
      name: "timestamps far from 1970 take the exact path",
      fields: [{ name: "ts", type: "timestamp" }],
      rows: [
        ["0001-01-01T00:00:00Z"],
        ["9999-12-31T23:59:59.999999Z"],
        ["1600-02-29T12:00:00.000001Z"],
        ["2255-06-01T00:00:00Z"],
        [-1n],
        [0n],
        ["1969-07-20T20:17:40.5Z"],
        ["2000-02-29T23:59:59.000001Z"],
        [null],
      ],
    },
    {
      name: "strings needing escapes and non-ASCII text",
      fields: [{ name: "a", type: "string" }, { name: "b", type: "string" }],
      rows: [
        ['say "hi"', "ünïcödé"],
        ["back\\slash", "emoji 😀 and 𝄞"],
        ["line\nbreak\ttab\u0001\b\f\r\u001f\u007f", "日本語"],
        ["", null],
        ["\u2028", "é"],
      ],
    },
    {
      name: "keys needing escapes",
      fields: [{ name: 'we"ird', type: "string" }, { name: "ключ", type: "int64" }],
      rows: [["x", 1n]],
    },
    { name: "no rows", fields: FIELDS, rows: [] },
  ];
  for (const c of table) {
    await t.step(c.name, () => {
      const batch = batchFromRows(c.fields, c.rows);
      assert.equal(text(batch), reference(batch));
    });
  }
});

Deno.test("encodeJsonLines encodes a batch from the CSV kernel like the sinks do", async () => {
  const kernels = instantiateKernels(await compileKernels());
  const parser = kernels.createCsvParser({
    columns: [
      { name: "id", type: "int64" },
      { name: "name", type: "string" },
      { name: "amount", type: "decimal", precision: 12, scale: 2 },
      { name: "ts", type: "timestamp" },
    ],
  });
  const csv = 'id,name,amount,ts\n1,"Lovelace, Ada",12.50,2026-01-01T00:00:00Z\n2,,,\n3,"Grace ""G"" H",-3,' +
    "2026-01-02 10:00+02:00\n";
  const first = parser.push(new TextEncoder().encode(csv));
  const last = parser.finish();
  assert.equal(first.batch.length + last.batch.length, 3);
  assert.equal(text(first.batch), reference(first.batch));
});

Deno.test("encodeJsonLines handles a string column whose data starts at an odd offset", () => {
  const base = batchFromRows([{ name: "s", type: "string" }], [["abc"], ["déf"]]);
  const col = base.columns.s;
  assert.equal(col.type, "string");
  if (col.type !== "string") return;
  const shifted = new Uint8Array(col.data.length + 1);
  shifted.set(col.data, 1);
  const batch: Batch = { ...base, columns: { s: { ...col, data: shifted.subarray(1) } } };
  assert.equal(text(batch), reference(batch));
});

Deno.test("encodeJsonLines formats every day of four centuries like Date does", () => {
  // Day by day through leap years, century rules and the epoch, both as dates and as midnight timestamps.
  const days: number[] = [];
  for (let d = -141_000; d <= 5_000; d += 1) days.push(d);
  for (let d = 2_900_000; d <= 2_932_896; d += 7) days.push(d);
  const batch = batchFromRows(
    [{ name: "day", type: "date" }, { name: "ts", type: "timestamp" }],
    days.map((d) => [d, BigInt(d) * 86_400_000_000n + 1n]),
  );
  assert.equal(text(batch), reference(batch));
});
