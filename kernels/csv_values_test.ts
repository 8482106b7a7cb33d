import assert from "node:assert/strict";
import type { CellValue } from "../pipeline/batch.ts";
import { parseChunks } from "./csv_testing.ts";
import { parseJsonChunks } from "./ndjson_testing.ts";
import { kernelTestCore, seededRandom } from "./testing.ts";

const core = await kernelTestCore();
const encoder = new TextEncoder();

/**
 * Each text's timestamp value through the CSV reader (fast paths first), or null when it is rejected. The
 * texts have no blanks around them: the CSV reader trims those off typed values, the NDJSON reader does not.
 */
function csvTimestamps(texts: readonly string[]): (CellValue | null)[] {
  const csv = "ts\n" + texts.map((t) => `${t}\n`).join("");
  const out = parseChunks(core, encoder.encode(csv), { columns: [{ name: "ts", type: "timestamp" }] });
  return alignByLine(texts.length, out.lines.map((line, i) => [line - 2, out.rows[i][0]]));
}

/** The same through the NDJSON reader, whose decoder is the general ISO 8601 parser alone. */
function generalTimestamps(texts: readonly string[]): (CellValue | null)[] {
  const ndjson = texts.map((t) => `${JSON.stringify({ ts: t })}\n`).join("");
  const out = parseJsonChunks(core, encoder.encode(ndjson), {
    columns: [{ name: "ts", type: "timestamp" }],
  });
  return alignByLine(texts.length, out.lines.map((line, i) => [line - 1, out.rows[i][0]]));
}

function alignByLine(n: number, rows: [number, CellValue][]): (CellValue | null)[] {
  const values: (CellValue | null)[] = new Array(n).fill(null);
  for (const [at, value] of rows) values[at] = value;
  return values;
}

/** Timestamps on both sides of the fast path's shape, each either decoded or rejected by both parsers. */
function boundaryTexts(): string[] {
  const dates = [
    "2026-01-01",
    "2024-02-29",
    "2023-02-29",
    "1969-12-31",
    "0001-01-01",
    "9999-12-31",
    "2024-13-01",
  ];
  const times = [
    "00:00:00",
    "23:59:59",
    "24:00:00",
    "23:60:00",
    "23:59:60",
    "12:34:56",
    "1:23:45",
    "12:3a:45",
    "12-34-56",
    "12:34",
    "12:34:5",
    "/0:00:00",
    ":0:00:00",
  ];
  const fractions = [
    "",
    ".",
    ".0",
    ".5",
    ".12",
    ".005",
    ".1234",
    ".12345",
    ".123456",
    ".1234567",
    ".12345678",
  ];
  fractions.push(".123456789", ".1234567891", ".12a", ".12345678a", ".999999999");
  const zones = ["", "Z", "z", "+01:00", "-0530", "+01", "ZZ", "Zz", " Z"];
  const texts: string[] = [];
  for (const date of dates) {
    for (const sep of ["T", "t", " ", "_"]) {
      for (const time of times) {
        for (const fraction of fractions) {
          for (const zone of zones) texts.push(`${date}${sep}${time}${fraction}${zone}`);
        }
      }
    }
  }
  return texts;
}

Deno.test("CSV timestamps of every shape around the fast path equal the general parser's", () => {
  const texts = boundaryTexts();
  const fast = csvTimestamps(texts);
  const general = generalTimestamps(texts);
  for (let i = 0; i < texts.length; i++) assert.deepEqual(fast[i], general[i], texts[i]);
  // Both kinds occur: the comparison is not vacuous.
  assert.ok(fast.filter((v) => v === null).length > 1000);
  assert.ok(fast.filter((v) => v !== null).length > 1000);
});

Deno.test("CSV timestamps with random digits and separators equal the general parser's", () => {
  const random = seededRandom(20261129);
  const alphabet = "0123456789:.TtZz+- 9";
  const texts: string[] = [];
  for (let k = 0; k < 20000; k++) {
    const chars = [..."2024-02-29T23:59:59.123456789Z"].slice(0, 19 + Math.floor(random() * 12));
    for (let m = Math.floor(random() * 3); m > 0; m--) {
      const at = 10 + Math.floor(random() * (chars.length - 10));
      chars[at] = alphabet[Math.floor(random() * alphabet.length)];
    }
    const text = chars.join("");
    if (text === text.trim()) texts.push(text);
  }
  assert.deepEqual(csvTimestamps(texts), generalTimestamps(texts));
});
