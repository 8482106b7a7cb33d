/**
 * A seeded corpus of CSV documents for differential tests: each document exercises a random mix of the
 * dialect (delimiter, quote, LF/CRLF/CR, byte-order mark, header or not, blank lines, trailing delimiter,
 * quoted delimiters/quotes/newlines, literal quotes in unquoted fields, UTF-8, ragged rows, invalid
 * UTF-8) and carries what a correct parser must produce, known from how it was generated.
 *
 * @module
 */

import { seededRandom } from "./testing.ts";

/** One generated document and its expected parse. */
export interface CorpusDocument {
  /** Seed that reproduces the document. */
  seed: number;
  /** The bytes. */
  bytes: Uint8Array;
  /** Dialect. */
  delimiter: string;
  quote: string;
  newline: "\n" | "\r\n" | "\r";
  header: boolean;
  /** Every non-blank row as a peer parser (which only splits) should return it; header included. */
  records: { fields: string[]; utf8: boolean }[];
  /** What weir returns in untyped mode: kept rows, their lines, and rejects as `line:rule`. */
  expected: { names: string[]; rows: string[][]; lines: number[]; rejects: string[] };
}

const encoder = new TextEncoder();
const WORDS = [
  "alpha",
  "beta",
  "x",
  "42",
  "-3.5",
  "NULL",
  "2024-01-02",
  "true",
  "a b",
  " pad ",
  "é",
  "中文",
  "😀",
  "ž",
];
const DELIMITERS = [",", ";", "\t", "|", ":", "^"];
const INVALID_UTF8 = [[0xff], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [
  0xf4,
  0x90,
  0x80,
  0x80,
]];

/** Generates document `seed` of the corpus. */
export function corpusDocument(seed: number): CorpusDocument {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const chance = (p: number) => random() < p;
  const delimiter = pick(DELIMITERS);
  const quote = chance(0.8) ? '"' : "'";
  const newline = pick(["\n", "\r\n", "\r"] as const);
  const header = chance(0.7);
  const bom = chance(0.2);
  const trailing = chance(0.15);
  const quoteAll = chance(0.2);
  const finalNewline = chance(0.7);
  const width = 1 + Math.floor(random() * 7);
  const count = Math.floor(random() * 40);
  const blankRate = chance(0.3) ? 0.1 : 0;
  const raggedRate = chance(0.3) ? 0.08 : 0;
  const invalidRate = chance(0.2) ? 0.06 : 0;

  const value = (): string => {
    switch (Math.floor(random() * 9)) {
      case 0:
        return "";
      case 1:
        return `a${delimiter}b`;
      case 2:
        return chance(0.5) ? `say ${quote}hi${quote}` : `${quote}lead`;
      case 3:
        return `line1${pick(["\n", "\r\n", "\r"])}line2`;
      case 4:
        return `${pick(WORDS)}${pick(WORDS)}`;
      default:
        return pick(WORDS);
    }
  };
  const render = (v: string): string => {
    const special = v.includes(delimiter) || v.includes("\n") || v.includes("\r") || v.startsWith(quote);
    const hasQuote = v.includes(quote);
    // A quote in the middle of an unquoted field is an ordinary byte; leave some of those unquoted.
    const literal = hasQuote && !special && chance(0.3);
    if (quoteAll || special || (hasQuote && !literal) || (v === "" && width === 1)) {
      return quote + v.replaceAll(quote, quote + quote) + quote;
    }
    return v;
  };
  const breaks = (s: string) => (s.match(/\r\n|\r|\n/g) ?? []).length;

  const parts: Uint8Array[] = [];
  const records: CorpusDocument["records"] = [];
  const expected: CorpusDocument["expected"] = { names: [], rows: [], lines: [], rejects: [] };
  let line = 1;
  if (bom) parts.push(new Uint8Array([0xef, 0xbb, 0xbf]));
  const blank = () => {
    while (chance(blankRate)) {
      parts.push(encoder.encode(newline));
      line++;
    }
  };
  const emit = (
    fields: string[],
    options: { trailing: boolean; invalid?: { field: number; bytes: number[] } },
  ) => {
    let text = "";
    const rendered = fields.map(render);
    for (let i = 0; i < rendered.length; i++) {
      if (i > 0) text += delimiter;
      if (options.invalid?.field === i) {
        // Invalid bytes go inside the field's text, before its last character (or alone).
        parts.push(encoder.encode(text + rendered[i].slice(0, -1)), new Uint8Array(options.invalid.bytes));
        text = rendered[i].slice(-1);
      } else {
        text += rendered[i];
      }
    }
    if (options.trailing) text += delimiter;
    parts.push(encoder.encode(text));
    const start = line;
    line += breaks(rendered.join(""));
    return start;
  };

  blank();
  const names = Array.from({ length: width }, (_, i) => (chance(0.2) ? `col ${delimiter}${i}` : `c${i}`));
  if (header) {
    emit(names, { trailing });
    records.push({ fields: trailing ? [...names, ""] : names, utf8: true });
    parts.push(encoder.encode(newline));
    line++;
    expected.names = names;
  } else {
    // Without a header the first row sets the width, a trailing delimiter's empty field included.
    const n = count === 0 ? 0 : width + (trailing ? 1 : 0);
    expected.names = Array.from({ length: n }, (_, i) => `column${i + 1}`);
  }
  for (let r = 0; r < count; r++) {
    blank();
    // Without a header the first row sets the width, so it is always well-formed.
    const first = !header && r === 0;
    const ragged = !first && chance(raggedRate);
    const invalid = !first && chance(invalidRate);
    let fields = Array.from({ length: width }, value);
    if (ragged) {
      // Without a header a trailing delimiter is a field of the first row, so one more is not enough.
      const extra = !header && trailing ? ["extra", "more"] : ["extra"];
      fields = width > 1 && chance(0.5) ? fields.slice(1) : [...fields, ...extra];
      // A lone empty field would render as a blank line, which is not a row at all.
      if (fields.length === 1 && fields[0] === "") fields[0] = "x";
    }
    const invalidBytes = invalid
      ? { field: Math.floor(random() * fields.length), bytes: pick(INVALID_UTF8) }
      : undefined;
    const rowTrailing = trailing && !ragged;
    const start = emit(fields, { trailing: rowTrailing, invalid: invalidBytes });
    records.push({ fields: rowTrailing ? [...fields, ""] : fields, utf8: !invalid });
    if (ragged) {
      expected.rejects.push(`${start}:ragged`);
    } else if (invalid) {
      expected.rejects.push(`${start}:utf8`);
    } else {
      expected.rows.push(!header && trailing ? [...fields, ""] : fields);
      expected.lines.push(start);
    }
    const last = r === count - 1;
    if (!last || finalNewline) {
      parts.push(encoder.encode(newline));
      line++;
    }
  }
  if (finalNewline) blank();
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { seed, bytes, delimiter, quote, newline, header, records, expected };
}
