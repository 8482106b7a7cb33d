/**
 * Test support for the JSON kernel: runs a parser over bytes cut into given chunks, a seeded generator of
 * NDJSON documents with every feature the reader handles, and an oracle built on `JSON.parse` that says
 * what the reader must produce. Only tests import it.
 *
 * @module
 */

import { type CellValue, formatDate, formatDecimal, formatTimestamp } from "../pipeline/batch.ts";
import type { KernelCore } from "./core.ts";
import { createJsonParser, type JsonColumn, type JsonParserOptions, type JsonReject } from "./ndjson.ts";
import { type ChunkedRows, feedChunks, seededRandom } from "./testing.ts";

/** Everything one parse produced, batches concatenated. */
export type JsonOutcome = ChunkedRows<JsonReject>;

/** Parses `bytes` pushed as chunks of the given lengths (the remainder is one last chunk), then finishes. */
export function parseJsonChunks(
  core: KernelCore,
  bytes: Uint8Array,
  options: JsonParserOptions,
  cuts: readonly number[] = [],
): JsonOutcome {
  const parser = createJsonParser(core, options);
  const out: JsonOutcome = { rows: [], lines: [], rejects: [] };
  feedChunks(parser, bytes, { cuts, into: out });
  return out;
}

/** Random chunk lengths covering about `length` bytes, from single bytes to large pieces. */
export function randomCuts(rnd: () => number, length: number): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (at < length) {
    const n = rnd() < 0.3 ? 1 + Math.floor(rnd() * 3) : 1 + Math.floor(rnd() * 200);
    cuts.push(n);
    at += n;
  }
  return cuts;
}

/** The schema of the generated corpus: every column type, some required. */
export const CORPUS_COLUMNS: readonly JsonColumn[] = [
  { name: "id", type: "int64", required: true },
  { name: "name", type: "string" },
  { name: "price", type: "float64" },
  { name: "amount", type: "decimal", precision: 10, scale: 2 },
  { name: "ok", type: "boolean" },
  { name: "day", type: "date" },
  { name: "at", type: "timestamp", required: true },
  { name: "tags", type: "string" },
];

/** One generated line and whether its brackets and quotes balance (so it cannot swallow its neighbours). */
export interface CorpusLine {
  /** The line's bytes, without its terminator. */
  bytes: Uint8Array;
  /** Brackets and string quotes balance, so the line is safe to embed in a JSON array. */
  balanced: boolean;
}

const encoder = new TextEncoder();

const INTS = [
  "0",
  "7",
  "-42",
  "9223372036854775807",
  "-9223372036854775808",
  "123456789012",
  '"5"',
  '"-9223372036854775808"',
  '"9007199254740993"',
  '"\\u0035"',
];
const BAD_INTS = [
  "9223372036854775808",
  "-9223372036854775809",
  "1.0",
  "1e3",
  "true",
  "[1]",
  '"9223372036854775808"',
  '"05"',
  '" 5"',
  '"+5"',
  '""',
  '"5.0"',
  '"0x10"',
];
const FLOATS = [
  "0",
  "-0",
  "0.1",
  "1e-320",
  "1.7976931348623157e308",
  "2.2250738585072014E-308",
  "123456789012345678901234567890",
  "3.141592653589793238462643383279",
  "-7.5e-3",
  "1e400",
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
];
const BAD_FLOATS = ['"1.5"', "false", "{}", '"nan"', '"inf"', '"-NaN"', '"+Infinity"', '"Infinity "'];
const DECIMALS = [
  "12.34",
  "-0.5",
  "99999999.99",
  "1.230",
  "0",
  "-0.00",
  "7",
  '"3.10"',
  '"-0.50"',
  '"99999999.99"',
  '"\\u0031.5"',
  '"0"',
];
const BAD_DECIMALS = [
  "100000000.00",
  "1.234",
  "1e2",
  '"1e2"',
  '"01.5"',
  '"1.234"',
  '"abc"',
  '"1."',
  '".5"',
  '"+1.5"',
  '" 1.5"',
  '""',
  '"100000000"',
];
const DATES = ['"2024-02-29"', '"1970-01-01"', '"1999-12-31"', '"2100-02-28"'];
const BAD_DATES = ['"2023-02-29"', '"2020-13-01"', '"2020-1-01"', "20200101", '"2020-01-01T00:00:00Z"'];
const TIMESTAMPS = [
  '"2026-01-01T10:20:30Z"',
  '"2026-01-01T10:20:30.5Z"',
  '"2026-01-01T10:20:30.123456789+05:30"',
  '"2026-01-01 10:20"',
  '"2026-01-01t10:20:30-0800"',
  '"2026-01-01T10:20:30+01"',
  '"2026-01-01"',
  '"1969-12-31T23:59:59.999999Z"',
  '"2026\\u002d01-01T00:00:00Z"',
];
const BAD_TIMESTAMPS = [
  '"2026-01-01T25:00:00Z"',
  '"not a date"',
  '"2026-01-01T10:20:30.Z"',
  "1700000000",
  "null",
];
const STRING_CHARS = [
  "a",
  "b",
  "Z",
  " ",
  '"',
  "\\",
  "/",
  "\n",
  "\t",
  "\u0001",
  "é",
  "中",
  "😀",
  "\ud800",
  "\udc00",
  "\u007f",
];
const BAD_JSON = [
  '{"id":1,}',
  '{"id" 1}',
  "[1,2]",
  '"just a string"',
  "{} {}",
  "nul",
  '{"id":01}',
  '{"id":1,"name":"a\\x"}',
  "{'id':1}",
  '{"id":1,"name":"tab\there"}',
  '{"id":-}',
  '{"id":1.}',
  '{"id":1e}',
  '{"id":tru}',
  "{,}",
];
const UNBALANCED_JSON = ['{"id":1', '{"id":"abc}', '{"id":[1,2}', "{{{", '{"name":"\\"}'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

function randomString(rnd: () => number): string {
  let s = "";
  const n = Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) s += pick(rnd, STRING_CHARS);
  return s;
}

/** A JSON string literal for `s`, sometimes with characters written as `\uXXXX` escapes. */
function stringLiteral(rnd: () => number, s: string): string {
  if (rnd() < 0.7) return JSON.stringify(s);
  let out = '"';
  for (const ch of s.split("")) {
    const code = ch.charCodeAt(0);
    if (rnd() < 0.5 || ch === '"' || ch === "\\" || code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) {
      out += "\\u" + code.toString(16).padStart(4, "0");
    } else {
      out += ch;
    }
  }
  return out + '"';
}

function nested(rnd: () => number, depth = 0): unknown {
  const r = rnd();
  if (depth > 2 || r < 0.3) return pick(rnd, [1, -2.5, "x", "é\n", true, null]);
  if (r < 0.65) return Array.from({ length: Math.floor(rnd() * 3) }, () => nested(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 3); i > 0; i--) {
    o[pick(rnd, ["a", "b", "id", "k\u00e9"])] = nested(rnd, depth + 1);
  }
  return o;
}

function valueFor(rnd: () => number, column: JsonColumn): string {
  const bad = rnd() < 0.1;
  switch (column.type) {
    case "int64":
      return bad ? pick(rnd, BAD_INTS) : pick(rnd, INTS);
    case "float64":
      if (bad) return pick(rnd, BAD_FLOATS);
      return rnd() < 0.5 ? pick(rnd, FLOATS) : String((rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20));
    case "decimal":
      return bad ? pick(rnd, BAD_DECIMALS) : pick(rnd, DECIMALS);
    case "boolean":
      return bad ? pick(rnd, ['"true"', "1", "nul"]) : pick(rnd, ["true", "false"]);
    case "date":
      return bad ? pick(rnd, BAD_DATES) : pick(rnd, DATES);
    case "timestamp":
      return bad ? pick(rnd, BAD_TIMESTAMPS) : pick(rnd, TIMESTAMPS);
    case "string":
      if (bad) return pick(rnd, ["12", "true", "-1.5"]);
      return rnd() < 0.3 ? JSON.stringify(nested(rnd)) : stringLiteral(rnd, randomString(rnd));
  }
}

function keyLiteral(rnd: () => number, name: string): string {
  if (rnd() < 0.05) return `"\\u${name.charCodeAt(0).toString(16).padStart(4, "0")}${name.slice(1)}"`;
  return JSON.stringify(name);
}

function ws(rnd: () => number): string {
  return rnd() < 0.1 ? pick(rnd, [" ", "  ", "\t", " \r "]) : "";
}

/** One generated line: an object over `columns`, or one of the malformed forms. */
export function corpusLine(rnd: () => number, columns: readonly JsonColumn[]): CorpusLine {
  const r = rnd();
  if (r < 0.04) return { bytes: encoder.encode(pick(rnd, BAD_JSON)), balanced: true };
  if (r < 0.06) return { bytes: encoder.encode(pick(rnd, UNBALANCED_JSON)), balanced: false };
  const members: string[] = [];
  for (const c of columns) {
    const m = rnd();
    if (m < 0.08) continue;
    members.push(`${keyLiteral(rnd, c.name)}${ws(rnd)}:${ws(rnd)}${m < 0.13 ? "null" : valueFor(rnd, c)}`);
  }
  if (rnd() < 0.3) members.push(`"extra${Math.floor(rnd() * 3)}":${JSON.stringify(nested(rnd))}`);
  if (rnd() < 0.05 && columns.length > 0) {
    const c = pick(rnd, columns);
    members.push(`${JSON.stringify(c.name)}:${valueFor(rnd, c)}`);
  }
  if (rnd() < 0.2) members.sort(() => rnd() - 0.5);
  const text = `${ws(rnd)}{${ws(rnd)}${members.join(`${ws(rnd)},${ws(rnd)}`)}${ws(rnd)}}${ws(rnd)}`;
  let bytes = encoder.encode(text);
  if (rnd() < 0.03) {
    // Invalid UTF-8 inside the first string value (or anywhere when there is none).
    const at = text.indexOf(':"');
    const pos = at >= 0 ? encoder.encode(text.slice(0, at + 2)).length : Math.floor(rnd() * bytes.length);
    const bad = pick(rnd, [[0xff], [0xe4, 0xb8], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80]]);
    bytes = Uint8Array.from([...bytes.subarray(0, pos), ...bad, ...bytes.subarray(pos)]);
  }
  return { bytes, balanced: true };
}

/** A generated NDJSON document: lines (some blank), LF or CRLF, with or without a final terminator. */
export function corpusDocument(seed: number, columns: readonly JsonColumn[] = CORPUS_COLUMNS): Uint8Array {
  const rnd = seededRandom(seed);
  const parts: number[] = [];
  const crlf = rnd() < 0.3;
  const n = 1 + Math.floor(rnd() * 30);
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.05) parts.push(...encoder.encode(pick(rnd, ["", " ", "\t "])));
    else parts.push(...corpusLine(rnd, columns).bytes);
    if (i < n - 1 || rnd() < 0.7) parts.push(...(crlf ? [13, 10] : [10]));
  }
  return Uint8Array.from(parts);
}

const fatal = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

type Judged = { ok: true; value: CellValue } | { ok: false; rule: "type" };

function daysOf(y: number, m: number, d: number): number | undefined {
  const dt = new Date(0);
  dt.setUTCFullYear(y, m - 1, d);
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d) return undefined;
  return Math.round(dt.getTime() / 86_400_000);
}

const TIMESTAMP_RE =
  /^(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?([Zz]|[+-]\d\d(?::?\d\d)?)?)?$/;

function timestampOf(text: string): bigint | undefined {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return undefined;
  const days = daysOf(+m[1], +m[2], +m[3]);
  if (days === undefined) return undefined;
  const [hh, mm, ss] = [+(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)];
  if (hh > 23 || mm > 59 || ss > 59) return undefined;
  let offset = 0;
  const z = m[8];
  if (z && z !== "Z" && z !== "z") {
    const oh = +z.slice(1, 3);
    const om = z.length > 3 ? +z.slice(-2) : 0;
    if (oh > 23 || om > 59) return undefined;
    offset = (z[0] === "+" ? 1 : -1) * (oh * 3600 + om * 60);
  }
  const seconds = BigInt(days) * 86_400n + BigInt(hh * 3600 + mm * 60 + ss - offset);
  return seconds * 1_000_000n + BigInt((m[7] ?? "").padEnd(6, "0").slice(0, 6));
}

/** The text of a number as written, or of a string (decoded) that may hold one: int64 and decimal take both. */
function numberText(value: unknown, source: string | undefined): string | undefined {
  return typeof value === "number" ? source : typeof value === "string" ? value : undefined;
}

/** What the reader must make of one present, non-null value (`source` is its JSON text for primitives). */
function judge(column: JsonColumn, value: unknown, source: string | undefined): Judged {
  const bad: Judged = { ok: false, rule: "type" };
  switch (column.type) {
    case "string":
      if (typeof value === "string") return { ok: true, value: lenient.decode(encoder.encode(value)) };
      return typeof value === "object" ? { ok: true, value: JSON.stringify(value) } : bad;
    case "int64": {
      const text = numberText(value, source);
      if (text === undefined || !/^-?(?:0|[1-9]\d*)$/.test(text)) return bad;
      const v = BigInt(text);
      return v < INT64_MIN || v > INT64_MAX ? bad : { ok: true, value: v };
    }
    case "float64":
      if (typeof value === "number") return { ok: true, value };
      return value === "NaN" || value === "Infinity" || value === "-Infinity"
        ? { ok: true, value: Number(value) }
        : bad;
    case "decimal": {
      const text = numberText(value, source);
      const m = text === undefined ? null : /^(-?)(0|[1-9]\d*)(?:\.(\d+))?$/.exec(text);
      if (!m) return bad;
      const int = m[2].replace(/^0+/, "");
      const frac = m[3] ?? "";
      if (int.length > column.precision - column.scale) return bad;
      if (/[^0]/.test(frac.slice(column.scale))) return bad;
      const scaled = BigInt(int + frac.slice(0, column.scale).padEnd(column.scale, "0"));
      return { ok: true, value: formatDecimal(m[1] === "-" ? -scaled : scaled, column.scale) };
    }
    case "boolean":
      return typeof value === "boolean" ? { ok: true, value } : bad;
    case "date": {
      const m = typeof value === "string" ? /^(\d{4})-(\d\d)-(\d\d)$/.exec(value) : null;
      const days = m ? daysOf(+m[1], +m[2], +m[3]) : undefined;
      return days === undefined ? bad : { ok: true, value: formatDate(days) };
    }
    case "timestamp": {
      const micros = typeof value === "string" ? timestampOf(value) : undefined;
      return micros === undefined ? bad : { ok: true, value: formatTimestamp(micros) };
    }
  }
}

/** One record's expected outcome. */
export type Expected =
  | { kind: "row"; line: number; values: CellValue[] }
  | { kind: "reject"; reject: JsonReject };

/**
 * What the reader must make of one record's bytes (`value` is the record text a record-level reject
 * reports), by `JSON.parse` with source access for the numbers' text.
 */
export function expectRecord(
  bytes: Uint8Array,
  line: number,
  columns: readonly JsonColumn[],
): Expected {
  let text: string;
  let utf8 = true;
  try {
    text = fatal.decode(bytes);
  } catch {
    text = lenient.decode(bytes);
    utf8 = false;
  }
  const whole = (rule: "json" | "utf8"): Expected => ({
    kind: "reject",
    reject: { line, column: null, rule, value: text },
  });
  const sources = new Map<object, Map<string, string>>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      text,
      function (this: object, key: string, value: unknown, context?: { source?: string }) {
        if (context?.source !== undefined) {
          if (!sources.has(this)) sources.set(this, new Map());
          sources.get(this)!.set(key, context.source);
        }
        return value;
      },
    );
  } catch {
    return whole("json");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return whole("json");
  if (!utf8) return whole("utf8");
  const object = parsed as Record<string, unknown>;
  const values: CellValue[] = [];
  for (const c of columns) {
    const present = Object.hasOwn(object, c.name);
    const v = object[c.name];
    const source = sources.get(object)?.get(c.name);
    if (!present || v === null) {
      if (c.required) {
        return {
          kind: "reject",
          reject: { line, column: c.name, rule: "required", value: present ? "null" : "" },
        };
      }
      values.push(null);
      continue;
    }
    const j = judge(c, v, source);
    if (!j.ok) {
      return {
        kind: "reject",
        reject: { line, column: c.name, rule: "type", value: source ?? JSON.stringify(v) },
      };
    }
    values.push(j.value);
  }
  return { kind: "row", line, values };
}

/** The expected outcome of an NDJSON document: lines split at LF, CR before LF dropped, blank lines skipped. */
export function expectNdjson(bytes: Uint8Array, columns: readonly JsonColumn[]): JsonOutcome {
  const out: JsonOutcome = { rows: [], lines: [], rejects: [] };
  let start = 0;
  let line = 1;
  while (start <= bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    let e = end;
    if (e > start && bytes[e - 1] === 13) e--;
    const record = bytes.subarray(start, e);
    if (!record.every((b) => b === 0x20 || b === 0x09 || b === 0x0d)) {
      const x = expectRecord(record, line, columns);
      if (x.kind === "row") {
        out.rows.push(x.values);
        out.lines.push(x.line);
      } else {
        out.rejects.push(x.reject);
      }
    }
    if (end === bytes.length) break;
    start = end + 1;
    line++;
  }
  return out;
}
