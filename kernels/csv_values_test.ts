import assert from "node:assert/strict";
import { type CellValue, type Field, formatDecimal } from "../pipeline/batch.ts";
import { parseChunks } from "./csv_testing.ts";
import { parseJsonChunks } from "./ndjson_testing.ts";
import { kernelTestCore, seededRandom } from "./testing.ts";

const core = await kernelTestCore();
const encoder = new TextEncoder();

/** Each text's value as the one column of a CSV document, or null when the row is rejected or the value null. */
function csvValues(field: Field, texts: readonly string[]): (CellValue | null)[] {
  const csv = `${field.name}\n` + texts.map((t) => `${t}\n`).join("");
  const out = parseChunks(core, encoder.encode(csv), { columns: [field] });
  return alignByLine(texts.length, out.lines.map((line, i) => [line - 2, out.rows[i][0]]));
}

/**
 * Each text's timestamp value through the CSV reader (fast paths first), or null when it is rejected. The
 * texts have no blanks around them: the CSV reader trims those off typed values, the NDJSON reader does not.
 */
function csvTimestamps(texts: readonly string[]): (CellValue | null)[] {
  return csvValues({ name: "ts", type: "timestamp" }, texts);
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

Deno.test("CSV timestamps with any byte at any place after the date equal the general parser's", () => {
  // Every fraction length the fast path takes (0..6) and some it leaves (7..9), with and without a zone;
  // each byte after the date replaced by every byte value but the CSV specials, which would split the row.
  const texts: string[] = [];
  for (let digits = 0; digits <= 9; digits++) {
    const fraction = digits == 0 ? "" : "." + "987654321".slice(0, digits);
    for (const zone of ["", "Z"]) {
      const base = `2024-02-29T23:59:58${fraction}${zone}`;
      for (let at = 10; at < base.length; at++) {
        for (let byte = 1; byte < 128; byte++) {
          const c = String.fromCharCode(byte);
          if (`",\r\n \t`.includes(c)) continue;
          texts.push(base.slice(0, at) + c + base.slice(at + 1));
        }
      }
    }
  }
  const fast = csvTimestamps(texts);
  assert.deepEqual(fast, generalTimestamps(texts));
  assert.ok(fast.filter((v) => v !== null).length > 1000);
});

Deno.test("CSV 24-byte timestamps with any byte at any place, after a valid one, equal the general parser's", () => {
  // The usual shape, YYYY-MM-DDThh:mm:ss.fffZ, has its own decoder; each text follows the unchanged base, so a
  // changed date byte also meets the date the cache holds.
  const bases = ["2024-02-29T23:59:58.987Z", "1999-12-31T00:00:00.000Z", "2026-01-01T09:30:07.005Z"];
  const texts = bases.flatMap((base) => withEveryByteAtEveryPlace([base]).flatMap((t) => [base, t]));
  const fast = csvTimestamps(texts);
  assert.deepEqual(fast, generalTimestamps(texts));
  assert.ok(fast.filter((v) => v === null).length > 3000);
});

Deno.test("CSV int64s with any byte at any place equal their exact values", () => {
  // Every length the one-word path takes (1..8 digits) and the longer ones, near both bounds.
  const bases = ["-9223372036854775808", "9223372036854775807", "+000000000000000000000123"];
  for (let n = 1; n <= 20; n++) {
    bases.push("98765432109876543210".slice(0, n), "-" + "1234567890".repeat(2).slice(0, n));
  }
  const texts = withEveryByteAtEveryPlace(bases);
  texts.push("9223372036854775808", "-9223372036854775809", "99999999999999999999", "-", "+", "+-1", "--1");
  const want = texts.map((t) => {
    if (!/^[+-]?[0-9]+$/.test(t)) return null;
    const v = BigInt(t);
    return v >= -(1n << 63n) && v < 1n << 63n ? v : null;
  });
  assert.deepEqual(csvValues({ name: "i", type: "int64" }, texts), want);
  assert.ok(want.filter((v) => v !== null).length > 1000);
});

/** Texts near `spellings`: each as is, in random letter case, and with one byte changed, cut or added. */
function nearTexts(spellings: readonly string[], bytes: string, count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const pick = (text: string) => text[Math.floor(random() * text.length)];
  const texts = [...spellings];
  for (let k = 0; k < count; k++) {
    const base = spellings[Math.floor(random() * spellings.length)];
    const chars = [...base].map((c) => random() < 0.5 ? c.toUpperCase() : c);
    const at = Math.floor(random() * (chars.length + 1));
    const how = random();
    if (how < 0.3) chars[Math.min(at, chars.length - 1)] = pick(bytes);
    else if (how < 0.45) chars.splice(at, 1);
    else if (how < 0.6) chars.splice(at, 0, pick(bytes));
    const text = chars.join("");
    if (text !== "" && text === text.trim()) texts.push(text);
  }
  return texts;
}

Deno.test("CSV booleans decide every spelling, letter case and near miss like the documented grammar", () => {
  const spellings = ["true", "false", "yes", "no", "1", "0"];
  // Bytes one bit away from the letters and digits (0x10, 0x11 become digits if 0x20 is ORed in blindly).
  const bytes = "tTrRuUeEfFaAlLsSyYnNoO01\x10\x11\x14\x15\x05\x0e .x";
  const texts = nearTexts(spellings, bytes, 20000, 7);
  const want = texts.map((t) => /^(true|yes|1)$/i.test(t) ? true : /^(false|no|0)$/i.test(t) ? false : null);
  assert.deepEqual(csvValues({ name: "b", type: "boolean" }, texts), want);
  assert.ok(want.filter((v) => v === null).length > 1000);
});

/** The decimal(precision, scale) value of a CSV text (`[+-]?(d+(.d*)?|.d+)`), or null when it does not fit. */
function expectedDecimal(text: string, precision: number, scale: number): string | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
  const int = m[2].replace(/^0+/, "");
  const frac = m[3] ?? "";
  if (int.length > precision - scale || /[^0]/.test(frac.slice(scale))) return null;
  const scaled = BigInt(int + frac.slice(0, scale).padEnd(scale, "0"));
  return formatDecimal(m[1] === "-" ? -scaled : scaled, scale);
}

Deno.test("CSV decimals of every length around the usual shape equal their exact values", () => {
  const random = seededRandom(11);
  const texts: string[] = [];
  for (let k = 0; k < 20000; k++) {
    const digits = (n: number) =>
      Array.from({ length: n }, () => "0123456789"[Math.floor(random() * 10)]).join("");
    const sign = ["", "", "-", "+"][Math.floor(random() * 4)];
    let text = `${sign}${digits(Math.floor(random() * 12))}.${digits(Math.floor(random() * 5))}`;
    if (random() < 0.2) {
      const at = Math.floor(random() * text.length);
      text = text.slice(0, at) + ".x-9 "[Math.floor(random() * 4)] + text.slice(at + 1);
    }
    if (text !== "" && text === text.trim()) texts.push(text);
  }
  for (const [precision, scale] of [[12, 2], [18, 4], [5, 0], [10, 8], [7, 3], [6, 2]]) {
    const want = texts.map((t) => expectedDecimal(t, precision, scale));
    assert.deepEqual(
      csvValues({ name: "d", type: "decimal", precision, scale }, texts),
      want,
      `${precision},${scale}`,
    );
  }
});

Deno.test("CSV decimals with any byte at any place equal their exact values", () => {
  // The one-word shapes (up to 8 bytes, the point where the scale puts it) and longer ones, at the bounds
  // of decimal(12, 2).
  const bases = [
    "1.5",
    "0.05",
    "12.34",
    "62474.46",
    "9999999999.99",
    "-9999999999.99",
    "+.25",
    "123.",
    "00000000001.10",
  ];
  const texts = withEveryByteAtEveryPlace(bases);
  texts.push("10000000000.00", "-10000000000", "99999999999", "1.001", "1.000");
  const want = texts.map((t) => expectedDecimal(t, 12, 2));
  assert.deepEqual(csvValues({ name: "d", type: "decimal", precision: 12, scale: 2 }, texts), want);
  assert.ok(want.filter((v) => v !== null).length > 300);
});

Deno.test("csv_count_breaks counts every CR and LF at any length and density", () => {
  const countBreaks = core.fn("csv_count_breaks");
  const random = seededRandom(3);
  // Long runs of breaks fill the kernel's per-lane counters; every length tests the tails.
  for (const density of [0, 0.05, 0.5, 1]) {
    for (
      const length of [0, 1, 15, 16, 17, 63, 64, 65, 127, 4031, 4032, 4033, 4096, 16127, 16128, 16129, 70000]
    ) {
      core.reset();
      const bytes = Uint8Array.from(
        { length },
        () => random() < density ? (random() < 0.5 ? 10 : 13) : 97 + Math.floor(random() * 26),
      );
      const ptr = core.alloc(length + 64);
      core.view(ptr, length).set(bytes);
      const want = bytes.filter((b) => b === 10 || b === 13).length + 1;
      assert.equal(countBreaks(ptr, length) >>> 0, want, `${length} bytes, density ${density}`);
    }
  }
});

/**
 * `bases`, and each of them with one byte replaced by every byte value but the CSV specials and blanks (which
 * would be trimmed or split the row).
 */
function withEveryByteAtEveryPlace(bases: readonly string[]): string[] {
  const texts: string[] = [];
  for (const base of bases) {
    texts.push(base);
    for (let at = 0; at < base.length; at++) {
      for (let byte = 1; byte < 128; byte++) {
        const c = String.fromCharCode(byte);
        if (!`",\r\n \t`.includes(c)) texts.push(base.slice(0, at) + c + base.slice(at + 1));
      }
    }
  }
  return texts;
}
