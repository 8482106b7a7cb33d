/**
 * Host wrapper of the validation kernels (kernels/assembly/validate.ts): copies a batch's columns into the
 * arena once, runs one kernel call per (column, rule) in schema order and returns the rows that failed with
 * their codes. Pointers never leave this file.
 *
 * @module
 */

import type { KernelCore } from "./core.ts";

/** Rule numbers, mirrored from kernels/assembly/validate.ts (a test compares them with the module's). */
export const RULE = {
  required: 1,
  min: 2,
  max: 3,
  minLength: 4,
  maxLength: 5,
  enum: 6,
  unique: 7,
  /**
   * Checked after every other rule of every column: by `validate_pattern` for patterns
   * {@linkcode compilePattern} accepts, in JS over the string column for the others.
   */
  pattern: 8,
} as const;

/** A rule's name. */
export type RuleName = keyof typeof RULE;

/** The name of rule number `n`, for reporting. */
export function ruleName(n: number): RuleName | undefined {
  return (Object.keys(RULE) as RuleName[]).find((k) => RULE[k] === n);
}

/** A column as the kernels read it: Arrow layout, a validity bitmap where 1 = present (absent = all present). */
export type KernelColumn =
  | { kind: "i64"; values: BigInt64Array; validity?: Uint8Array }
  | { kind: "f64"; values: Float64Array; validity?: Uint8Array }
  | { kind: "i32"; values: Int32Array; validity?: Uint8Array }
  | { kind: "bool"; validity?: Uint8Array }
  | { kind: "utf8"; offsets: Int32Array; data: Uint8Array; validity?: Uint8Array };

/** The kernel checks for one column; bounds are in the column's storage units (scaled for decimals). */
export interface KernelRules {
  required?: boolean;
  /** Inclusive lower bound: bigint for i64 columns, number otherwise. */
  min?: number | bigint;
  /** Inclusive upper bound. */
  max?: number | bigint;
  /** Minimum length in characters (utf8 columns). */
  minLength?: number;
  /** Maximum length in characters (utf8 columns). */
  maxLength?: number;
  /** Allowed values (utf8 columns). */
  enum?: readonly string[];
  /** No value may repeat within the batch (i64 columns). */
  unique?: boolean;
  /**
   * A pattern table from {@linkcode compilePattern} (utf8 columns). Checked after the other rules of every
   * column, in column order, so a row still reports its first failed rule.
   */
  pattern?: Uint8Array;
}

/** What the kernels found: the failing rows (ascending) and each one's code `(column << 8) | rule`. */
export interface KernelVerdict {
  /** Row indexes that failed a rule, ascending. */
  rows: Uint32Array;
  /** Code per entry of `rows`. */
  codes: Uint32Array;
}

/**
 * A batch's columns where the kernels read them: pointers into the instance's arena (0 = absent), as
 * {@linkcode ValidateKernels.place} leaves them or as a parser in this directory wrote them.
 */
export interface PlacedColumn {
  kind: KernelColumn["kind"];
  values: number;
  /** Validity bitmap (1 = present); 0 when every row is present. */
  validity: number;
  /** Strings: i32 offsets of rows 0..n, relative to `data`. */
  offsets: number;
  /** Strings: the bytes, with 16 readable bytes after the last string. */
  data: number;
}

/** The validation kernels of one instance. */
export interface ValidateKernels {
  /**
   * Checks `columns[i]` against `rules[i]` for `n` rows. Rules run column by column, in the order
   * required, min/max, length, enum, unique, then the compiled patterns column by column; a row reports the
   * first rule it broke. The columns are copied into the arena first (which is reset).
   */
  validateColumns(columns: readonly KernelColumn[], rules: readonly KernelRules[], n: number): KernelVerdict;
  /**
   * Copies into the arena (which is reset) the buffers of `columns` that some rule reads, for
   * {@linkcode validatePlaced}; valid until the instance's next reset.
   */
  place(columns: readonly KernelColumn[], rules: readonly KernelRules[], n: number): PlacedColumn[];
  /**
   * Like {@linkcode validateColumns} for columns already in the arena: nothing is copied, and the arena
   * is left as it was (the kernels' scratch sits above what is there and is released).
   */
  validatePlaced(columns: readonly PlacedColumn[], rules: readonly KernelRules[], n: number): KernelVerdict;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const enc = new TextEncoder();

/** Wraps the validation exports of `core`. */
export function validateKernels(core: KernelCore): ValidateKernels {
  const required = core.fn("validate_required");
  const i64Range = core.fn("validate_i64_range") as unknown as (...a: (number | bigint)[]) => number;
  const f64Range = core.fn("validate_f64_range");
  const i32Range = core.fn("validate_i32_range");
  const length = core.fn("validate_length");
  const enumeration = core.fn("validate_enum");
  const enumHash = core.fn("validate_enum_hash") as unknown as (...a: (number | bigint)[]) => number;
  const enumLength = core.fn("validate_enum_length");
  const pattern = core.fn("validate_pattern");
  const uniqueScratch = core.fn("validate_unique_scratch_bytes");
  const collect = core.fn("validate_collect");
  const marksBytes = core.fn("validate_marks_bytes");
  const used = core.fn("arena_used");
  const release = core.fn("arena_release");

  const place: ValidateKernels["place"] = (columns, rules, n) => {
    core.reset();
    // Allocate everything before writing anything: an allocation may grow memory and detach views.
    const copies: [number, Uint8Array][] = [];
    const placed = columns.map((c, i) => placeColumn(core, c, rules[i], n, copies));
    for (const [ptr, bytes] of copies) core.view(ptr, bytes.byteLength).set(bytes);
    return placed;
  };

  const validatePlaced: ValidateKernels["validatePlaced"] = (columns, rules, n) => {
    const mark = used() >>> 0;
    try {
      return check(columns, rules, n);
    } finally {
      release(mark);
    }
  };

  function check(columns: readonly PlacedColumn[], rules: readonly KernelRules[], n: number): KernelVerdict {
    // The marks: a code per row, then a bitmap of the rows with one, the only part that needs zeroing.
    const markBytes = marksBytes(n) >>> 0;
    const codes = core.alloc(markBytes);
    const out = core.alloc(n * 4);
    const needScratch = rules.some((r, i) => r.unique && columns[i].kind === "i64");
    const scratch = needScratch ? core.alloc(uniqueScratch(n) >>> 0) : 0;
    const tables = rules.map((r) => ruleTables(core, r));
    core.view(codes + n * 4, markBytes - n * 4).fill(0);

    // Each kernel returns how many rows it marked: a clean batch (the usual case) needs no collecting pass.
    let marked = 0;
    for (let ci = 0; ci < columns.length; ci++) {
      const p = columns[ci];
      const r = rules[ci];
      const t = tables[ci];
      if (r.required) marked += required(p.validity, n, codes, (ci << 8) | RULE.required);
      const unique = r.unique === true && p.kind === "i64";
      if (r.min !== undefined || r.max !== undefined || unique) {
        if (p.kind === "i64") {
          const lo = r.min === undefined ? I64_MIN : BigInt(r.min);
          const hi = r.max === undefined ? I64_MAX : BigInt(r.max);
          // Uniqueness comes after the range in the same call, which reads the values once for both.
          marked += i64Range(p.values, p.validity, n, lo, hi, codes, ci, unique ? scratch : 0);
        } else if (p.kind === "f64") {
          marked += f64Range(
            p.values,
            p.validity,
            n,
            Number(r.min ?? -Infinity),
            Number(r.max ?? Infinity),
            codes,
            ci,
          );
        } else if (p.kind === "i32") {
          const lo = Math.max(-(2 ** 31), Math.ceil(Number(r.min ?? -(2 ** 31))));
          const hi = Math.min(2 ** 31 - 1, Math.floor(Number(r.max ?? 2 ** 31 - 1)));
          marked += i32Range(p.values, p.validity, n, lo, hi, codes, ci);
        }
      }
      if (p.kind === "utf8") {
        if (r.minLength !== undefined || r.maxLength !== undefined) {
          marked += length(
            p.offsets,
            p.data,
            p.validity,
            n,
            // u32 parameters: a bound past 2^32 - 1 would wrap; no string is that long anyway.
            Math.min(r.minLength ?? 0, 0xffffffff),
            Math.min(r.maxLength ?? 0xffffffff, 0xffffffff),
            codes,
            ci,
          );
        }
        if (t.enum?.byLength) {
          marked += enumLength(p.offsets, p.data, p.validity, n, t.enumTable, codes, ci);
        } else if (t.enum?.hash) {
          const { bits, mult } = t.enum.hash;
          marked += enumHash(
            p.offsets,
            p.data,
            p.validity,
            n,
            t.enumTable,
            bits,
            mult,
            t.enumData,
            codes,
            ci,
          );
        } else if (t.enum) {
          marked += enumeration(
            p.offsets,
            p.data,
            p.validity,
            n,
            t.enumTable,
            t.enum.count,
            t.enumData,
            codes,
            ci,
          );
        }
      }
    }
    for (let ci = 0; ci < columns.length; ci++) {
      const p = columns[ci];
      if (tables[ci].pattern && p.kind === "utf8") {
        marked += pattern(p.offsets, p.data, p.validity, n, tables[ci].pattern, codes, ci);
      }
    }
    if (marked === 0) return { rows: new Uint32Array(0), codes: new Uint32Array(0) };
    const k = collect(codes, n, out) >>> 0;
    const rows = new Uint32Array(k);
    rows.set(new Uint32Array(core.view(out, k * 4).buffer, out, k));
    const all = new Uint32Array(core.view(codes, n * 4).buffer, codes, n);
    const found = new Uint32Array(k);
    for (let j = 0; j < k; j++) found[j] = all[rows[j]];
    return { rows, codes: found };
  }

  return {
    validateColumns: (columns, rules, n) => validatePlaced(place(columns, rules, n), rules, n),
    place,
    validatePlaced,
  };
}

/** A rule's lookup tables (enum, compiled pattern) copied into the arena. */
interface RuleTables {
  enum?: EnumTables;
  enumTable: number;
  enumData: number;
  /** The compiled pattern table, 0 when none. */
  pattern: number;
}

function ruleTables(core: KernelCore, r: KernelRules): RuleTables {
  const t: RuleTables = { enumTable: 0, enumData: 0, pattern: 0 };
  if (r.enum) {
    t.enum = enumTables(r.enum);
    t.enumTable = core.write(t.enum.table);
    t.enumData = core.write(t.enum.blob);
  }
  if (r.pattern) t.pattern = core.write(r.pattern);
  return t;
}

/**
 * Allocates arena room for the buffers of `c` that a rule of `r` reads (a column without rules costs
 * nothing) and queues their copies.
 */
function placeColumn(
  core: KernelCore,
  c: KernelColumn,
  r: KernelRules,
  n: number,
  copies: [number, Uint8Array][],
): PlacedColumn {
  const put = (bytes: Uint8Array, pad = 0): number => {
    const ptr = core.alloc(bytes.byteLength + pad);
    copies.push([ptr, bytes]);
    return ptr;
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ranged = r.min !== undefined || r.max !== undefined || (r.unique === true && c.kind === "i64");
  const text = c.kind === "utf8" &&
    (r.minLength !== undefined || r.maxLength !== undefined || r.enum !== undefined ||
      r.pattern !== undefined);
  const p: PlacedColumn = {
    kind: c.kind,
    values: 0,
    validity: c.validity && (r.required || ranged || text) ? put(c.validity) : 0,
    offsets: 0,
    data: 0,
  };
  if ((c.kind === "i64" || c.kind === "f64" || c.kind === "i32") && ranged) {
    p.values = put(asBytes(c.values.subarray(0, n)));
  }
  if (c.kind === "utf8" && text) {
    p.offsets = put(asBytes(c.offsets.subarray(0, n + 1)));
    // The enum kernel reads 8 bytes past each string's start, the pattern kernel 16.
    p.data = put(c.data.subarray(0, c.offsets[n]), 16);
  }
  return p;
}

/**
 * An enum's tables for the kernels: a table by length when the values' lengths tell them apart, else a perfect
 * hash table when one exists, else the linear table.
 */
interface EnumTables {
  table: Uint8Array;
  blob: Uint8Array;
  count: number;
  /** `table` is `validate_enum_length`'s. */
  byLength?: true;
  hash?: { bits: number; mult: bigint };
}

// Enum lists are declared once per pipeline: their tables are built once per list.
const enumCache = new WeakMap<readonly string[], EnumTables>();

const M64 = (1n << 64n) - 1n;
/** Longest value `validate_enum_length` takes. */
const ENUM_LENGTH_MAX = 16;
/** Bytes of a slot of `validate_enum_length`'s table, mirrored (a test compares it with the module's). */
export const ENUM_LENGTH_SLOT_BYTES = 32;
const GOLDEN = 0x9e3779b97f4a7c15n;

function enumTables(list: readonly string[]): EnumTables {
  const cached = enumCache.get(list);
  if (cached) return cached;
  const values = [...new Set(list)].map((v) => enc.encode(v));
  const blob = new Uint8Array(values.reduce((s, v) => s + v.length, 0) + 8);
  const offs: number[] = [];
  const heads: bigint[] = [];
  let off = 0;
  for (const v of values) {
    blob.set(v, off);
    offs.push(off);
    const head = new Uint8Array(8);
    head.set(v.subarray(0, 8));
    heads.push(new DataView(head.buffer).getBigUint64(0, true));
    off += v.length;
  }
  const entry = (table: Uint8Array, slot: number, k: number) => {
    const dv = new DataView(table.buffer);
    dv.setUint32(slot * 16, values[k].length, true);
    dv.setUint32(slot * 16 + 4, offs[k], true);
    dv.setBigUint64(slot * 16 + 8, heads[k], true);
  };
  const byLength = values.every((v) => v.length <= ENUM_LENGTH_MAX) &&
    new Set(values.map((v) => v.length)).size === values.length;
  const hash = byLength
    ? undefined
    : perfectHash(values.map((v, k) => ((heads[k] ^ ((BigInt(v.length) * GOLDEN) & M64)) & M64)));
  let result: EnumTables;
  if (byLength) {
    // Slot k: a mask keeping k bytes, then the value of length k; no value: mask 0, a byte no row has there.
    const table = new Uint8Array(ENUM_LENGTH_SLOT_BYTES * (ENUM_LENGTH_MAX + 2));
    for (let k = 0; k <= ENUM_LENGTH_MAX + 1; k++) table[k * ENUM_LENGTH_SLOT_BYTES + 16] = 1;
    for (const v of values) {
      const at = v.length * ENUM_LENGTH_SLOT_BYTES;
      table.fill(0xff, at, at + v.length);
      table[at + 16] = 0;
      table.set(v, at + 16);
    }
    result = { table, blob, count: values.length, byLength: true };
  } else if (hash) {
    // 32-byte slots: length, offset, bytes 0-7, bytes 8-15 (see validate_enum_hash).
    const table = new Uint8Array(32 << hash.bits);
    const dv = new DataView(table.buffer);
    for (let s = 0; s < 1 << hash.bits; s++) dv.setUint32(s * 32, 0xffffffff, true);
    hash.slots.forEach((slot, k) => {
      const v = values[k];
      dv.setUint32(slot * 32, v.length, true);
      dv.setUint32(slot * 32 + 4, offs[k], true);
      table.set(v.subarray(0, 16), slot * 32 + 8);
    });
    result = { table, blob, count: values.length, hash: { bits: hash.bits, mult: hash.mult } };
  } else {
    const table = new Uint8Array(values.length * 16);
    values.forEach((_, k) => entry(table, k, k));
    result = { table, blob, count: values.length };
  }
  enumCache.set(list, result);
  return result;
}

/** Which kernel checks membership in `list`: by length, by perfect hash or the linear one (for tests). */
export function enumKernel(list: readonly string[]): "length" | "hash" | "linear" {
  const t = enumTables(list);
  return t.byLength ? "length" : t.hash ? "hash" : "linear";
}

/**
 * For at most 32 keys, a multiplier and table size (at most 4096 slots) that send every key to its own slot through
 * `(key * mult) >> (64 - bits)`, or undefined (equal keys: values longer than 8 bytes sharing their length
 * and first 8 bytes; those use the linear kernel).
 */
function perfectHash(keys: bigint[]): { bits: number; mult: bigint; slots: number[] } | undefined {
  // Bounded search (a few thousand BigInt products): larger lists keep the linear kernel.
  if (keys.length > 32 || new Set(keys).size !== keys.length) return undefined;
  let seed = 0x2545f4914f6cdd1dn;
  const next = () => {
    seed = (seed + GOLDEN) & M64;
    let z = seed;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return (z ^ (z >> 31n)) | 1n;
  };
  let bits = 1;
  while (1 << bits < keys.length * 2) bits++;
  for (; bits <= 12; bits++) {
    for (let attempt = 0; attempt < 16; attempt++) {
      const mult = next();
      const shift = BigInt(64 - bits);
      const slots = keys.map((k) => Number(((k * mult) & M64) >> shift));
      if (new Set(slots).size === slots.length) return { bits, mult, slots };
    }
  }
  return undefined;
}

/** A compiled pattern item: a 256-bit byte set repeated `min` to `max` times. */
interface PatternItem {
  set: Uint8Array;
  min: number;
  max: number;
}

const UNBOUNDED = 0xffffffff;
const MAX_PATTERN_ITEMS = 64;
// Mirrors of kernels/assembly/validate.ts (a test compares them with the module's).
/** Bytes of a compiled pattern's header. */
export const PATTERN_HEADER_BYTES = 32;
/** Bytes of one pattern item. */
export const PATTERN_ITEM_BYTES = 48;
/** Longest fixed-length pattern given a per-position table. */
export const PATTERN_MAX_FIXED = 64;
/** Most byte ranges per position for the SIMD path. */
export const PATTERN_MAX_RANGES = 4;

/**
 * Compiles a pattern for `validate_pattern`, or returns undefined when the kernel cannot run it exactly (the
 * caller then uses a RegExp). `pattern` has whole-string semantics, i.e. it means `^(?:pattern)$` with the
 * `u` flag; pass it without its anchors. Accepted: a sequence of ASCII literals, escaped syntax characters,
 * `\d`, `\w`, `\t`, `\n`, `\r` and non-negated classes of those and ranges, each optionally quantified by
 * `?`, `*`, `+`, `{n}`, `{n,}` or `{n,m}` (not lazy). Adjacent items over the same set are merged; a variable
 * item must not share a byte with any item that could take the byte after its run, so a greedy left-to-right
 * match is exact (no backtracking). Everything else (groups, alternation, `.`, `\s`, negated classes,
 * non-ASCII, flags) is left to the RegExp.
 */
export function compilePattern(pattern: string): Uint8Array | undefined {
  const items: PatternItem[] = [];
  let i = 0;
  const SYNTAX = "^$\\.*+?()[]{}|/-";
  const digits = () => range(0x30, 0x39);
  const word = () => {
    const s = range(0x30, 0x39);
    or(s, range(0x41, 0x5a));
    or(s, range(0x61, 0x7a));
    add(s, 0x5f);
    return s;
  };
  // An escape after the backslash at pattern[i]: a set for a class escape, a byte for a character.
  const escape = (): Uint8Array | number | undefined => {
    const ch = pattern[i + 1];
    if (ch === undefined) return undefined;
    i += 2;
    if (ch === "d") return digits();
    if (ch === "w") return word();
    if (ch === "t") return 0x09;
    if (ch === "n") return 0x0a;
    if (ch === "r") return 0x0d;
    if (SYNTAX.includes(ch)) return ch.charCodeAt(0);
    return undefined;
  };
  const parseClass = (): Uint8Array | undefined => {
    i++; // [
    if (pattern[i] === "^") return undefined;
    const set = new Uint8Array(32);
    while (i < pattern.length && pattern[i] !== "]") {
      let lo: number;
      if (pattern[i] === "\\") {
        const e = escape();
        if (e === undefined) return undefined;
        if (typeof e !== "number") {
          or(set, e);
          if (pattern[i] === "-" && pattern[i + 1] !== "]") return undefined;
          continue;
        }
        lo = e;
      } else {
        if (pattern[i] === "[") return undefined;
        lo = pattern.charCodeAt(i++);
      }
      let hi = lo;
      if (pattern[i] === "-" && i + 1 < pattern.length && pattern[i + 1] !== "]") {
        i++;
        if (pattern[i] === "\\") {
          const e = escape();
          if (typeof e !== "number") return undefined;
          hi = e;
        } else {
          hi = pattern.charCodeAt(i++);
        }
      }
      if (lo > 0x7f || hi > 0x7f || hi < lo) return undefined;
      or(set, range(lo, hi));
    }
    if (pattern[i] !== "]") return undefined;
    i++;
    return set;
  };
  while (i < pattern.length) {
    const ch = pattern[i];
    let set: Uint8Array | undefined;
    if (ch === "[") set = parseClass();
    else if (ch === "\\") {
      const e = escape();
      set = typeof e === "number" ? range(e, e) : e;
    } else if ("^$.*+?()]{}|".includes(ch) || pattern.charCodeAt(i) > 0x7f) return undefined;
    else {
      set = range(pattern.charCodeAt(i), pattern.charCodeAt(i));
      i++;
    }
    if (!set) return undefined;
    let min = 1;
    let max = 1;
    const q = pattern[i];
    if (q === "?") [min, max, i] = [0, 1, i + 1];
    else if (q === "*") [min, max, i] = [0, UNBOUNDED, i + 1];
    else if (q === "+") [min, max, i] = [1, UNBOUNDED, i + 1];
    else if (q === "{") {
      const m = /^\{(\d{1,6})(,(\d{0,6}))?\}/.exec(pattern.slice(i));
      if (!m) return undefined;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? UNBOUNDED : Number(m[3]);
      if (max < min) return undefined;
      i += m[0].length;
    }
    if (pattern[i] === "?" && q !== undefined && "?*+{".includes(q)) return undefined; // lazy
    if (max === 0) continue;
    const last = items[items.length - 1];
    if (last && equalSets(last.set, set)) {
      last.min = Math.min(UNBOUNDED - 1, last.min + min);
      last.max = last.max === UNBOUNDED || max === UNBOUNDED
        ? UNBOUNDED
        : Math.min(UNBOUNDED, last.max + max);
    } else {
      items.push({ set, min, max });
    }
    if (items.length > MAX_PATTERN_ITEMS) return undefined;
  }
  // Greedy is exact only if no later item that could take the byte after a variable run shares its bytes.
  for (let a = 0; a < items.length; a++) {
    if (items[a].min === items[a].max) continue;
    for (let b = a + 1; b < items.length; b++) {
      if (intersects(items[a].set, items[b].set)) return undefined;
      if (items[b].min > 0) break;
    }
  }
  let minLen = 0;
  let maxLen = 0;
  for (const it of items) {
    minLen = Math.min(UNBOUNDED, minLen + it.min);
    maxLen = it.max === UNBOUNDED ? UNBOUNDED : Math.min(UNBOUNDED, maxLen + it.max);
  }
  // A fixed-length pattern also gets one set per position (the kernel's fast path), and when it is at most
  // 16 bytes of few ranges each, range vectors for the SIMD path.
  const fixed = minLen === maxLen && minLen <= PATTERN_MAX_FIXED;
  const positions: Uint8Array[] = [];
  for (const it of items) for (let r = 0; fixed && r < it.min; r++) positions.push(it.set);
  const perPosition = positions.map(toRanges);
  const rangeCount = fixed && minLen <= 16 && perPosition.every((r) => r.length <= PATTERN_MAX_RANGES)
    ? Math.max(1, ...perPosition.map((r) => r.length))
    : 0;
  const H = PATTERN_HEADER_BYTES;
  const I = PATTERN_ITEM_BYTES;
  const setsAt = H + I * items.length;
  const rangesAt = (setsAt + 32 * positions.length + 15) & ~15;
  const table = new Uint8Array(rangeCount ? rangesAt + 32 * rangeCount : setsAt + 32 * positions.length);
  const dv = new DataView(table.buffer);
  items.forEach((it, k) => {
    table.set(it.set, H + I * k);
    dv.setUint32(H + I * k + 32, it.min, true);
    dv.setUint32(H + I * k + 36, it.max, true);
  });
  positions.forEach((set, k) => table.set(set, setsAt + 32 * k));
  for (let r = 0; r < rangeCount; r++) {
    for (let lane = 0; lane < 16; lane++) {
      const range = minLen === 0 ? (r === 0 ? [0, 255] : [1, 0]) : perPosition[lane % minLen][r] ?? [1, 0];
      table[rangesAt + 32 * r + lane] = range[0];
      table[rangesAt + 32 * r + 16 + lane] = range[1];
    }
  }
  dv.setUint32(0, items.length, true);
  dv.setUint32(4, minLen, true);
  dv.setUint32(8, maxLen, true);
  dv.setUint32(12, fixed ? 1 : 0, true);
  dv.setUint32(16, rangeCount, true);
  dv.setUint32(20, rangeCount ? rangesAt : 0, true);
  return table;
}

/** The byte ranges `[lo, hi]` of a set, ascending. */
function toRanges(s: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let b = 0; b < 256; b++) {
    if (!((s[b >> 3] >> (b & 7)) & 1)) continue;
    const last = out[out.length - 1];
    if (last && last[1] === b - 1) last[1] = b;
    else out.push([b, b]);
  }
  return out;
}

function range(lo: number, hi: number): Uint8Array {
  const s = new Uint8Array(32);
  for (let b = lo; b <= hi; b++) add(s, b);
  return s;
}

function add(s: Uint8Array, b: number): void {
  s[b >> 3] |= 1 << (b & 7);
}

function or(s: Uint8Array, t: Uint8Array): void {
  for (let k = 0; k < 32; k++) s[k] |= t[k];
}

function equalSets(s: Uint8Array, t: Uint8Array): boolean {
  for (let k = 0; k < 32; k++) if (s[k] !== t[k]) return false;
  return true;
}

function intersects(s: Uint8Array, t: Uint8Array): boolean {
  for (let k = 0; k < 32; k++) if (s[k] & t[k]) return true;
  return false;
}
