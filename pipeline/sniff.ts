/**
 * CSV dialect and type sniffing from the first bytes of a file: delimiter, quote, line ending, BOM, header
 * presence, each column's type (with the date/timestamp formats seen) and the null tokens in use.
 *
 * It runs on a 64 KiB sample in plain TypeScript: that takes a few milliseconds once per file, so a kernel
 * would not pay for itself.
 *
 * @example
 * ```ts
 * import { sniff } from "./sniff.ts";
 * const r = sniff(new TextEncoder().encode("id;price\n1;2.50\n2;3.10\n"));
 * console.assert(r.delimiter === ";" && r.header && r.columns[1].type.kind === "decimal");
 * ```
 *
 * @module
 */

/** How many bytes {@linkcode sniff} looks at by default. */
export const SNIFF_BYTES = 64 * 1024;

/** A sniffed column type; date and timestamp carry the strftime-style formats their values used. */
export type SniffedType =
  | { kind: "int64" }
  | { kind: "float64" }
  | { kind: "decimal"; precision: number; scale: number }
  | { kind: "boolean" }
  | { kind: "date"; formats: string[] }
  | { kind: "timestamp"; formats: string[]; offset: boolean }
  | { kind: "string" };

/** One sniffed column. */
export interface SniffedColumn {
  /** Header name, or `column_N` (1-based) when there is no header. */
  name: string;
  /** The narrowest type every non-null sampled value fits. */
  type: SniffedType;
  /** Whether a sampled value was empty or a null token. */
  nullable: boolean;
}

/** What {@linkcode sniff} found. */
export interface SniffResult {
  /** Field delimiter, one character. */
  delimiter: string;
  /** Quote character; `"` when the sample holds no quoted field. */
  quote: string;
  /** Record terminator seen first outside quotes. */
  lineEnding: "\n" | "\r\n" | "\r";
  /** Whether the input starts with a UTF-8 byte-order mark. */
  bom: boolean;
  /** Whether the first record is a header. */
  header: boolean;
  /** Columns in order. */
  columns: SniffedColumn[];
  /** Tokens that stood for a missing value in the sample (`""` for empty fields). */
  nullTokens: string[];
  /** Data records examined (header excluded). */
  rowsSampled: number;
}

/** Options for {@linkcode sniff}. */
export interface SniffOptions {
  /** Bytes to examine (default 64 KiB). */
  maxBytes?: number;
  /** Whether `bytes` is the whole input; when false the last, possibly cut, record is ignored. Default: when `bytes` is shorter than `maxBytes`. */
  complete?: boolean;
  /** The delimiter when the caller knows it (e.g. `weir parse --delimiter`): only the quote is guessed. */
  delimiter?: string;
  /** Whether the first record is a header, when the caller knows it; guessed otherwise. */
  header?: boolean;
}

/** Delimiters tried first, in order of preference when equally consistent. */
const PRIMARY_DELIMITERS = [",", ";", "\t", "|"];
/** Tried only when no primary delimiter splits records into more than one field. */
const SECONDARY_DELIMITERS = [":", "^", "~", " ", "#", "/"];
/** Values that stand for a missing value in files seen in the wild. */
const NULL_TOKENS = ["", "NA", "N/A", "n/a", "#N/A", "null", "NULL", "Null", "None", "nil", "-", "\\N", "?"];

/** Splits text into records with RFC 4180 quoting (doubled quote escapes, quoted newlines), leniently. */
export function splitRecords(
  text: string,
  delimiter: string,
  quote: string,
): { rows: string[][]; open: boolean } {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  const n = text.length;
  let inQuotes = false;
  let atFieldStart = true;
  while (i < n) {
    const c = text[i];
    if (inQuotes) {
      if (c === quote) {
        if (text[i + 1] === quote) {
          field += quote;
          i += 2;
          continue;
        }
        inQuotes = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === quote && atFieldStart) {
      inQuotes = true;
      atFieldStart = false;
      i++;
      continue;
    }
    if (c === delimiter) {
      row.push(field);
      field = "";
      atFieldStart = true;
      i++;
      continue;
    }
    if (c === "\n" || c === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      atFieldStart = true;
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      continue;
    }
    field += c;
    atFieldStart = false;
    i++;
  }
  if (field !== "" || row.length > 0 || inQuotes) {
    row.push(field);
    rows.push(row);
  }
  return { rows, open: inQuotes };
}

function isBlank(row: string[]): boolean {
  return row.length === 1 && row[0].trim() === "";
}

interface Candidate {
  delimiter: string;
  quote: string;
  rows: string[][];
  fields: number;
  consistency: number;
}

function evaluate(text: string, delimiter: string, quote: string, complete: boolean): Candidate {
  const split = splitRecords(text, delimiter, quote);
  let rows = split.rows;
  // A cut sample ends in a partial record; an open quote at the end means the cut fell inside a field.
  if (!complete || split.open) rows = rows.slice(0, -1);
  rows = rows.filter((r) => !isBlank(r));
  const counts = new Map<number, number>();
  for (const r of rows) counts.set(r.length, (counts.get(r.length) ?? 0) + 1);
  let fields = 0;
  let best = 0;
  for (const [k, v] of counts) {
    if (v > best || (v === best && k > fields)) {
      fields = k;
      best = v;
    }
  }
  // An unterminated quote in a complete sample means this quote character is probably wrong.
  const penalty = split.open && complete ? 0.5 : 1;
  return { delimiter, quote, rows, fields, consistency: rows.length ? (best / rows.length) * penalty : 0 };
}

function better(a: Candidate, b: Candidate | undefined): boolean {
  if (!b) return true;
  const aSplits = a.fields > 1;
  const bSplits = b.fields > 1;
  if (aSplits !== bSplits) return aSplits;
  if (Math.abs(a.consistency - b.consistency) > 1e-9) return a.consistency > b.consistency;
  return a.fields > b.fields;
}

function pickDialect(text: string, complete: boolean, delimiter?: string): Candidate {
  let best: Candidate | undefined;
  const groups = delimiter === undefined ? [PRIMARY_DELIMITERS, SECONDARY_DELIMITERS] : [[delimiter]];
  for (const group of groups) {
    for (const d of group) {
      // `"` is the default quote; `'` wins only when it makes the records strictly more regular.
      const dq = evaluate(text, d, '"', complete);
      const sq = text.includes("'") ? evaluate(text, d, "'", complete) : dq;
      const c = sq.consistency > dq.consistency + 1e-9 ? sq : dq;
      if (better(c, best)) best = c;
    }
    if (best && best.fields > 1 && best.consistency >= 0.5) break;
  }
  return best ?? { delimiter: ",", quote: '"', rows: [], fields: 1, consistency: 0 };
}

// ---- value classification --------------------------------------------------------------------------------

const INT_RE = /^[+-]?(0|[1-9][0-9]*)$/;
const DECIMAL_RE = /^[+-]?([0-9]+)\.([0-9]+)$/;
const FLOAT_RE =
  /^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|Inf|INF|infinity|Infinity|NaN|nan)$/;
const TRUE_FALSE = new Set(["true", "false", "TRUE", "FALSE", "True", "False"]);
const MONTHS = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const I64_MAX = 9223372036854775807n;

/** Date formats as (regex, format, month/day check). Day-first vs month-first is settled by values over 12. */
const DATE_FORMATS: { re: RegExp; format: string }[] = [
  { re: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, format: "%Y-%m-%d" },
  { re: /^\d{4}\/(0?[1-9]|1[0-2])\/(0?[1-9]|[12]\d|3[01])$/, format: "%Y/%m/%d" },
  { re: /^(0?[1-9]|1[0-2])\/(0?[1-9]|[12]\d|3[01])\/\d{4}$/, format: "%m/%d/%Y" },
  { re: /^(0?[1-9]|[12]\d|3[01])\/(0?[1-9]|1[0-2])\/\d{4}$/, format: "%d/%m/%Y" },
  { re: /^(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.\d{4}$/, format: "%d.%m.%Y" },
  { re: new RegExp(`^${MONTHS} (0?[1-9]|[12]\\d|3[01]),? \\d{4}$`), format: "%b %d %Y" },
  { re: new RegExp(`^(0?[1-9]|[12]\\d|3[01])[ -]${MONTHS}[ -]\\d{4}$`), format: "%d %b %Y" },
];

const TIME = "([01]\\d|2[0-3]):[0-5]\\d(:([0-5]\\d|60)(\\.\\d{1,9})?)?";
const OFFSET = "(Z|z|[+-]([01]\\d|2[0-3]):?[0-5]\\d|[+-]([01]\\d|2[0-3]))";
const YMD = "\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])";

/** Timestamp shapes; the format string is built from what the value actually contains. */
const TIMESTAMP_FORMATS: { re: RegExp; date: string; sep: string }[] = [
  { re: new RegExp(`^${YMD}T${TIME}${OFFSET}?$`), date: "%Y-%m-%d", sep: "T" },
  { re: new RegExp(`^${YMD} ${TIME}( ?${OFFSET}| UTC| GMT)?$`), date: "%Y-%m-%d", sep: " " },
  {
    re: new RegExp(`^\\d{4}/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\\d|3[01])[ T]${TIME}${OFFSET}?$`),
    date: "%Y/%m/%d",
    sep: " ",
  },
  {
    re: new RegExp(`^(0?[1-9]|1[0-2])/(0?[1-9]|[12]\\d|3[01])/\\d{4},? ${TIME}( ?[AaPp][Mm])?$`),
    date: "%m/%d/%Y",
    sep: " ",
  },
  {
    re: new RegExp(`^(0?[1-9]|[12]\\d|3[01])/(0?[1-9]|1[0-2])/\\d{4},? ${TIME}$`),
    date: "%d/%m/%Y",
    sep: " ",
  },
  {
    re: new RegExp(`^(0?[1-9]|[12]\\d|3[01])\\.(0?[1-9]|1[0-2])\\.\\d{4} ${TIME}$`),
    date: "%d.%m.%Y",
    sep: " ",
  },
];
/** RFC 2822 / HTTP dates: `Tue, 01 Nov 2016 12:00:00 GMT` or `+0000`. */
const RFC2822_RE = new RegExp(
  `^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (0?[1-9]|[12]\\d|3[01]) ${MONTHS} \\d{4} ${TIME} (GMT|UTC|[+-]\\d{4})$`,
);

function timeFormat(value: string): { time: string; offset: string } {
  const m = /(\d{2}):(\d{2})(:\d{2}(\.(\d+))?)?( ?[AaPp][Mm])?( ?(Z|z|UTC|GMT|[+-]\d{2}:?\d{2}|[+-]\d{2}))?$/
    .exec(value);
  if (!m) return { time: "%H:%M:%S", offset: "" };
  let time = m[3] ? (m[4] ? "%H:%M:%S.%f" : "%H:%M:%S") : "%H:%M";
  if (m[6]) time = time.replace("%H", "%I") + "%p";
  const off = m[8];
  let offset = "";
  if (off === "Z" || off === "z") offset = "Z";
  else if (off === "UTC" || off === "GMT") offset = ` ${off}`;
  else if (off) offset = (m[7].startsWith(" ") ? " " : "") + (off.includes(":") ? "%:z" : "%z");
  return { time, offset };
}

/** Bit flags: the types a single value fits. */
const T_BOOL = 1, T_INT = 2, T_DEC = 4, T_FLOAT = 8, T_DATE = 16, T_TS = 32;

interface ColumnStats {
  mask: number;
  nullable: boolean;
  intDigits: number;
  scales: Set<number>;
  dateFormats: Set<string>;
  tsFormats: Set<string>;
  offset: boolean;
  dayFirstOnly: boolean;
  monthFirstOnly: boolean;
}

function newStats(): ColumnStats {
  return {
    mask: T_BOOL | T_INT | T_DEC | T_FLOAT | T_DATE | T_TS,
    nullable: false,
    intDigits: 0,
    scales: new Set(),
    dateFormats: new Set(),
    tsFormats: new Set(),
    offset: false,
    dayFirstOnly: false,
    monthFirstOnly: false,
  };
}

/** Which type flags `v` fits; records formats and decimal shape in `s` as a side effect. */
function classify(v: string, s: ColumnStats): number {
  let m = 0;
  if (TRUE_FALSE.has(v)) m |= T_BOOL;
  if (INT_RE.test(v)) {
    const digits = v.replace(/^[+-]/, "");
    if (BigInt(v) <= I64_MAX && BigInt(v) >= -I64_MAX - 1n) m |= T_INT;
    m |= T_DEC | T_FLOAT;
    s.intDigits = Math.max(s.intDigits, digits.length);
    s.scales.add(0);
  } else {
    const d = DECIMAL_RE.exec(v);
    if (d) {
      m |= T_DEC | T_FLOAT;
      s.intDigits = Math.max(s.intDigits, d[1].replace(/^0+(?=\d)/, "").length);
      s.scales.add(d[2].length);
    } else if (FLOAT_RE.test(v)) m |= T_FLOAT;
  }
  // Leading zeros ("007", "02134") are identifiers such as zip codes: keep them as text.
  if (/^[+-]?0\d/.test(v)) m &= ~(T_INT | T_DEC | T_FLOAT);
  if (m === 0 || (m & T_FLOAT) === 0) {
    for (const f of DATE_FORMATS) {
      if (f.re.test(v)) {
        m |= T_DATE;
        s.dateFormats.add(f.format);
      }
    }
    for (const f of TIMESTAMP_FORMATS) {
      if (f.re.test(v)) {
        m |= T_TS;
        const t = timeFormat(v);
        if (t.offset) s.offset = true;
        s.tsFormats.add(`${f.date}${f.sep}${t.time}${t.offset}`);
      }
    }
    if (RFC2822_RE.test(v)) {
      m |= T_TS;
      s.offset = true;
      s.tsFormats.add(
        v.endsWith("GMT") || v.endsWith("UTC") ? "%a, %d %b %Y %H:%M:%S GMT" : "%a, %d %b %Y %H:%M:%S %z",
      );
    }
  }
  return m;
}

/** Drops the ambiguous member of day-first/month-first pairs once values show which one it is. */
function settleFormats(formats: Set<string>, values: string[]): string[] {
  const out = [...formats];
  const hasMd = out.some((f) => f.startsWith("%m/%d/%Y"));
  const hasDm = out.some((f) => f.startsWith("%d/%m/%Y"));
  if (!(hasMd && hasDm)) return out;
  // Both patterns matched some values: a first part over 12 proves day-first; a second part over 12, month-first.
  let dayFirst = 0, monthFirst = 0;
  for (const v of values) {
    const m = /^(\d{1,2})\/(\d{1,2})\//.exec(v);
    if (!m) continue;
    if (Number(m[1]) > 12) dayFirst++;
    if (Number(m[2]) > 12) monthFirst++;
  }
  // With no evidence either way, month-first is the more common convention in files seen in the wild.
  const drop = dayFirst > 0 && monthFirst === 0 ? "%m/%d/%Y" : "%d/%m/%Y";
  return out.filter((f) => !f.startsWith(drop));
}

function typeOf(s: ColumnStats, values: string[]): SniffedType {
  if (values.length === 0) return { kind: "string" };
  if (s.mask & T_BOOL) return { kind: "boolean" };
  if (s.mask & T_INT) return { kind: "int64" };
  if (s.mask & T_DEC) {
    // One shared scale (ignoring integers) reads as money-like fixed point; mixed scales are measurements.
    const scales = [...s.scales].filter((x) => x > 0);
    if (scales.length === 1 && s.intDigits + scales[0] <= 18) {
      return { kind: "decimal", precision: Math.max(1, s.intDigits) + scales[0], scale: scales[0] };
    }
    return { kind: "float64" };
  }
  if (s.mask & T_FLOAT) return { kind: "float64" };
  if (s.mask & T_DATE) return { kind: "date", formats: settleFormats(s.dateFormats, values) };
  if (s.mask & T_TS) {
    return { kind: "timestamp", formats: settleFormats(s.tsFormats, values), offset: s.offset };
  }
  return { kind: "string" };
}

function inferColumns(rows: string[][], width: number, nulls: Set<string>) {
  const stats: ColumnStats[] = [];
  const values: string[][] = [];
  const nullSeen = new Set<string>();
  for (let c = 0; c < width; c++) {
    stats.push(newStats());
    values.push([]);
  }
  for (const r of rows) {
    for (let c = 0; c < width; c++) {
      const raw = r[c];
      if (raw === undefined) continue;
      const v = raw.trim();
      if (nulls.has(v)) {
        stats[c].nullable = true;
        nullSeen.add(v);
        continue;
      }
      stats[c].mask &= classify(v, stats[c]);
      values[c].push(v);
    }
  }
  return { stats, values, nullSeen };
}

/**
 * Sniffs the dialect, header and column types of CSV-like `bytes` (only the first `maxBytes` are read).
 * Never throws on data: an unreadable sample yields one string column.
 */
export function sniff(bytes: Uint8Array, options: SniffOptions = {}): SniffResult {
  const maxBytes = options.maxBytes ?? SNIFF_BYTES;
  const complete = options.complete ?? bytes.length <= maxBytes;
  let sample = bytes.subarray(0, maxBytes);
  const bom = sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf;
  if (bom) sample = sample.subarray(3);
  // A cut can split a multi-byte character; the replacement char it yields sits in the dropped last record.
  const text = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(sample);
  const best = pickDialect(text, complete, options.delimiter);
  const width = best.fields;
  const rows = best.rows.filter((r) => r.length === width);

  // Types of the rows after the first decide whether the first is a header: a header value does not fit them.
  const nulls = new Set(NULL_TOKENS);
  const rest = inferColumns(rows.slice(1), width, nulls);
  const first = rows[0] ?? [];
  let header = first.length > 0;
  if (header) {
    const names = first.map((v) => v.trim());
    const typed = names.map((_, c) => typeOf(rest.stats[c], rest.values[c]).kind !== "string");
    const misfit = names.some((v, c) =>
      typed[c] && !nulls.has(v) && (classify(v, newStats()) & rest.stats[c].mask) === 0
    );
    const namesLookLikeNames = names.every((v) => v !== "") && new Set(names).size === names.length;
    // A typed column whose first value does not fit its type is the strongest sign of a header. Without typed
    // columns (all-text tables) a unique, non-empty first row is taken as a header, the common case.
    header = typed.some(Boolean) ? misfit : namesLookLikeNames;
  }
  if (options.header !== undefined) header = options.header && first.length > 0;
  const data = header ? rows.slice(1) : rows;
  const inferred = header ? rest : inferColumns(data, width, nulls);
  const columns: SniffedColumn[] = [];
  for (let c = 0; c < width; c++) {
    columns.push({
      name: header ? first[c].trim() : `column_${c + 1}`,
      type: typeOf(inferred.stats[c], inferred.values[c]),
      nullable: inferred.stats[c].nullable,
    });
  }
  return {
    delimiter: best.delimiter,
    quote: best.quote,
    lineEnding: lineEndingOf(text, best.quote),
    bom,
    header,
    columns,
    nullTokens: NULL_TOKENS.filter((t) => inferred.nullSeen.has(t)),
    rowsSampled: data.length,
  };
}

function lineEndingOf(text: string, quote: string): "\n" | "\r\n" | "\r" {
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === quote) inQuotes = !inQuotes;
    else if (!inQuotes && c === "\r") return text[i + 1] === "\n" ? "\r\n" : "\r";
    else if (!inQuotes && c === "\n") return "\n";
  }
  return "\n";
}
