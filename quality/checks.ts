/**
 * Data-quality checks (`checks:` in weir.yaml) computed over the accepted rows of a run, the rows the sinks
 * received after the transforms, from mergeable partial statistics:
 *
 * - each chunk's output batch is summarised into a {@linkcode QualityPartial} (rows; per column nulls,
 *   min, max, sum; for `unique` the 64-bit keys of the values). A partial is plain JSON, so the runner keeps
 *   it in the chunk's checkpoint and a resumed run, which skips the chunks it committed, still sees them;
 * - a {@linkcode QualityAccumulator} merges the partials in chunk order and reports the checks.
 *
 * Sums, minima and maxima of int64 and decimal columns are exact (bigint); they become JS numbers only in the
 * report, where bounds (numbers in weir.yaml) are compared. Nulls are left out of every statistic except
 * `null_ratio`, and `unique` ignores nulls as SQL does. A statistic over no values (an empty run, a column of
 * nulls) is `null` and its check passes vacuously: pair it with `row_count` or `null_ratio` to catch that.
 *
 * `unique` keeps one 64-bit key per distinct value: for int64, decimal, timestamp, date, float64 and boolean
 * columns the key is the value's own 64 bits (exact); for strings it is a 64-bit hash of the UTF-8 bytes
 * (two MurmurHash3 seeds), so two different strings collide with probability about n²/2⁶⁵, e.g. 3·10⁻⁶ for
 * ten million distinct values. Costs: 8 bytes per accepted row in the chunk checkpoint (base64, so ~11) and
 * about 16 bytes of memory per distinct value in the run's hash set, up to `maxDistinct` (default 8 Mi values,
 * 128 MiB); past that the check stops tracking, reports `truncated: true` and fails, rather than pass on
 * values it did not see.
 *
 * @module
 */
import type { Batch, Column, Field } from "../pipeline/batch.ts";
import { isNull } from "../pipeline/batch.ts";
import type { CheckSpec } from "../pipeline/spec.ts";

/** Partial statistics of one column over one chunk; JSON-safe (exact numbers as decimal strings). */
export interface ColumnPartial {
  /** Null values. */
  nulls: number;
  /** Non-null values. */
  count: number;
  /** Least value: a scaled integer as text (int64, decimal) or a number (float64); absent with no values. */
  min?: string | number;
  /** Greatest value, like `min`. */
  max?: string | number;
  /** Sum of the values, like `min` (a float64 sum that overflows is the text `Infinity`). */
  sum?: string | number;
  /** `unique` only: the 64-bit keys of the non-null values, base64 of little-endian (lo, hi) uint32 pairs. */
  keys?: string;
}

/** Partial statistics of one chunk, for the checkpoint. */
export interface QualityPartial {
  /** Accepted rows in the chunk. */
  rows: number;
  /** Per checked column. */
  columns: Record<string, ColumnPartial>;
}

/** One evaluated check. */
export interface CheckResult {
  /** `expect(column)`, or `expect` for `row_count`: what `failed` lists. */
  name: string;
  expect: CheckSpec["expect"];
  column?: string;
  /** The observed statistic; for `unique`, the number of rows whose value repeats an earlier one. */
  value: number | null;
  passed: boolean;
  /** The declared inclusive lower bound. */
  min?: number;
  /** The declared inclusive upper bound. */
  max?: number;
  /** The check's `description` from weir.yaml. */
  description?: string;
  /** `unique` only: distinct non-null values seen. */
  distinct?: number;
  /** `unique` only: more distinct values than the accumulator tracks; the check fails. */
  truncated?: boolean;
  /** Why the check could not be evaluated (e.g. a transform dropped its column); it fails. */
  error?: string;
}

/** The quality of a run: what the ingest response and the run record carry. */
export interface QualityReport {
  /** Checks passed ÷ checks declared, rounded to 4 decimals; 1 when all passed. */
  score: number;
  /** Every check, in declaration order. */
  checks: CheckResult[];
  /** Names of the failed checks. */
  failed: string[];
}

/** Options for {@linkcode QualityAccumulator}. */
export interface QualityOptions {
  /** Distinct values a `unique` check tracks before it gives up (and fails). Default 8 Mi. */
  maxDistinct?: number;
}

type NumericKind = "bigint" | "float";

interface ColumnPlan {
  name: string;
  field?: Field;
  /** Which statistics the checks on it need. */
  stats: { minMax: boolean; sum: boolean; keys: boolean };
}

interface ColumnState {
  nulls: number;
  count: number;
  min?: bigint | number;
  max?: bigint | number;
  sum?: bigint | number;
  set?: HashSet64;
  duplicates: number;
  truncated: boolean;
}

const DEFAULT_MAX_DISTINCT = 8 * 1024 * 1024;

/**
 * Computes chunk partials and merges them, in chunk order, into a run's quality report.
 *
 * @example
 * ```ts
 * import { QualityAccumulator } from "./checks.ts";
 * import { batchFromRows } from "../pipeline/batch.ts";
 * const fields = [{ name: "id", type: "int64" }] as const;
 * const quality = new QualityAccumulator([{ expect: "unique", column: "id" }], fields);
 * quality.merge(quality.partial(batchFromRows(fields, [[1n], [2n]])));
 * quality.merge(quality.partial(batchFromRows(fields, [[2n]])));
 * if (quality.report()?.failed[0] !== "unique(id)") throw new Error("expected a duplicate");
 * ```
 */
export class QualityAccumulator {
  readonly #checks: readonly CheckSpec[];
  readonly #columns = new Map<string, ColumnPlan>();
  readonly #state = new Map<string, ColumnState>();
  readonly #maxDistinct: number;
  #rows = 0;

  /** `fields` are the columns of the batches that will be fed: the pipeline's output after its transforms. */
  constructor(checks: readonly CheckSpec[], fields: readonly Field[], options: QualityOptions = {}) {
    this.#checks = checks;
    this.#maxDistinct = options.maxDistinct ?? DEFAULT_MAX_DISTINCT;
    for (const check of checks) {
      if (check.expect === "row_count") continue;
      const field = fields.find((f) => f.name === check.column);
      const plan = this.#columns.get(check.column) ??
        { name: check.column, field, stats: { minMax: false, sum: false, keys: false } };
      const numeric = field !== undefined && numericKind(field) !== undefined;
      if ((check.expect === "min" || check.expect === "max") && numeric) plan.stats.minMax = true;
      if (check.expect === "mean" && numeric) plan.stats.sum = true;
      if (check.expect === "unique" && field !== undefined) plan.stats.keys = true;
      this.#columns.set(check.column, plan);
    }
    for (const plan of this.#columns.values()) {
      this.#state.set(plan.name, {
        nulls: 0,
        count: 0,
        duplicates: 0,
        truncated: false,
        ...(plan.stats.keys ? { set: new HashSet64() } : {}),
      });
    }
  }

  /** Whether the pipeline declares any check; without one, partials and reports are skipped. */
  get enabled(): boolean {
    return this.#checks.length > 0;
  }

  /** The partial statistics of one output batch (the accepted rows of one chunk). */
  partial(batch: Batch): QualityPartial {
    const columns: Record<string, ColumnPartial> = {};
    for (const plan of this.#columns.values()) {
      const column = batch.columns[plan.name] as Column | undefined;
      if (column === undefined || plan.field === undefined) continue;
      columns[plan.name] = columnPartial(column, batch.length, plan.stats);
    }
    return { rows: batch.length, columns };
  }

  /** A partial for a chunk whose rows did not reach the sinks: it counts nothing. */
  empty(): QualityPartial {
    return { rows: 0, columns: {} };
  }

  /** Adds one chunk's partial; call in chunk order. */
  merge(partial: QualityPartial): void {
    this.#rows += partial.rows;
    for (const [name, part] of Object.entries(partial.columns)) {
      const state = this.#state.get(name);
      const plan = this.#columns.get(name);
      if (state === undefined || plan?.field === undefined) continue;
      state.nulls += part.nulls;
      state.count += part.count;
      const kind = numericKind(plan.field);
      if (kind !== undefined) {
        if (part.min !== undefined) state.min = pick(state.min, decode(part.min, kind), -1);
        if (part.max !== undefined) state.max = pick(state.max, decode(part.max, kind), 1);
        if (part.sum !== undefined) state.sum = add(state.sum, decode(part.sum, kind));
      }
      if (part.keys !== undefined && state.set !== undefined && !state.truncated) {
        const keys = new Uint32Array(Uint8Array.fromBase64(part.keys).buffer);
        for (let i = 0; i < keys.length; i += 2) {
          if (state.set.size >= this.#maxDistinct) {
            state.truncated = true;
            break;
          }
          if (!state.set.add(keys[i], keys[i + 1])) state.duplicates++;
        }
      }
    }
  }

  /** The report over everything merged so far; `null` when the pipeline declares no checks. */
  report(): QualityReport | null {
    if (!this.enabled) return null;
    const checks = this.#checks.map((check) => this.#evaluate(check));
    const failed = checks.filter((c) => !c.passed).map((c) => c.name);
    const score = Math.round(((checks.length - failed.length) / checks.length) * 10_000) / 10_000;
    return { score, checks, failed };
  }

  #evaluate(check: CheckSpec): CheckResult {
    const base = {
      name: check.expect === "row_count" ? "row_count" : `${check.expect}(${check.column})`,
      expect: check.expect,
      ...(check.expect === "row_count" ? {} : { column: check.column }),
      ...(check.expect !== "unique" && check.min !== undefined ? { min: check.min } : {}),
      ...(check.expect !== "unique" && check.max !== undefined ? { max: check.max } : {}),
      ...(check.description !== undefined ? { description: check.description } : {}),
    };
    const within = (value: number | null) =>
      value === null ||
      (check.expect !== "unique" && (check.min === undefined || value >= check.min) &&
        (check.max === undefined || value <= check.max));
    if (check.expect === "row_count") return { ...base, value: this.#rows, passed: within(this.#rows) };
    const plan = this.#columns.get(check.column)!;
    const state = this.#state.get(check.column)!;
    if (plan.field === undefined) {
      return {
        ...base,
        value: null,
        passed: false,
        error: `Column ${check.column} is not in the pipeline's output (a transform drops or renames it)`,
      };
    }
    const kind = numericKind(plan.field);
    const scale = plan.field.type === "decimal" ? plan.field.scale : 0;
    switch (check.expect) {
      case "null_ratio": {
        const total = state.nulls + state.count;
        const value = total === 0 ? null : state.nulls / total;
        return { ...base, value, passed: within(value) };
      }
      case "unique":
        return {
          ...base,
          value: state.duplicates,
          passed: state.duplicates === 0 && !state.truncated,
          distinct: state.set?.size ?? 0,
          ...(state.truncated ? { truncated: true } : {}),
        };
      case "min":
      case "max":
      case "mean": {
        if (kind === undefined) {
          return {
            ...base,
            value: null,
            passed: false,
            error: `Column ${check.column} is not numeric in the pipeline's output: ${plan.field.type}`,
          };
        }
        const raw = check.expect === "mean" ? state.sum : state[check.expect];
        let value = raw === undefined ? null : toNumber(raw, scale);
        if (check.expect === "mean" && value !== null) value = state.count === 0 ? null : value / state.count;
        return { ...base, value, passed: within(value) };
      }
    }
  }
}

function numericKind(field: Field): NumericKind | undefined {
  if (field.type === "int64" || field.type === "decimal") return "bigint";
  if (field.type === "float64") return "float";
  return undefined;
}

function columnPartial(column: Column, length: number, stats: ColumnPlan["stats"]): ColumnPartial {
  const nulls = column.validity === undefined ? 0 : column.nullCount;
  const out: ColumnPartial = { nulls, count: length - nulls };
  if ((stats.minMax || stats.sum) && (column.type === "int64" || column.type === "decimal")) {
    let min: bigint | undefined;
    let max: bigint | undefined;
    let sum = 0n;
    const values = column.values;
    for (let i = 0; i < length; i++) {
      if (nulls > 0 && isNull(column, i)) continue;
      const v = values[i];
      if (min === undefined || v < min) min = v;
      if (max === undefined || v > max) max = v;
      sum += v;
    }
    if (stats.minMax && min !== undefined) Object.assign(out, { min: String(min), max: String(max) });
    if (stats.sum) out.sum = String(sum);
  } else if ((stats.minMax || stats.sum) && column.type === "float64") {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    const values = column.values;
    for (let i = 0; i < length; i++) {
      if (nulls > 0 && isNull(column, i)) continue;
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    if (stats.minMax && out.count > 0) Object.assign(out, { min: encodeFloat(min), max: encodeFloat(max) });
    if (stats.sum) out.sum = encodeFloat(sum);
  }
  if (stats.keys) out.keys = new Uint8Array(columnKeys(column, length).buffer).toBase64();
  return out;
}

/** Keys of the non-null values as (lo, hi) uint32 pairs: the value's bits, or a hash for strings. */
function columnKeys(column: Column, length: number): Uint32Array {
  const out = new Uint32Array(2 * (length - (column.validity === undefined ? 0 : column.nullCount)));
  let w = 0;
  const skip = (i: number) => column.validity !== undefined && isNull(column, i);
  switch (column.type) {
    case "int64":
    case "decimal":
    case "timestamp":
    case "float64": {
      // The same 8 bytes a Map would compare, so these keys are exact. (-0 and 0 differ, as do NaNs: rare.)
      const words = new Uint32Array(column.values.buffer, column.values.byteOffset, 2 * length);
      for (let i = 0; i < length; i++) {
        if (skip(i)) continue;
        out[w++] = words[2 * i];
        out[w++] = words[2 * i + 1];
      }
      break;
    }
    case "date":
      for (let i = 0; i < length; i++) {
        if (skip(i)) continue;
        out[w++] = column.values[i] >>> 0;
        out[w++] = 0;
      }
      break;
    case "boolean":
      for (let i = 0; i < length; i++) {
        if (skip(i)) continue;
        out[w++] = (column.values[i >> 3] >> (i & 7)) & 1;
        out[w++] = 0;
      }
      break;
    case "string":
      for (let i = 0; i < length; i++) {
        if (skip(i)) continue;
        const start = column.offsets[i];
        const end = column.offsets[i + 1];
        out[w++] = murmur3(column.data, start, end, 0);
        out[w++] = murmur3(column.data, start, end, 0x9747b28c);
      }
      break;
  }
  return out;
}

/** MurmurHash3 x86 32-bit of `data[start..end)`. */
function murmur3(data: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed >>> 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (end - i) {
    case 3:
      k ^= data[i + 2] << 16;
    // falls through
    case 2:
      k ^= data[i + 1] << 8;
    // falls through
    case 1:
      k ^= data[i];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// JSON has no Infinity or NaN; a float sum can overflow to one.
function encodeFloat(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}

function decode(value: string | number, kind: NumericKind): bigint | number {
  return kind === "bigint" ? BigInt(value) : Number(value);
}

function pick(
  current: bigint | number | undefined,
  next: bigint | number,
  sign: -1 | 1,
): bigint | number {
  if (current === undefined) return next;
  return (sign < 0 ? next < current : next > current) ? next : current;
}

function add(current: bigint | number | undefined, next: bigint | number): bigint | number {
  if (current === undefined) return next;
  return typeof current === "bigint" ? current + (next as bigint) : current + (next as number);
}

function toNumber(value: bigint | number, scale: number): number {
  if (typeof value === "number") return value;
  return scale === 0 ? Number(value) : Number(value) / 10 ** scale;
}

/**
 * A set of 64-bit keys (lo, hi uint32 pairs) in open addressing over typed arrays: 16 bytes per slot at a load
 * of at most one half, instead of a Set of bigints at several times that.
 */
class HashSet64 {
  #lo = new Uint32Array(1024);
  #hi = new Uint32Array(1024);
  #used = new Uint8Array(1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds the key; false when it was already present. */
  add(lo: number, hi: number): boolean {
    if (2 * (this.#size + 1) > this.#used.length) this.#grow();
    const mask = this.#used.length - 1;
    let slot = mix(lo, hi) & mask;
    while (this.#used[slot] === 1) {
      if (this.#lo[slot] === lo && this.#hi[slot] === hi) return false;
      slot = (slot + 1) & mask;
    }
    this.#used[slot] = 1;
    this.#lo[slot] = lo;
    this.#hi[slot] = hi;
    this.#size++;
    return true;
  }

  #grow(): void {
    const lo = this.#lo;
    const hi = this.#hi;
    const used = this.#used;
    const capacity = used.length * 2;
    this.#lo = new Uint32Array(capacity);
    this.#hi = new Uint32Array(capacity);
    this.#used = new Uint8Array(capacity);
    this.#size = 0;
    for (let i = 0; i < used.length; i++) if (used[i] === 1) this.add(lo[i], hi[i]);
  }
}

// Keys that are raw integers (ids 1, 2, 3…) must still spread over the slots.
function mix(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
