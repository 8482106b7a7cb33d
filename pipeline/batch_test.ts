import assert from "node:assert/strict";
import {
  type Batch,
  batchBuffers,
  batchFromRows,
  cellValue,
  countNulls,
  type Field,
  formatDate,
  formatDecimal,
  formatTimestamp,
  isNull,
  rowObject,
  rowValues,
} from "./batch.ts";
import type { Columnar } from "./validate.ts";

const FIELDS: Field[] = [
  { name: "id", type: "int64" },
  { name: "x", type: "float64" },
  { name: "amount", type: "decimal", precision: 10, scale: 2 },
  { name: "ok", type: "boolean" },
  { name: "day", type: "date" },
  { name: "ts", type: "timestamp" },
  { name: "name", type: "string" },
];

Deno.test("batchFromRows builds Arrow-layout columns that cellValue reads back", () => {
  const batch = batchFromRows(FIELDS, [
    [1n, 1.5, "12.3", true, "2024-02-29", "2024-01-02T03:04:05.123456Z", "žluť"],
    [null, null, null, null, null, null, null],
    [-9223372036854775808n, -0, -5n, false, 0, -1n, ""],
  ], { lines: [2, 5, 9] });
  assert.equal(batch.length, 3);
  assert.deepStrictEqual([...batch.lines], [2, 5, 9]);
  assert.deepStrictEqual(rowValues(batch, 0), [
    1n,
    1.5,
    "12.30",
    true,
    "2024-02-29",
    "2024-01-02T03:04:05.123456Z",
    "žluť",
  ]);
  assert.deepStrictEqual(rowValues(batch, 1), [null, null, null, null, null, null, null]);
  assert.deepStrictEqual(rowObject(batch, 2), {
    id: -9223372036854775808n,
    x: -0,
    amount: "-0.05",
    ok: false,
    day: "1970-01-01",
    ts: "1969-12-31T23:59:59.999999Z",
    name: "",
  });
  const name = batch.columns.name;
  assert.ok(name.type === "string");
  assert.deepStrictEqual([...name.offsets], [0, 6, 6, 6]);
  assert.equal(name.nullCount, 1);
  assert.ok(isNull(name, 1) && !isNull(name, 2));
});

Deno.test("columns without nulls carry no validity bitmap", () => {
  const batch = batchFromRows([{ name: "n", type: "int64" }], [[1n], [2n]]);
  assert.equal(batch.columns.n.validity, undefined);
  assert.equal(batch.columns.n.nullCount, 0);
});

Deno.test("formatters render values exactly", async (t) => {
  const cases: { name: string; got: () => string; want: string }[] = [
    { name: "decimal with scale", got: () => formatDecimal(-1234n, 2), want: "-12.34" },
    { name: "decimal below one", got: () => formatDecimal(5n, 3), want: "0.005" },
    { name: "decimal without scale", got: () => formatDecimal(42n, 0), want: "42" },
    { name: "date before the epoch", got: () => formatDate(-1), want: "1969-12-31" },
    {
      name: "timestamp keeps microseconds",
      got: () => formatTimestamp(1_700_000_000_000_001n),
      want: "2023-11-14T22:13:20.000001Z",
    },
    {
      name: "timestamp before the epoch",
      got: () => formatTimestamp(-86_400_000_001n),
      want: "1969-12-30T23:59:59.999999Z",
    },
  ];
  for (const c of cases) await t.step(c.name, () => assert.equal(c.got(), c.want));
});

Deno.test("countNulls counts cleared bits within the length only", async (t) => {
  const cases: { bits: number[]; length: number; want: number }[] = [
    { bits: [0xff], length: 8, want: 0 },
    { bits: [0b1111_0110], length: 8, want: 2 },
    { bits: [0xff, 0b0000_0001], length: 9, want: 0 },
    { bits: [0x00, 0b1111_1110], length: 10, want: 9 },
  ];
  for (const c of cases) {
    await t.step(
      `${c.bits} of ${c.length}`,
      () => assert.equal(countNulls(Uint8Array.from(c.bits), c.length), c.want),
    );
  }
});

Deno.test("batchBuffers lists every buffer once, ready to transfer", () => {
  const batch = batchFromRows(FIELDS, [[1n, 2, "3", true, 4, 5n, "six"], [null, 1, "1", false, 1, 1n, "x"]]);
  const buffers = batchBuffers(batch);
  // lines, 7 value buffers, one more for strings (offsets and data), and the int64 column's validity.
  assert.equal(buffers.length, 1 + 7 + 1 + 1);
  assert.equal(new Set(buffers).size, buffers.length);
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(batch, buffers);
  assert.equal(batch.lines.length, 0, "the buffers were detached by the transfer");
  port1.close();
  port2.close();
});

Deno.test("a Batch is what validateBatch takes", () => {
  // Checked by the compiler: the validator states the batch shape structurally.
  const batch: Batch = batchFromRows([{ name: "id", type: "int64" }], [[1n]]);
  const columnar: Columnar = batch;
  assert.equal(cellValue(batch.columns.id, 0), 1n);
  assert.equal(columnar.length, 1);
});
