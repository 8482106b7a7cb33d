import assert from "node:assert/strict";
import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import { type Batch, batchBuffers, rowValues } from "../pipeline/batch.ts";
import { BufferFreeList } from "../pipeline/bytes.ts";
import { parseChunk, type ParseChunkParams } from "./parse.ts";

const kernels = instantiateKernels(await compileKernels());
const encoder = new TextEncoder();

const COLUMNS: ParseChunkParams["columns"] = [
  { name: "id", type: "int64" },
  { name: "name", type: "string" },
  { name: "amount", type: "decimal", precision: 12, scale: 2 },
  { name: "paid", type: "boolean" },
];

/** `rows` rows after a header; `seed` makes each text's values its own, and every seventh name is null. */
function csvText(rows: number, seed: number): string {
  let text = "id,name,amount,paid\n";
  for (let i = 0; i < rows; i++) {
    const name = i % 7 === 3 ? "" : `n${seed}-${i}${"x".repeat((i + seed) % 5)}`;
    text += `${seed * 1_000_000 + i},${name},${i % 1000}.${String(seed % 100).padStart(2, "0")},${
      (i + seed) % 3 === 0
    }\n`;
  }
  return text;
}

function parse(text: string, options: { buffers?: BufferFreeList; rules?: ParseChunkParams["rules"] } = {}) {
  return parseChunk(kernels, encoder.encode(text).buffer, {
    format: "csv",
    columns: COLUMNS,
    rules: options.rules ?? {},
    firstLine: 1,
    dialect: { delimiter: ",", quote: '"', nullTokens: [""] },
    header: null,
  }, { buffers: options.buffers });
}

function rows(batch: Batch): unknown[][] {
  return Array.from({ length: batch.length }, (_, i) => [batch.lines[i], ...rowValues(batch, i)]);
}

Deno.test("parseChunk copies a batch into one buffer", () => {
  const { value, transfer } = parse(csvText(100, 1));
  assert.equal(value.batch.length, 100);
  assert.equal(batchBuffers(value.batch).length, 1);
  assert.deepStrictEqual(transfer, batchBuffers(value.batch));
});

Deno.test("parseChunk copies into a given-back buffer and overwrites what it held", () => {
  const buffers = new BufferFreeList(2);
  // A larger batch first, with other values, so stale bytes would show in the smaller one read into its buffer.
  const first = parse(csvText(3000, 2), { buffers }).value.batch;
  const [held] = batchBuffers(first);
  buffers.give(held);
  const reused = parse(csvText(1000, 3), { buffers }).value.batch;
  assert.equal(batchBuffers(reused)[0], held, "the given-back buffer is reused");
  assert.deepStrictEqual(rows(reused), rows(parse(csvText(1000, 3)).value.batch));
});

Deno.test("parseChunk gives the parsed batch's buffer back when rejects leave a new batch", () => {
  const buffers = new BufferFreeList(2);
  const { value } = parse(csvText(500, 4), { buffers, rules: { id: { max: 4_000_100 } } });
  assert.equal(value.batch.length, 101);
  assert.equal(value.rejects.length, 399);
  assert.equal(buffers.size, 1, "the parsed batch's buffer went back");
  assert.notEqual(batchBuffers(value.batch)[0], buffers.take(0), "the kept rows are in other buffers");
});

Deno.test("parseChunk numbers a later chunk's rows, rejects and errors by lines of the whole input", () => {
  const header = { bytes: encoder.encode("id,name,amount,paid\n"), lines: 1 };
  const chunk = (text: string) =>
    parseChunk(kernels, encoder.encode(text).buffer, {
      format: "csv",
      columns: COLUMNS,
      rules: { id: { max: 100 } },
      firstLine: 1001,
      dialect: { delimiter: ",", quote: '"', nullTokens: [""] },
      header,
    }).value;
  const { batch, rejects } = chunk('1,"a\nb",1.00,true\nx,b,2.00,false\n500,c,3.00,true\n4,d,4.00,false\n');
  assert.deepStrictEqual(Array.from(batch.lines), [1001, 1005]);
  assert.deepStrictEqual(rejects.map((r) => [r.line, r.rule]), [[1003, "type"], [1004, "max"]]);
  // The input's last chunk ends inside a quote: the error gives the quote's line in the whole input.
  assert.throws(() => chunk('1,a,1.00,true\n2,"b\n'), (e: Error & { line?: number }) => e.line === 1002);
});

Deno.test("parseChunk applies each job's own rules when they differ only in what JSON cannot spell", () => {
  // The compiled rules are kept for the next job with the same columns and rules; a bound of ±Infinity (or
  // NaN) is null in JSON, so a job's rules must not be recognised by their JSON alone.
  const chunk = (max: number) =>
    parseChunk(kernels, encoder.encode("ratio\n1.5\n").buffer, {
      format: "csv",
      columns: [{ name: "ratio", type: "float64" }],
      rules: { ratio: { max } },
      firstLine: 1,
      dialect: { delimiter: ",", quote: '"', nullTokens: [""] },
      header: null,
    }).value.rejects.map((r) => r.rule);
  assert.deepStrictEqual(chunk(-Infinity), ["max"]);
  assert.deepStrictEqual(chunk(Infinity), []);
  assert.deepStrictEqual(chunk(-Infinity), ["max"]);
});
