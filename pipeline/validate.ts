/**
 * Schema validation of a columnar batch: the kernels check required, min/max, length, enum and uniqueness
 * column by column, then the patterns the kernel can run exactly (`compilePattern`: anchored sequences of
 * ASCII byte classes with bounded repeats); other patterns run in JS over the string column, only on rows
 * still valid. The result is the
 * batch of valid rows plus one reject per failed row `{line, column, rule, value}`, `line` being the row's
 * line in the original input.
 *
 * The input shape is the Arrow layout of pipeline/batch.ts, stated structurally here so this module does not
 * depend on how batches are built.
 *
 * @module
 */

import {
  compilePattern,
  type KernelColumn,
  type KernelRules,
  type KernelVerdict,
  RULE,
  ruleName,
  type ValidateKernels,
} from "../kernels/validate.ts";
import type { Field } from "./batch.ts";

/** One column in Arrow layout; `validity` is a bitmap, 1 = present, absent = all present. */
export type ColumnData =
  | { type: "int64" | "timestamp"; values: BigInt64Array; validity?: Uint8Array }
  | { type: "decimal"; scale: number; values: BigInt64Array; validity?: Uint8Array }
  | { type: "float64"; values: Float64Array; validity?: Uint8Array }
  | { type: "date"; values: Int32Array; validity?: Uint8Array }
  | { type: "boolean"; values: Uint8Array; validity?: Uint8Array }
  | { type: "string"; offsets: Int32Array; data: Uint8Array; validity?: Uint8Array };

/** A batch of rows in columns, with each row's line in the original input. */
export interface Columnar {
  /** Rows in the batch. */
  length: number;
  /** 1-based line of each row in the input. */
  lines: Int32Array;
  /** Columns by name, in schema order. */
  columns: Record<string, ColumnData>;
}

/** The rules of one column, as declared in weir.yaml. */
export interface ColumnRules {
  /** A null is rejected. */
  required?: boolean;
  /** Inclusive minimum: a number, or an ISO date/timestamp for date and timestamp columns. */
  min?: number | string;
  /** Inclusive maximum. */
  max?: number | string;
  /** Minimum length in characters. */
  minLength?: number;
  /** Maximum length in characters. */
  maxLength?: number;
  /** The only values allowed. */
  enum?: readonly string[];
  /** No two rows of the batch share a value (int64, timestamp and decimal columns). */
  unique?: boolean;
  /** A regular expression the whole string must match (JS syntax). */
  pattern?: string;
}

/** A rejected row. */
export interface Reject {
  /** 1-based line in the original input. */
  line: number;
  /** Column name. */
  column: string;
  /** The rule it broke. */
  rule: string;
  /** The value as text (`null` for a missing value). */
  value: string | null;
}

/** What {@linkcode validateBatch} returns. */
export interface Validated {
  /** The rows that passed every rule; the input itself when all did. */
  valid: Columnar;
  /** One entry per rejected row, in row order. */
  rejects: Reject[];
}

const dec = new TextDecoder();
// For ASCII bytes latin1 (windows-1252) decoding is the identity and much faster than UTF-8 decoding.
const latin1 = new TextDecoder("latin1");

function isAscii(data: Uint8Array, end: number): boolean {
  const words = end >> 2;
  const u32 = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, words) : undefined;
  let acc = 0;
  if (u32) { for (let i = 0; i < words; i++) acc |= u32[i]; }
  for (let i = u32 ? words << 2 : 0; i < end; i++) acc |= data[i];
  return (acc & 0x80808080) === 0;
}

/** Rules translated once per pipeline, so validating a batch does no parsing of the schema. */
export interface CompiledRules {
  /** Column names in order. */
  names: string[];
  /** Kernel rules per column. */
  kernel: KernelRules[];
  /**
   * Patterns per column left to JS (undefined when none, or when the kernel runs it: `kernel[i].pattern`).
   */
  patterns: (RegExp | undefined)[];
}

/** Columns by name with what rules need of their type: a batch's `columns`, or {@linkcode columnTypes} of a schema. */
export type ColumnTypes = Readonly<Record<string, { type: Field["type"]; scale?: number }>>;

/** The column types of declared fields, for {@linkcode compileRules} before any batch exists. */
export function columnTypes(fields: readonly Field[]): ColumnTypes {
  return Object.fromEntries(
    fields.map((f) => [f.name, f.type === "decimal" ? { type: f.type, scale: f.scale } : f]),
  );
}

/** Compiles `rules` for the columns of a batch of the pipeline's schema (names in column order). */
export function compileRules(rules: Record<string, ColumnRules>, columns: ColumnTypes): CompiledRules {
  const names = Object.keys(columns);
  const kernel: KernelRules[] = [];
  const patterns: (RegExp | undefined)[] = [];
  for (const name of names) {
    const r = rules[name] ?? {};
    const c = columns[name];
    // Anchored on both ends: a pattern constrains the whole value, as in JSON Schema's common use. The
    // RegExp is built even when the kernel runs the pattern, so an invalid one fails here as before.
    const body = r.pattern?.replace(/^\^|\$$/g, "");
    const re = body === undefined ? undefined : new RegExp(`^(?:${body})$`, "u");
    const table = body !== undefined && c.type === "string" ? compilePattern(body) : undefined;
    kernel.push({
      required: r.required,
      min: r.min === undefined ? undefined : bound(c, r.min, "min"),
      max: r.max === undefined ? undefined : bound(c, r.max, "max"),
      minLength: r.minLength,
      maxLength: r.maxLength,
      enum: r.enum,
      unique: r.unique,
      pattern: table,
    });
    patterns.push(table ? undefined : re);
  }
  return { names, kernel, patterns };
}

/** Converts a declared bound to the column's storage unit, rounding inward so the check stays exact. */
function bound(c: ColumnTypes[string], x: number | string, side: "min" | "max"): number | bigint {
  switch (c.type) {
    case "int64":
      return typeof x === "number" ? BigInt(side === "min" ? Math.ceil(x) : Math.floor(x)) : BigInt(x);
    case "decimal":
      return scaled(String(x), c.scale ?? 0, side);
    case "timestamp":
      return typeof x === "number" ? BigInt(Math.trunc(x)) : BigInt(Date.parse(x)) * 1000n;
    case "date":
      return typeof x === "number" ? x : Math.floor(Date.parse(x) / 86_400_000);
    default:
      return Number(x);
  }
}

/** `text` (a decimal literal) times 10^scale, rounded up for a minimum and down for a maximum. */
function scaled(text: string, scale: number, side: "min" | "max"): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text.trim());
  if (!m) throw new RangeError(`Invalid decimal bound: ${text}`);
  const exp = Number(m[4] ?? 0) + scale;
  let digits = (m[2] || "0") + (m[3] ?? "");
  let shift = exp - (m[3]?.length ?? 0);
  let cut = 0n;
  if (shift < 0) {
    const keep = digits.length + shift;
    cut = BigInt(digits.slice(Math.max(0, keep)) || "0");
    digits = keep > 0 ? digits.slice(0, keep) : "0";
    shift = 0;
  }
  let v = BigInt(digits) * 10n ** BigInt(shift);
  const neg = m[1] === "-";
  if (neg) v = -v;
  if (cut !== 0n) {
    // Dropped digits: move toward the allowed side.
    if (side === "min" && !neg) v += 1n;
    if (side === "max" && neg) v -= 1n;
  }
  return v;
}

/** A column as the validation kernels take it. */
export function kernelColumn(c: ColumnData): KernelColumn {
  switch (c.type) {
    case "int64":
    case "timestamp":
    case "decimal":
      return { kind: "i64", values: c.values, validity: c.validity };
    case "float64":
      return { kind: "f64", values: c.values, validity: c.validity };
    case "date":
      return { kind: "i32", values: c.values, validity: c.validity };
    case "boolean":
      return { kind: "bool", validity: c.validity };
    case "string":
      return { kind: "utf8", offsets: c.offsets, data: c.data, validity: c.validity };
  }
}

function isPresent(c: ColumnData, i: number): boolean {
  return !c.validity || ((c.validity[i >> 3] >> (i & 7)) & 1) === 1;
}

/** The value of row `i` as text, for a reject. */
export function valueText(c: ColumnData, i: number): string | null {
  if (!isPresent(c, i)) return null;
  switch (c.type) {
    case "int64":
    case "float64":
    case "date":
      return String(c.values[i]);
    case "timestamp":
      return new Date(Number(c.values[i] / 1000n)).toISOString();
    case "decimal": {
      const v = c.values[i];
      const neg = v < 0n;
      const s = (neg ? -v : v).toString().padStart(c.scale + 1, "0");
      const body = c.scale ? `${s.slice(0, -c.scale)}.${s.slice(-c.scale)}` : s;
      return neg ? `-${body}` : body;
    }
    case "boolean":
      return ((c.values[i >> 3] >> (i & 7)) & 1) === 1 ? "true" : "false";
    case "string":
      return dec.decode(c.data.subarray(c.offsets[i], c.offsets[i + 1]));
  }
}

/**
 * Validates `batch` against `rules` with the kernels of one instance.
 *
 * @example
 * ```ts ignore
 * const rules = compileRules({ id: { required: true, unique: true } }, batch.columns);
 * const { valid, rejects } = validateBatch(kernels, batch, rules);
 * ```
 */
export function validateBatch(kernels: ValidateKernels, batch: Columnar, rules: CompiledRules): Validated {
  const { rejects, keep } = findRejects(kernels, batch, rules);
  if (rejects.length === 0) return { valid: batch, rejects };
  return { valid: take(batch, Array.from(keep!)), rejects };
}

/** The rows of a batch that broke a rule, and the indexes of those that did not (ascending). */
export interface RejectedRows {
  rejects: Reject[];
  /** Absent when no row broke a rule, i.e. every row is kept. */
  keep?: Int32Array;
}

/**
 * Checks `batch` against `rules` without building the valid batch, for callers that select rows themselves
 * (the ingest path keeps typed `Batch`es).
 */
export function findRejects(kernels: ValidateKernels, batch: Columnar, rules: CompiledRules): RejectedRows {
  const cols = rules.names.map((name) => kernelColumn(batch.columns[name]));
  return judge(batch, rules, kernels.validateColumns(cols, rules.kernel, batch.length));
}

/**
 * The rejects of `batch` given the kernels' `verdict` on it (from {@linkcode findRejects}, or from a parser
 * that validated its output in place): adds the patterns left to JS and names each failure.
 */
export function judge(batch: Columnar, rules: CompiledRules, verdict: KernelVerdict): RejectedRows {
  const n = batch.length;
  const cols = rules.names.map((name) => batch.columns[name]);
  const failed = new Map<number, number>();
  for (let j = 0; j < verdict.rows.length; j++) failed.set(verdict.rows[j], verdict.codes[j]);

  rules.patterns.forEach((re, ci) => {
    const c = cols[ci];
    if (!re || c.type !== "string") return;
    // ASCII data (the usual case for patterned codes) is decoded once and sliced per row, which is far
    // cheaper than a decoder call per row.
    const whole = isAscii(c.data, c.offsets[n]) ? latin1.decode(c.data.subarray(0, c.offsets[n])) : undefined;
    for (let i = 0; i < n; i++) {
      // Patterns run in column order after every other rule: a kernel pattern of a later column yields.
      const prev = failed.get(i);
      if (prev !== undefined && !((prev & 0xff) === RULE.pattern && prev >>> 8 > ci)) continue;
      if (!isPresent(c, i)) continue;
      const s = whole !== undefined
        ? whole.slice(c.offsets[i], c.offsets[i + 1])
        : dec.decode(c.data.subarray(c.offsets[i], c.offsets[i + 1]));
      if (!re.test(s)) failed.set(i, (ci << 8) | RULE.pattern);
    }
  });

  const order = [...failed.keys()].sort((a, b) => a - b);
  const rejects: Reject[] = order.map((i) => {
    const code = failed.get(i)!;
    const ci = code >>> 8;
    return {
      line: batch.lines[i],
      column: rules.names[ci],
      rule: ruleName(code & 0xff) ?? `rule ${code & 0xff}`,
      value: valueText(cols[ci], i),
    };
  });
  // A clean batch (the usual case) keeps every row: no per-row pass to list them.
  if (order.length === 0) return { rejects };
  const keep = new Int32Array(n - order.length);
  for (let i = 0, j = 0, k = 0; i < n; i++) {
    if (j < order.length && order[j] === i) j++;
    else keep[k++] = i;
  }
  return { rejects, keep };
}

/** The rows `keep` (ascending indexes) of `batch`, as a new batch. */
export function take(batch: Columnar, keep: readonly number[]): Columnar {
  const m = keep.length;
  const columns: Record<string, ColumnData> = {};
  for (const [name, c] of Object.entries(batch.columns)) {
    let validity: Uint8Array | undefined;
    if (c.validity) {
      const src = c.validity;
      validity = new Uint8Array((m + 7) >> 3);
      keep.forEach((i, k) => {
        if ((src[i >> 3] >> (i & 7)) & 1) validity![k >> 3] |= 1 << (k & 7);
      });
    }
    switch (c.type) {
      case "string": {
        const offsets = new Int32Array(m + 1);
        let size = 0;
        for (const i of keep) size += c.offsets[i + 1] - c.offsets[i];
        const data = new Uint8Array(size);
        let at = 0;
        keep.forEach((i, k) => {
          data.set(c.data.subarray(c.offsets[i], c.offsets[i + 1]), at);
          at += c.offsets[i + 1] - c.offsets[i];
          offsets[k + 1] = at;
        });
        columns[name] = { type: "string", offsets, data, validity };
        break;
      }
      case "boolean": {
        const values = new Uint8Array((m + 7) >> 3);
        keep.forEach((i, k) => {
          if ((c.values[i >> 3] >> (i & 7)) & 1) values[k >> 3] |= 1 << (k & 7);
        });
        columns[name] = { type: "boolean", values, validity };
        break;
      }
      case "decimal":
        columns[name] = { type: "decimal", scale: c.scale, values: pick(c.values, keep), validity };
        break;
      case "int64":
      case "timestamp":
        columns[name] = { type: c.type, values: pick(c.values, keep), validity };
        break;
      case "float64":
        columns[name] = { type: "float64", values: pick(c.values, keep), validity };
        break;
      case "date":
        columns[name] = { type: "date", values: pick(c.values, keep), validity };
        break;
    }
  }
  return { length: m, lines: pick(batch.lines, keep), columns };
}

function pick<T extends BigInt64Array | Float64Array | Int32Array>(a: T, keep: readonly number[]): T {
  const out = new (a.constructor as { new (n: number): T })(keep.length);
  keep.forEach((i, k) => (out[k] = a[i]));
  return out;
}
