import assert from "node:assert/strict";
import { batchFromRows, type Field } from "../batch.ts";
import { encodeCsv, encodeCsvBytes } from "./csv_encoder.ts";

const decoder = new TextDecoder();
const text = (chunks: Iterable<Uint8Array>) => [...chunks].map((c) => decoder.decode(c)).join("");

Deno.test("a small batch is encoded from a buffer of its size, and text beyond that estimate still comes out whole", () => {
  // A column name far longer than the size estimate of two short rows: the header alone overflows the buffer.
  const long = "n".repeat(5000);
  const fields: Field[] = [{ name: "id", type: "int64" }, { name: long, type: "string" }];
  const batch = batchFromRows(fields, [[1n, 'say "hi", =1'], [2n, null]]);
  const want = `id,${long}\n1,"say ""hi"", =1"\n2,\n`;
  assert.equal(text(encodeCsv(batch, { header: true })), want);
  assert.equal(decoder.decode(encodeCsvBytes(batch, { header: true })), want);
  assert.equal(text(encodeCsv(batch, { from: 1 })), "2,\n");
});

Deno.test("chunks of a batch larger than a chunk concatenate to the same text as one chunk", () => {
  const fields: Field[] = [{ name: "id", type: "int64" }, { name: "s", type: "string" }];
  const rows = Array.from(
    { length: 500 },
    (_, i) => [BigInt(i), `row ${i}, "quoted"\n${"x".repeat(i % 40)}`],
  );
  const batch = batchFromRows(fields, rows);
  const small = [...encodeCsv(batch, { chunkBytes: 1024 })];
  assert.ok(small.length > 10, `${small.length} chunks`);
  assert.equal(text(small), decoder.decode(encodeCsvBytes(batch)));
  assert.equal(text(small).split('"quoted""').length - 1, 500);
});
