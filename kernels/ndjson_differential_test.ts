import assert from "node:assert/strict";
import {
  CORPUS_COLUMNS,
  corpusDocument,
  corpusLine,
  expectNdjson,
  expectRecord,
  type JsonOutcome,
  parseJsonChunks,
  randomCuts,
} from "./ndjson_testing.ts";
import { kernelTestCore, seededRandom } from "./testing.ts";

const core = await kernelTestCore();
const CORPUS_SIZE = 400;
const FUZZ_INPUTS = 20_000;
const encoder = new TextEncoder();

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;
}

function trim(bytes: Uint8Array): Uint8Array {
  let s = 0;
  let e = bytes.length;
  while (s < e && isWs(bytes[s])) s++;
  while (e > s && isWs(bytes[e - 1])) e--;
  return bytes.subarray(s, e);
}

Deno.test("JSON reader agrees with JSON.parse on the generated NDJSON corpus", () => {
  let rows = 0;
  let rejects = 0;
  const rules = new Set<string>();
  for (let seed = 1; seed <= CORPUS_SIZE; seed++) {
    const doc = corpusDocument(seed);
    const got = parseJsonChunks(core, doc, { columns: CORPUS_COLUMNS });
    assert.deepStrictEqual(got, expectNdjson(doc, CORPUS_COLUMNS), `seed ${seed}`);
    rows += got.rows.length;
    rejects += got.rejects.length;
    for (const r of got.rejects) rules.add(r.rule);
  }
  // The corpus must exercise both outcomes and every rule, or the comparison proves little.
  assert.ok(rows > 1000 && rejects > 500, `rows ${rows}, rejects ${rejects}`);
  assert.deepStrictEqual([...rules].sort(), ["json", "required", "type", "utf8"]);
});

Deno.test("JSON reader gives identical output for random chunk cuts", async (t) => {
  for (const format of ["ndjson", "array"] as const) {
    await t.step(format, () => {
      for (let seed = 1; seed <= 200; seed++) {
        const doc = format === "ndjson" ? corpusDocument(seed) : arrayDocument(seed).bytes;
        const whole = parseJsonChunks(core, doc, { format, columns: CORPUS_COLUMNS });
        const cuts = randomCuts(seededRandom(seed * 7919), doc.length);
        assert.deepStrictEqual(
          parseJsonChunks(core, doc, { format, columns: CORPUS_COLUMNS }, cuts),
          whole,
          `seed ${seed}`,
        );
      }
    });
  }
});

/** Corpus records whose brackets balance, as the elements of one array, one per line after the `[`. */
function arrayDocument(seed: number): { bytes: Uint8Array; want: JsonOutcome } {
  const rnd = seededRandom(seed);
  const parts: Uint8Array[] = [encoder.encode("[\n")];
  const want: JsonOutcome = { rows: [], lines: [], rejects: [] };
  const n = Math.floor(rnd() * 20);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const line = corpusLine(rnd, CORPUS_COLUMNS);
    const record = trim(line.bytes);
    if (!line.balanced || record.length === 0) continue;
    if (count > 0) parts.push(encoder.encode(",\n"));
    parts.push(record);
    const x = expectRecord(record, count + 2, CORPUS_COLUMNS);
    if (x.kind === "row") {
      want.rows.push(x.values);
      want.lines.push(x.line);
    } else {
      want.rejects.push(x.reject);
    }
    count++;
  }
  parts.push(encoder.encode("\n]\n"));
  const bytes = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, want };
}

Deno.test("JSON reader agrees with JSON.parse on the corpus as JSON arrays", () => {
  let rows = 0;
  for (let seed = 1; seed <= CORPUS_SIZE; seed++) {
    const { bytes, want } = arrayDocument(seed);
    const got = parseJsonChunks(core, bytes, { format: "array", columns: CORPUS_COLUMNS });
    assert.deepStrictEqual(got, want, `seed ${seed}`);
    rows += got.rows.length;
  }
  assert.ok(rows > 500, `rows ${rows}`);
});

const FUZZ_ALPHABET = encoder.encode('{}[]",:\\ \n\r\t0123456789-+.eEtrufalsn"idname');

/** A random or mutated input: structural noise, or a corpus line with bytes flipped, dropped or added. */
function fuzzInput(rnd: () => number): Uint8Array {
  if (rnd() < 0.4) {
    const n = Math.floor(rnd() * 64);
    return Uint8Array.from(
      { length: n },
      () => rnd() < 0.9 ? FUZZ_ALPHABET[Math.floor(rnd() * FUZZ_ALPHABET.length)] : Math.floor(rnd() * 256),
    );
  }
  const bytes = [...corpusLine(rnd, CORPUS_COLUMNS).bytes];
  if (rnd() < 0.5) bytes.push(10, ...corpusLine(rnd, CORPUS_COLUMNS).bytes);
  for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) {
    const at = Math.floor(rnd() * (bytes.length + 1));
    const r = rnd();
    const b = rnd() < 0.8 ? FUZZ_ALPHABET[Math.floor(rnd() * FUZZ_ALPHABET.length)] : Math.floor(rnd() * 256);
    if (r < 0.4) bytes.splice(at, 1);
    else if (r < 0.7) bytes.splice(at, 0, b);
    else bytes[at] = b;
  }
  return Uint8Array.from(bytes);
}

/**
 * Nested values are kept as written, which the oracle cannot see (it only has `JSON.parse`'s result):
 * compare text that parses as an object or array by its canonical form.
 */
function canonical(outcome: JsonOutcome): JsonOutcome {
  const norm = (v: unknown) => {
    if (typeof v !== "string" || !/^\s*[[{]/.test(v)) return v;
    try {
      return JSON.stringify(JSON.parse(v));
    } catch {
      return v;
    }
  };
  return { ...outcome, rows: outcome.rows.map((r) => r.map(norm) as typeof r) };
}

Deno.test("JSON reader survives a seeded fuzz run and still agrees with JSON.parse", () => {
  const rnd = seededRandom(20_260_101);
  for (let i = 0; i < FUZZ_INPUTS; i++) {
    const input = fuzzInput(rnd);
    const ndjson = parseJsonChunks(core, input, { columns: CORPUS_COLUMNS });
    assert.deepStrictEqual(
      canonical(ndjson),
      canonical(expectNdjson(input, CORPUS_COLUMNS)),
      `input ${i}: ${JSON.stringify([...input])}`,
    );
    const array = parseJsonChunks(core, input, { format: "array", columns: CORPUS_COLUMNS });
    if (i % 4 === 0) {
      const cuts = randomCuts(rnd, input.length);
      assert.deepStrictEqual(
        parseJsonChunks(core, input, { format: "array", columns: CORPUS_COLUMNS }, cuts),
        array,
      );
      assert.deepStrictEqual(parseJsonChunks(core, input, { columns: CORPUS_COLUMNS }, cuts), ndjson);
    }
  }
});
