import assert from "node:assert/strict";
import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import { KernelPool } from "../workers/pool.ts";
import { chunkRecords, countLines, csvHeader } from "./chunker.ts";
import { rowObject } from "./batch.ts";
import { BufferFreeList } from "./bytes.ts";

const module = await compileKernels();
const kernels = instantiateKernels(module);
const encoder = new TextEncoder();

/** A seeded CSV with quoted newlines, doubled quotes and some bad rows. */
function sampleCsv(rows: number, seed = 7): string {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const lines = ["id,name,amount"];
  for (let i = 1; i <= rows; i++) {
    const r = next();
    const name = r < 0.1 ? `"multi\nline ""${i}"""` : r < 0.2 ? `"comma, ${i}"` : `name${i}`;
    const amount = r > 0.97 ? "not-a-number" : (next() * 1000).toFixed(2);
    lines.push(`${i},${name},${amount}`);
  }
  return lines.join("\n") + "\n";
}

async function* pieces(bytes: Uint8Array, seed: number): AsyncGenerator<Uint8Array> {
  let state = seed;
  for (let at = 0; at < bytes.length;) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (state % 5000);
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function collect(bytes: Uint8Array, seed: number, format: "csv" | "ndjson" = "csv") {
  const out = [];
  for await (const chunk of chunkRecords(pieces(bytes, seed), { format, kernels, targetBytes: 4096 })) {
    out.push(chunk);
  }
  return out;
}

Deno.test("chunkRecords cuts the same chunks whatever the network delivery", async () => {
  const bytes = encoder.encode(sampleCsv(2000));
  const first = await collect(bytes, 1);
  const second = await collect(bytes, 99);
  assert.ok(first.length > 5);
  assert.deepEqual(
    second.map((c) => [c.offset, c.bytes.length, c.firstLine]),
    first.map((c) => [c.offset, c.bytes.length, c.firstLine]),
  );
  // Chunks tile the input exactly.
  const joined = new Uint8Array(bytes.length);
  for (const c of first) joined.set(c.bytes, c.offset);
  assert.deepEqual(joined, bytes);
});

Deno.test("chunkRecords never cuts inside a quoted newline and counts lines across chunks", async () => {
  const text = sampleCsv(2000);
  const chunks = await collect(encoder.encode(text), 3);
  for (const chunk of chunks.slice(1)) {
    // Every chunk after the first starts with a record: an id followed by a comma.
    assert.match(new TextDecoder().decode(chunk.bytes.subarray(0, 12)), /^\d+,/);
    const before = text.slice(0, chunk.offset);
    assert.equal(chunk.firstLine, before.split("\n").length);
  }
  // Each chunk counts the lines it ends, quoted ones included: where the next one starts.
  chunks.slice(1).forEach((next, i) => {
    assert.equal(chunks[i].lines, countLines(chunks[i].bytes));
    assert.equal(chunks[i].firstLine + chunks[i].lines, next.firstLine);
  });
});

Deno.test("chunkRecords cuts NDJSON at newlines", async () => {
  const text = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ id: i, s: 'x,"y"' })).join("\n");
  const chunks = await collect(encoder.encode(text), 5, "ndjson");
  assert.ok(chunks.length > 5);
  for (const chunk of chunks) {
    const body = new TextDecoder().decode(chunk.bytes);
    for (const line of body.split("\n").filter(Boolean)) JSON.parse(line);
  }
});

Deno.test("countLines counts LF, CRLF and lone CR once each", async (t) => {
  const cases: [string, number][] = [["a\nb\n", 2], ["a\r\nb\r\n", 2], ["a\rb\r", 2], ["a", 0], [
    "\r\n\n\r",
    3,
  ]];
  for (const [text, lines] of cases) {
    await t.step(JSON.stringify(text), () => assert.equal(countLines(encoder.encode(text)), lines));
  }
});

Deno.test("csvHeader finds the first record past a BOM and blank lines, quotes included", () => {
  const header = csvHeader(encoder.encode('\ufeff\n\n"a\nb",c\r\n1,2\n'), '"');
  assert.equal(new TextDecoder().decode(header!.bytes), '"a\nb",c\r\n');
  assert.equal(header!.lines, 2);
  assert.equal(header!.end, 3 + 2 + 9, "past the BOM, the blank lines and the record");
  assert.equal(csvHeader(encoder.encode("no newline yet"), '"'), null);
});

Deno.test("chunks parsed in parallel by the pool give every row once with its original line", async () => {
  const text = sampleCsv(3000);
  const bytes = encoder.encode(text);
  const chunks = await collect(bytes, 11);
  const header = csvHeader(bytes, '"');
  await using pool = await KernelPool.create({ module, workers: 2 });
  const results = await Promise.all(chunks.map((chunk) =>
    pool.run("parse.chunk", {
      input: chunk.bytes.slice().buffer,
      params: {
        format: "csv",
        columns: [{ name: "id", type: "int64", required: true }, { name: "name", type: "string" }, {
          name: "amount",
          type: "decimal",
          precision: 12,
          scale: 2,
        }],
        rules: { id: { required: true, unique: true } },
        firstLine: chunk.firstLine,
        lines: chunk.lines,
        dialect: { delimiter: ",", quote: '"', nullTokens: [""] },
        header: chunk.sequence === 0 ? null : header,
      },
    })
  ));
  const ids: bigint[] = [];
  const rejectLines: number[] = [];
  const lineOfId = new Map<bigint, number>();
  for (const { value } of results) {
    for (let i = 0; i < value.batch.length; i++) {
      const row = rowObject(value.batch, i);
      ids.push(row.id as bigint);
      lineOfId.set(row.id as bigint, value.batch.lines[i]);
    }
    for (const reject of value.rejects) {
      assert.equal(reject.rule, "type");
      assert.equal(reject.column, "amount");
      rejectLines.push(reject.line);
    }
  }
  // Every data row is either accepted or rejected, exactly once.
  assert.equal(ids.length + rejectLines.length, 3000);
  assert.equal(new Set(ids).size, ids.length);
  // Lines match the text: find the line each accepted id starts on.
  const lines = text.split("\n");
  let checked = 0;
  for (const [id, line] of lineOfId) {
    if (checked++ > 200) break;
    assert.ok(lines[line - 1].startsWith(`${id},`), `id ${id} at line ${line}: ${lines[line - 1]}`);
  }
  for (const line of rejectLines) assert.match(lines[line - 1], /not-a-number$/);
});

Deno.test("chunkRecords counts CR, CRLF and quoted line breaks across block and piece edges", async () => {
  let state = 5;
  const next = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const ends = ["\n", "\r\n", "\r"];
  const rows = ["id,note\r\n"];
  for (let i = 0; i < 400; i++) {
    const note = next() < 0.2 ? `"a\r\nb${ends[i % 3]}c"` : `n${i}`;
    rows.push(`${i},${note}${ends[Math.floor(next() * 3)]}`);
  }
  const bytes = encoder.encode(rows.join(""));
  for (const size of [1, 7, 64, bytes.length]) {
    const delivery = async function* () {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    };
    const chunks = [];
    for await (const chunk of chunkRecords(delivery(), { format: "csv", kernels, targetBytes: 50 })) {
      chunks.push({ ...chunk, bytes: chunk.bytes.slice() });
    }
    const joined = new Uint8Array(bytes.length);
    for (const c of chunks) {
      assert.equal(
        c.firstLine,
        countLines(bytes.subarray(0, c.offset)) + 1,
        `size ${size} offset ${c.offset}`,
      );
      joined.set(c.bytes, c.offset);
    }
    assert.deepEqual(joined, bytes);
  }
});

Deno.test("chunkRecords never hands out the whole of a caller's buffer", async () => {
  const bytes = encoder.encode("a,b\n1,2\n");
  const chunks = [];
  for await (
    const chunk of chunkRecords(
      (async function* () {
        yield bytes;
      })(),
      { format: "csv", kernels },
    )
  ) chunks.push(chunk);
  assert.equal(chunks.length, 1);
  assert.notEqual(chunks[0].bytes.buffer, bytes.buffer);
  assert.deepEqual(chunks[0].bytes, bytes);
});

Deno.test("chunkRecords hands out each chunk at the start of a buffer of its own, reusing given-back ones", async () => {
  const bytes = encoder.encode(sampleCsv(2000));
  const expected = await collect(bytes, 5);
  const buffers = new BufferFreeList(2);
  const seen = new Set<ArrayBuffer>();
  const joined = new Uint8Array(bytes.length);
  const got = [];
  for await (
    const chunk of chunkRecords(pieces(bytes, 5), { format: "csv", kernels, targetBytes: 4096, buffers })
  ) {
    assert.equal(chunk.bytes.byteOffset, 0);
    seen.add(chunk.bytes.buffer);
    joined.set(chunk.bytes, chunk.offset);
    got.push([chunk.offset, chunk.bytes.length, chunk.firstLine, chunk.lines]);
    // Done with the chunk: its buffer may take a later one.
    buffers.give(chunk.bytes.buffer);
  }
  assert.deepEqual(got, expected.map((c) => [c.offset, c.bytes.length, c.firstLine, c.lines]));
  assert.deepEqual(joined, bytes);
  assert.ok(seen.size <= 3, `${expected.length} chunks in ${seen.size} buffers`);
});

Deno.test("chunkRecords cuts blocks larger than the scanner's pieces at their last boundary", async () => {
  // Blocks of several 64 KiB scanner pieces, CRLF rows with quoted line breaks: each chunk ends at the last
  // record boundary of its block whichever piece it falls in, and lines are counted across pieces.
  const text = sampleCsv(40000).replaceAll("\n", "\r\n");
  const bytes = encoder.encode(text);
  const targetBytes = 150_000;
  // Record boundaries: after each CRLF outside quotes (sampleCsv quotes whole fields, doubling inner quotes).
  const boundaries: number[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text[i] === "\n") boundaries.push(i + 1);
  }
  const ends: number[] = [];
  for (let block = targetBytes; block < bytes.length; block += targetBytes) {
    ends.push(boundaries.filter((b) => b <= block).at(-1)!);
  }
  ends.push(bytes.length);
  assert.ok(ends.length > 3);
  for (const size of [999, 70_000, bytes.length]) {
    const delivery = async function* () {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    };
    const got = [];
    for await (const chunk of chunkRecords(delivery(), { format: "csv", kernels, targetBytes })) {
      assert.deepEqual(chunk.bytes, bytes.subarray(chunk.offset, chunk.offset + chunk.bytes.length));
      assert.equal(chunk.firstLine, countLines(bytes.subarray(0, chunk.offset)) + 1);
      assert.equal(chunk.lines, countLines(chunk.bytes));
      got.push(chunk.offset + chunk.bytes.length);
    }
    assert.deepEqual(got, ends, `delivery in pieces of ${size}`);
  }
});

Deno.test("chunkRecords from a record start inside the input cuts the whole input's chunks after it", async () => {
  const bytes = encoder.encode(sampleCsv(2000));
  const whole = await collect(bytes, 3);
  // A chunk's start, and the start of its second record.
  const starts = [whole[3].offset, whole[3].offset + csvHeader(whole[3].bytes, '"')!.end];
  for (const offset of starts) {
    const line = 1 + countLines(bytes.subarray(0, offset));
    const out = [];
    for await (
      const chunk of chunkRecords(pieces(bytes.subarray(offset), 5), {
        format: "csv",
        kernels,
        targetBytes: 4096,
        start: { offset, line },
      })
    ) out.push(chunk);
    assert.deepEqual(
      out.map((c) => [c.offset, c.bytes.length, c.firstLine, c.lines]),
      [
        [offset, whole[3].offset + whole[3].bytes.length - offset, line, countLines(out[0].bytes)],
        ...whole.slice(4).map((c) => [c.offset, c.bytes.length, c.firstLine, c.lines]),
      ],
    );
  }
});
