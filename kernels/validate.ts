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
  /** Checked in JS over the string column, after the kernels. */
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
}

/** What the kernels found: the failing rows (ascending) and each one's code `(column << 8) | rule`. */
export interface KernelVerdict {
  /** Row indexes that failed a rule, ascending. */
  rows: Uint32Array;
  /** Code per entry of `rows`. */
  codes: Uint32Array;
}

/** The validation kernels of one instance. */
export interface ValidateKernels {
  /**
   * Checks `columns[i]` against `rules[i]` for `n` rows. Rules run column by column, in the order
   * required, min/max, length, enum, unique; a row reports the first rule it broke.
   */
  validateColumns(columns: readonly KernelColumn[], rules: readonly KernelRules[], n: number): KernelVerdict;
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
  const unique = core.fn("validate_unique_i64");
  const uniqueScratch = core.fn("validate_unique_scratch_bytes");
  const collect = core.fn("validate_collect");

  return {
    validateColumns(columns, rules, n) {
      core.reset();
      // Allocate everything before writing anything: an allocation may grow memory and detach views.
      const codes = core.alloc(n * 4);
      const out = core.alloc(n * 4);
      const needScratch = rules.some((r, i) => r.unique && columns[i].kind === "i64");
      const scratch = needScratch ? core.alloc(uniqueScratch(n) >>> 0) : 0;
      const placed = columns.map((c, i) => place(core, c, rules[i], n));
      for (const p of placed) p.write();
      core.view(codes, n * 4).fill(0);

      for (let ci = 0; ci < columns.length; ci++) {
        const c = columns[ci];
        const r = rules[ci];
        const p = placed[ci];
        if (r.required) required(p.validity, n, codes, (ci << 8) | RULE.required);
        if (r.min !== undefined || r.max !== undefined) {
          if (c.kind === "i64") {
            const lo = r.min === undefined ? I64_MIN : BigInt(r.min);
            const hi = r.max === undefined ? I64_MAX : BigInt(r.max);
            i64Range(p.values, p.validity, n, lo, hi, codes, ci);
          } else if (c.kind === "f64") {
            f64Range(
              p.values,
              p.validity,
              n,
              Number(r.min ?? -Infinity),
              Number(r.max ?? Infinity),
              codes,
              ci,
            );
          } else if (c.kind === "i32") {
            const lo = Math.max(-(2 ** 31), Math.ceil(Number(r.min ?? -(2 ** 31))));
            const hi = Math.min(2 ** 31 - 1, Math.floor(Number(r.max ?? 2 ** 31 - 1)));
            i32Range(p.values, p.validity, n, lo, hi, codes, ci);
          }
        }
        if (c.kind === "utf8") {
          if (r.minLength !== undefined || r.maxLength !== undefined) {
            length(p.offsets, p.data, p.validity, n, r.minLength ?? 0, r.maxLength ?? 0xffffffff, codes, ci);
          }
          if (r.enum) {
            enumeration(p.offsets, p.data, p.validity, n, p.enumTable, r.enum.length, p.enumData, codes, ci);
          }
        }
        if (r.unique && c.kind === "i64") unique(p.values, p.validity, n, scratch, codes, ci);
      }
      const k = collect(codes, n, out) >>> 0;
      const rows = new Uint32Array(k);
      rows.set(new Uint32Array(core.view(out, k * 4).slice().buffer));
      const all = new Uint32Array(core.view(codes, n * 4).buffer, codes, n);
      const found = new Uint32Array(k);
      for (let j = 0; j < k; j++) found[j] = all[rows[j]];
      return { rows, codes: found };
    },
  };
}

/** Where a column's buffers sit in the arena, and a function that copies them there. */
interface Placed {
  values: number;
  validity: number;
  offsets: number;
  data: number;
  enumTable: number;
  enumData: number;
  write(): void;
}

function place(core: KernelCore, c: KernelColumn, r: KernelRules, n: number): Placed {
  const copies: [number, Uint8Array][] = [];
  const put = (bytes: Uint8Array, pad = 0): number => {
    const ptr = core.alloc(bytes.byteLength + pad);
    copies.push([ptr, bytes]);
    return ptr;
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const p: Placed = {
    values: 0,
    validity: c.validity ? put(c.validity) : 0,
    offsets: 0,
    data: 0,
    enumTable: 0,
    enumData: 0,
    write() {
      for (const [ptr, bytes] of copies) core.view(ptr, bytes.byteLength).set(bytes);
    },
  };
  if (c.kind === "i64" || c.kind === "f64" || c.kind === "i32") {
    p.values = put(asBytes(c.values.subarray(0, n)));
  }
  if (c.kind === "utf8") {
    p.offsets = put(asBytes(c.offsets.subarray(0, n + 1)));
    // The enum kernel reads 8 bytes at a time past each string's start.
    p.data = put(c.data, 8);
    if (r.enum) {
      const values = r.enum.map((v) => enc.encode(v));
      const blob = new Uint8Array(values.reduce((s, v) => s + v.length, 0) + 8);
      const table = new Uint8Array(values.length * 16);
      const dv = new DataView(table.buffer);
      let off = 0;
      values.forEach((v, k) => {
        blob.set(v, off);
        dv.setUint32(k * 16, v.length, true);
        dv.setUint32(k * 16 + 4, off, true);
        const head = new Uint8Array(8);
        head.set(v.subarray(0, 8));
        dv.setBigUint64(k * 16 + 8, new DataView(head.buffer).getBigUint64(0, true), true);
        off += v.length;
      });
      p.enumTable = put(table);
      p.enumData = put(blob);
    }
  }
  return p;
}
