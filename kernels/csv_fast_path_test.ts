/**
 * The CSV kernel reads most rows in one pass (its fast path) and leaves any row it does not take whole to its
 * two stages. Whichever path reads a row, the output must be the same: these tests parse the same bytes every
 * way (`fastPath: false` turns the fast path off, `"full"` runs its full variant from the start) at random
 * chunk cuts and compare everything.
 */

import assert from "node:assert/strict";
import type { Field } from "../pipeline/batch.ts";
import { compileKernels } from "./mod.ts";
import { KernelCore } from "./core.ts";
import { corpusDocument } from "./csv_corpus.ts";
import type { CsvParserOptions } from "./csv.ts";
import { type CsvOutcome, parseChunks, randomCuts } from "./csv_testing.ts";
import { seededRandom } from "./testing.ts";

const core = new KernelCore(new WebAssembly.Instance(await compileKernels(), {}));

/** Both paths over `bytes` (the fast one in its lean and full variants), each at the same random cuts; returns the fast path's outcome. */
function bothPaths(bytes: Uint8Array, options: CsvParserOptions, cuts: number[], what: string): CsvOutcome {
  const fast = parseChunks(core, bytes, options, cuts);
  const twoStages = parseChunks(core, bytes, { ...options, fastPath: false }, cuts);
  assert.deepStrictEqual(fast, twoStages, what);
  assert.deepStrictEqual(
    parseChunks(core, bytes, { ...options, fastPath: "full" }, cuts),
    twoStages,
    `${what}, full`,
  );
  return fast;
}

Deno.test("the fast path and the two stages read the generated corpus alike", () => {
  const random = seededRandom(7);
  for (let seed = 1; seed <= 400; seed++) {
    const doc = corpusDocument(seed);
    const options = { delimiter: doc.delimiter, quote: doc.quote, header: doc.header };
    bothPaths(doc.bytes, options, [], `corpus ${seed}, whole`);
    bothPaths(doc.bytes, options, randomCuts(random, doc.bytes.length), `corpus ${seed}, cut`);
  }
});

const TYPED_COLUMNS: readonly Field[] = [
  { name: "id", type: "int64" },
  { name: "price", type: "decimal", precision: 10, scale: 2 },
  { name: "ratio", type: "float64" },
  { name: "ok", type: "boolean" },
  { name: "day", type: "date" },
  { name: "at", type: "timestamp" },
  { name: "name", type: "string" },
];

/** A plain, valid text for column `c`. */
function plainValue(c: number, random: () => number): string {
  const n = Math.floor(random() * 1e9);
  switch (c) {
    case 0:
      return String(random() < 0.5 ? n % 1000 : n * 1000 + (n % 977));
    case 1:
      return `${n % 100000}.${String(n % 100).padStart(2, "0")}`;
    case 2:
      return String((n / 1e4) * (random() < 0.3 ? -1 : 1));
    case 3:
      return random() < 0.5 ? "true" : "false";
    case 4:
      return `20${10 + (n % 15)}-0${1 + (n % 9)}-${10 + (n % 18)}`;
    case 5:
      return `2024-0${1 + (n % 9)}-1${n % 10}T${10 + (n % 14)}:${10 + (n % 50)}:${10 + (n % 50)}.${
        n % 1000
      }Z`;
    default:
      return ["Ada", "Grace Hopper", "Linus", "Barbara Liskov-Hamilton the Third"][n % 4];
  }
}

/** One field as written: mostly plain, sometimes each thing the fast path leaves to the two stages. */
function fieldText(c: number, random: () => number): string {
  const value = plainValue(c, random);
  if (random() < 0.6) return value;
  const r = random();
  if (r < 0.75) return value;
  if (r < 0.78) return "";
  if (r < 0.8) return "NA";
  if (r < 0.82) return ` ${value}\t`;
  if (r < 0.85) return `"${value}"`;
  if (r < 0.87) return `"${value} ""quoted"""`;
  if (r < 0.89) return `"${value}\nnext line"`;
  if (r < 0.9) return `"${value}\r\nnext line"`;
  if (r < 0.92) return `${value}x`;
  if (r < 0.94) return `${value}é`;
  if (r < 0.95) return `a"b`;
  if (r < 0.96) return `"${value}"garbage`;
  if (r < 0.97) return "\u00ff\u4e2d";
  return value + value;
}

/** A typed document: rows of every column type, with CRLF, blank lines, ragged rows and invalid UTF-8 mixed in. */
function typedDocument(seed: number): Uint8Array {
  const random = seededRandom(seed);
  const lines = [TYPED_COLUMNS.map((f) => f.name).join(",")];
  const rows = Math.floor(random() * 60);
  for (let i = 0; i < rows; i++) {
    const r = random();
    let fields = TYPED_COLUMNS.map((_, c) => fieldText(c, random));
    if (r < 0.03) fields = fields.slice(0, 3);
    else if (r < 0.05) fields.push("extra");
    else if (r < 0.06) fields.push("");
    lines.push(fields.join(","));
    if (random() < 0.03) lines.push("");
  }
  const newline = random() < 0.3 ? "\r\n" : "\n";
  const text = lines.join(newline) + (random() < 0.7 ? newline : "");
  const bytes = new TextEncoder().encode(text);
  // Now and then a byte that is not UTF-8.
  if (random() < 0.2 && bytes.length > 80) bytes[40 + Math.floor(random() * (bytes.length - 40))] = 0xff;
  return bytes;
}

Deno.test("the fast path and the two stages decode typed columns alike, rejects and nulls included", () => {
  const random = seededRandom(11);
  let rows = 0;
  let rejects = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const bytes = typedDocument(seed);
    const limits = seed % 10 === 0 ? { fieldBytes: 24, rowBytes: 120 } : undefined;
    const options: CsvParserOptions = { columns: TYPED_COLUMNS, nullTokens: ["", "NA"], limits };
    bothPaths(bytes, options, [], `typed ${seed}, whole`);
    const outcome = bothPaths(bytes, options, randomCuts(random, bytes.length, 12), `typed ${seed}, cut`);
    rows += outcome.rows.length;
    rejects += outcome.rejects.length;
  }
  // The documents exercise both: plenty of rows kept, plenty rejected.
  assert.ok(rows > 2000 && rejects > 1000, `${rows} rows, ${rejects} rejects`);
});

Deno.test("the fast path and the two stages agree when only some of the fields are declared", () => {
  // Undeclared fields are still walked (and their bytes still UTF-8 checked), only not decoded.
  const random = seededRandom(13);
  const columns = [TYPED_COLUMNS[5], TYPED_COLUMNS[0], TYPED_COLUMNS[6]];
  let rows = 0;
  for (let seed = 301; seed <= 400; seed++) {
    const bytes = typedDocument(seed);
    const options: CsvParserOptions = { columns, nullTokens: ["", "NA"] };
    rows += bothPaths(bytes, options, randomCuts(random, bytes.length, 12), `subset ${seed}`).rows.length;
  }
  assert.ok(rows > 1000, `${rows} rows`);
});

Deno.test("the fast path hands back a row that does not fit the string data region", () => {
  // Long strings overflow the data region sized from earlier calls: the parser must grow it, whichever path.
  const header = "id,name\n";
  const small = Array.from({ length: 200 }, (_, i) => `${i},x`).join("\n") + "\n";
  const big = Array.from({ length: 50 }, (_, i) => `${i},${"long text ".repeat(400)}`).join("\n") + "\n";
  const bytes = new TextEncoder().encode(header + small + big + small);
  const columns: Field[] = [{ name: "id", type: "int64" }, { name: "name", type: "string" }];
  const cuts = [header.length + small.length, 4096, 4096];
  const outcome = bothPaths(bytes, { columns }, cuts, "data region");
  assert.equal(outcome.rows.length, 450);
});

Deno.test("the fast path finds no field end in the stale bytes after a chunk's end", () => {
  // Each call reuses the input buffer, so behind a short chunk lie the bytes of the longer one before it:
  // "7,8\n34" over "a,b\n10,20\n..." reads "7,8\n34,20\n" in memory. The field end after "34" is past the
  // chunk's end and must not count: the row is "345,6", finished by the next chunk.
  const header = "a,b\n";
  const rows = "10,20\n".repeat(40);
  const text = header + rows + "7,8\n345,6\n";
  const bytes = new TextEncoder().encode(text);
  const columns: Field[] = [{ name: "a", type: "int64" }, { name: "b", type: "int64" }];
  for (const options of [{ columns }, {}] as CsvParserOptions[]) {
    // The header and rows, "7,8\n34", then the rest.
    const cuts = [header.length + rows.length, 6];
    const outcome = bothPaths(bytes, options, cuts, "stale bytes");
    assert.deepStrictEqual(outcome, parseChunks(core, bytes, options), "stale bytes, whole");
    assert.deepStrictEqual(
      outcome.rows.slice(-2),
      options.columns ? [[7n, 8n], [345n, 6n]] : [["7", "8"], ["345", "6"]],
    );
  }
});

Deno.test("the fast path checks the UTF-8 of a row whatever window its bad byte was found in", () => {
  // A byte >= 0x80 is noticed per 64-byte window (or per 16 bytes of a quoted field), and a window spans rows:
  // the bad byte at each place in turn, near a window's start, its end, and in rows read with the window of
  // a row before. Quoted fields start the window over after them.
  let bad = 0;
  for (const quoted of [false, true]) {
    const names = Array.from(
      { length: 40 },
      (_, i) => `${i},${quoted && i % 3 === 1 ? `"na,me ${i}"` : `name${i}`}`,
    );
    const rows = new TextEncoder().encode("id,name\n" + names.join("\n") + "\n");
    for (let at = 8; at < 300; at++) {
      if (rows[at] === 0x2c || rows[at] === 0x0a || rows[at] === 0x22) continue;
      const bytes = rows.slice();
      bytes[at] = 0xff;
      const outcome = bothPaths(bytes, {}, [], `0xff at ${at}${quoted ? ", quoted names" : ""}`);
      assert.equal(outcome.rejects.length, 1, `0xff at ${at}`);
      bad++;
    }
  }
  assert.ok(bad > 400, `${bad}`);
});

Deno.test("rows the fast path's lean variant gives up read alike when they are many, across the switch to the full one", () => {
  // The lean variant gives up rows with a byte >= 0x80, decimals of a shape its inline decoder does not take,
  // and timestamps with an offset; after enough of them in a stream, the full variant takes the rest.
  const random = seededRandom(17);
  const columns: Field[] = [
    { name: "id", type: "int64" },
    { name: "price", type: "decimal", precision: 10, scale: 2 },
    { name: "at", type: "timestamp" },
    { name: "name", type: "string" },
  ];
  const streams: [string, (i: number) => string][] = [
    ["non-ASCII names", (i) => `${i},1.25,2024-01-02T03:04:05Z,${i % 3 === 0 ? "Zoë Müller" : "Ada"}`],
    [
      "general-path decimals",
      (i) => `${i},${["-3.5", "+12", "7", "0.5", "12.34"][i % 5]},2024-01-02T03:04:05Z,Ada`,
    ],
    ["timestamps with an offset", (i) => `${i},1.25,2024-01-02T03:04${i % 2 ? "+02:00" : ":05Z"},Ada`],
  ];
  for (const [what, row] of streams) {
    const text = "id,price,at,name\n" + Array.from({ length: 3000 }, (_, i) => row(i)).join("\n") + "\n";
    const bytes = new TextEncoder().encode(text);
    const cuts = [bytes.length >> 3, bytes.length >> 2, ...randomCuts(random, bytes.length, 12)];
    const outcome = bothPaths(bytes, { columns }, cuts, what);
    assert.equal(outcome.rows.length, 3000, what);
    assert.equal(outcome.rejects.length, 0, what);
  }
});

Deno.test("null tokens as long as the usual values are nulls, whichever path reads them", () => {
  // Each decoder tries the usual text (1..8 digits, a short decimal, true/false, a 24-byte timestamp) before
  // the null check, and both paths decode with it: only the expected values tell a token read as a value.
  const columns: Field[] = [
    { name: "n", type: "int64" },
    { name: "d", type: "decimal", precision: 10, scale: 1 },
    { name: "b", type: "boolean" },
    { name: "t", type: "timestamp" },
  ];
  const stamp = "2024-01-02T03:04:05.678Z";
  const later = "2024-01-02T03:04:05.679000Z";
  const nullTokens = ["", "0", "12.5", "true", stamp];
  const rows = [
    `0,12.5,true,${stamp}`,
    `"0","12.5","true","${stamp}"`,
    ` 0 ,12.5 , true,${stamp} `,
    `1,12.4,false,2024-01-02T03:04:05.679Z`,
    `,,,`,
  ];
  const text = "n,d,b,t\n" + Array.from({ length: 100 }, (_, i) => rows[i % rows.length]).join("\n");
  const bytes = new TextEncoder().encode(text);
  const random = seededRandom(19);
  for (const cuts of [[], [11], randomCuts(random, bytes.length, 12)]) {
    const outcome = bothPaths(bytes, { columns, nullTokens }, cuts, `cuts ${cuts}`);
    assert.equal(outcome.rejects.length, 0);
    const want = Array.from(
      { length: 100 },
      (_, i) => i % rows.length === 3 ? [1n, "12.4", false, later] : [null, null, null, null],
    );
    assert.deepStrictEqual(outcome.rows, want, `cuts ${cuts}`);
  }
  // Without the tokens the same texts are values (the last one, at the input's end, included).
  const outcome = bothPaths(bytes, { columns, nullTokens: [""] }, [], "no tokens");
  assert.deepStrictEqual(outcome.rows.slice(0, 4), [
    [0n, "12.5", true, "2024-01-02T03:04:05.678000Z"],
    [0n, "12.5", true, "2024-01-02T03:04:05.678000Z"],
    [0n, "12.5", true, "2024-01-02T03:04:05.678000Z"],
    [1n, "12.4", false, later],
  ]);
});
