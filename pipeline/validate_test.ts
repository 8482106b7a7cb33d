import { deepStrictEqual, equal } from "node:assert/strict";
import { compileKernels } from "../kernels/mod.ts";
import { KernelCore } from "../kernels/core.ts";
import {
  compilePattern,
  ENUM_LENGTH_SLOT_BYTES,
  enumKernel,
  PATTERN_HEADER_BYTES,
  PATTERN_ITEM_BYTES,
  PATTERN_MAX_FIXED,
  PATTERN_MAX_RANGES,
  RULE,
  validateKernels,
} from "../kernels/validate.ts";
import { type Columnar, type ColumnData, compileRules, validateBatch } from "./validate.ts";

const kernels = validateKernels(new KernelCore(new WebAssembly.Instance(await compileKernels())));
const enc = new TextEncoder();

function bitmap(present: boolean[]): Uint8Array {
  const b = new Uint8Array((present.length + 7) >> 3);
  present.forEach((p, i) => p && (b[i >> 3] |= 1 << (i & 7)));
  return b;
}

function strings(values: (string | null)[]): ColumnData {
  const offsets = new Int32Array(values.length + 1);
  const parts = values.map((v) => enc.encode(v ?? ""));
  parts.forEach((p, i) => (offsets[i + 1] = offsets[i] + p.length));
  const data = new Uint8Array(offsets[values.length]);
  parts.forEach((p, i) => data.set(p, offsets[i]));
  return { type: "string", offsets, data, validity: bitmap(values.map((v) => v !== null)) };
}

function int64(values: (number | null)[]): ColumnData {
  return {
    type: "int64",
    values: BigInt64Array.from(values, (v) => BigInt(v ?? 0)),
    validity: values.includes(null) ? bitmap(values.map((v) => v !== null)) : undefined,
  };
}

function batch(columns: Record<string, ColumnData>, n: number): Columnar {
  // Lines start at 2 (after a header) and skip one, as a quoted newline would.
  return { length: n, lines: Int32Array.from({ length: n }, (_, i) => 2 + i * 2), columns };
}

Deno.test("RULE mirrors the kernel module's rule numbers", async () => {
  const inst = new WebAssembly.Instance(await compileKernels());
  for (const [name, n] of Object.entries(RULE)) {
    const g = inst.exports[`RULE_${name.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase()}`];
    equal(g instanceof WebAssembly.Global ? Number(g.value) : undefined, n, name);
  }
});

Deno.test("pattern and enum table constants mirror the kernel module's", async () => {
  const inst = new WebAssembly.Instance(await compileKernels());
  const read = (name: string) => {
    const g = inst.exports[name];
    return g instanceof WebAssembly.Global ? Number(g.value) : undefined;
  };
  equal(read("PATTERN_HEADER_BYTES"), PATTERN_HEADER_BYTES);
  equal(read("PATTERN_ITEM_BYTES"), PATTERN_ITEM_BYTES);
  equal(read("PATTERN_MAX_FIXED"), PATTERN_MAX_FIXED);
  equal(read("PATTERN_MAX_RANGES"), PATTERN_MAX_RANGES);
  equal(read("ENUM_LENGTH_SLOT_BYTES"), ENUM_LENGTH_SLOT_BYTES);
});

Deno.test("validateBatch rejects each broken rule with line, column, rule and value", async (t) => {
  const cases: {
    name: string;
    column: ColumnData;
    rules: Parameters<typeof compileRules>[0][string];
    rejects: [number, string, string | null][];
  }[] = [
    {
      name: "required",
      column: int64([1, null, 3, null, 5]),
      rules: { required: true },
      rejects: [[4, "required", null], [8, "required", null]],
    },
    {
      name: "min and max on int64",
      column: int64([0, 5, 11, -3, 10, 1]),
      rules: { min: 1, max: 10 },
      rejects: [[2, "min", "0"], [6, "max", "11"], [8, "min", "-3"]],
    },
    {
      name: "unique keeps the first occurrence",
      column: int64([7, 8, 7, 9, 8, 7]),
      rules: { unique: true },
      rejects: [[6, "unique", "7"], [10, "unique", "8"], [12, "unique", "7"]],
    },
    {
      name: "unique over a sparse range uses the hash path",
      column: int64([1e15, 5, 1e15, -1e15, 5]),
      rules: { unique: true },
      rejects: [[6, "unique", "1000000000000000"], [10, "unique", "5"]],
    },
    {
      name: "enum",
      column: strings(["new", "paid", "PAID", "shipped-late", "paid", null]),
      rules: { enum: ["new", "paid", "shipped"] },
      rejects: [[6, "enum", "PAID"], [8, "enum", "shipped-late"]],
    },
    {
      name: "length counts characters, not bytes",
      column: strings(["ab", "ééé", "a", "abcd", "éé"]),
      rules: { minLength: 2, maxLength: 3 },
      rejects: [[6, "minLength", "a"], [8, "maxLength", "abcd"]],
    },
    {
      name: "pattern runs over strings still valid",
      column: strings(["US", "usa", "DE", "D3", null]),
      rules: { pattern: "^[A-Z]{2}$" },
      rejects: [[4, "pattern", "usa"], [8, "pattern", "D3"]],
    },
    {
      name: "required then pattern: a row reports its first rule",
      column: strings([null, "x"]),
      rules: { required: true, pattern: "^[A-Z]$" },
      rejects: [[2, "required", null], [4, "pattern", "x"]],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const n = c.column.type === "string"
        ? c.column.offsets.length - 1
        : (c.column.values as BigInt64Array).length;
      const b = batch({ col: c.column }, n);
      const { valid, rejects } = validateBatch(kernels, b, compileRules({ col: c.rules }, b.columns));
      deepStrictEqual(rejects.map((r) => [r.line, r.rule, r.value]), c.rejects);
      equal(valid.length, n - c.rejects.length);
      for (const r of rejects) equal(r.column, "col");
    });
  }
});

Deno.test("validateBatch checks decimals, floats, dates and timestamps in their units", async (t) => {
  const n = 4;
  const cases: {
    name: string;
    column: ColumnData;
    rules: Parameters<typeof compileRules>[0][string];
    bad: string[];
  }[] = [
    {
      name: "decimal bounds are exact",
      column: { type: "decimal", scale: 2, values: BigInt64Array.from([-1n, 0n, 100000001n, 100000000n]) },
      rules: { min: 0, max: "1000000.00" },
      bad: ["-0.01", "1000000.01"],
    },
    {
      name: "float64 NaN fails min",
      column: { type: "float64", values: Float64Array.from([NaN, 0.5, 2, -0.1]) },
      rules: { min: 0, max: 1.5 },
      bad: ["NaN", "2", "-0.1"],
    },
    {
      name: "date from ISO bounds",
      column: { type: "date", values: Int32Array.from([19000, 20000, 20500, 21000]) },
      rules: { min: "2024-09-01", max: "2026-03-01" },
      bad: ["19000", "21000"],
    },
    {
      name: "timestamp from ISO bounds",
      column: {
        type: "timestamp",
        values: BigInt64Array.from([0n, 1_700_000_000_000_000n, 1_800_000_000_000_000n, 1n]),
      },
      rules: { min: "2020-01-01T00:00:00Z", max: "2025-01-01T00:00:00Z" },
      bad: ["1970-01-01T00:00:00.000Z", "2027-01-15T08:00:00.000Z", "1970-01-01T00:00:00.000Z"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const b = batch({ col: c.column }, n);
      const { rejects } = validateBatch(kernels, b, compileRules({ col: c.rules }, b.columns));
      deepStrictEqual(rejects.map((r) => r.value), c.bad);
    });
  }
});

Deno.test("validateBatch returns the valid rows with their columns and lines", () => {
  const b = batch({
    id: int64([1, 2, 2, 4, 5, 6, 7, 8, 9]),
    name: strings(["a", "b", "c", "d", "e", null, "g", "h", "i"]),
  }, 9);
  const { valid, rejects } = validateBatch(
    kernels,
    b,
    compileRules({ id: { unique: true }, name: { required: true } }, b.columns),
  );
  deepStrictEqual(rejects.map((r) => r.line), [6, 12]);
  deepStrictEqual([...valid.lines], [2, 4, 8, 10, 14, 16, 18]);
  const id = valid.columns.id;
  deepStrictEqual(id.type === "int64" ? [...id.values] : [], [1n, 2n, 4n, 5n, 7n, 8n, 9n]);
  const name = valid.columns.name;
  equal(name.type === "string" ? new TextDecoder().decode(name.data) : "", "abdeghi");
});

Deno.test("validateBatch agrees with a plain JS check on random int64 columns", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(rnd() * 300);
    const vals = Array.from({ length: n }, () => (rnd() < 0.1 ? null : Math.floor(rnd() * 200) - 50));
    const b = batch({ v: int64(vals) }, n);
    const { rejects } = validateBatch(
      kernels,
      b,
      compileRules({ v: { required: true, min: 0, max: 100, unique: true } }, b.columns),
    );
    const seen = new Set<number>();
    const expected: [number, string][] = [];
    vals.forEach((v, i) => {
      const rule = v === null
        ? "required"
        : v < 0
        ? "min"
        : v > 100
        ? "max"
        : seen.has(v)
        ? "unique"
        : undefined;
      if (v !== null && v >= 0 && v <= 100) seen.add(v);
      if (rule) expected.push([2 + i * 2, rule]);
    });
    deepStrictEqual(rejects.map((r) => [r.line, r.rule]), expected);
  }
});

/** A seeded generator of strings near a pattern: built from its compiled items, then mutated. */
function nearStrings(table: Uint8Array | undefined, count: number, seed: number): string[] {
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const pool = "AZaQz09_-. /:x\t\né€";
  const randomChar = () => pool[Math.floor(rnd() * pool.length)];
  const dv = table ? new DataView(table.buffer, table.byteOffset) : undefined;
  const items = dv ? dv.getUint32(0, true) : 0;
  const out: string[] = [];
  for (let r = 0; r < count; r++) {
    let chars: string[] = [];
    if (dv && rnd() < 0.7) {
      for (let k = 0; k < items; k++) {
        const at = PATTERN_HEADER_BYTES + PATTERN_ITEM_BYTES * k;
        const min = dv.getUint32(at + 32, true);
        const max = dv.getUint32(at + 36, true);
        const reps = Math.min(max, min + Math.floor(rnd() * 4));
        const members = [];
        for (let b = 0; b < 128; b++) if ((table![at + (b >> 3)] >> (b & 7)) & 1) members.push(b);
        for (let j = 0; j < reps && members.length; j++) {
          chars.push(String.fromCharCode(members[Math.floor(rnd() * members.length)]));
        }
      }
    } else {
      chars = Array.from({ length: Math.floor(rnd() * 12) }, randomChar);
    }
    // Mutations: replace, insert or delete a character, sometimes none.
    const edits = Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * (chars.length + 1));
      const what = rnd();
      if (what < 0.4 && at < chars.length) chars[at] = randomChar();
      else if (what < 0.7) chars.splice(at, 0, randomChar());
      else chars.splice(at, 1);
    }
    out.push(chars.join(""));
  }
  return out;
}

// `path`: the kernel loop a compiled pattern takes (16-byte ranges, one set per position, items in turn).
const PATTERNS: { pattern: string; compiled: boolean; path?: "simd" | "fixed" | "items" }[] = [
  { pattern: "^[A-Z]{2}$", compiled: true, path: "simd" },
  { pattern: "^[0-9]{5}$", compiled: true, path: "simd" },
  { pattern: "^[a-z0-9_-]{1,32}$", compiled: true, path: "items" },
  { pattern: "^\\d{3}-\\d{4}$", compiled: true, path: "simd" },
  { pattern: "^[A-Z]{2}[0-9]{2,4}$", compiled: true },
  { pattern: "^ORD-\\d+$", compiled: true },
  { pattern: "^[a-z]+[A-Z]*\\d?$", compiled: true },
  { pattern: "^\\w{3,}\\.x$", compiled: true },
  { pattern: "^[A-Z][a-z]*( )?$", compiled: false },
  { pattern: "^[A-Z]\\w\\d{2}[a-f]$", compiled: true, path: "simd" },
  { pattern: "^[acegikmoq]{3}$", compiled: true, path: "fixed" }, // 9 ranges a position
  { pattern: "^[A-Z]{2}\\d{15}$", compiled: true, path: "fixed" }, // longer than 16 bytes
  { pattern: "^a?b?c?$", compiled: true, path: "items" },
  { pattern: "^[a-c]{1,3}[a-c]{2}$", compiled: true }, // same set: merged into [a-c]{3,5}
  { pattern: "^$", compiled: true, path: "simd" },
  { pattern: "^[-a]{0,2}[\\-.]\\t?$", compiled: false }, // [-a] and [-.] share "-"
  { pattern: "^[Q\\d:]{2}\\/?$", compiled: true, path: "items" },
  { pattern: "^[a-z]{1,3}[a-c]{2}$", compiled: false }, // would need backtracking
  { pattern: "^a?[ab]$", compiled: false },
  { pattern: "^(AB|CD)$", compiled: false },
  { pattern: "^.{2}$", compiled: false },
  { pattern: "^[^0-9]{2}$", compiled: false },
  { pattern: "^\\s+$", compiled: false },
  { pattern: "^é{2}$", compiled: false },
  { pattern: "^a+?$", compiled: false },
  { pattern: "^\\D\\W$", compiled: false },
  { pattern: "^[A-Z]{2}|x$", compiled: false },
];

Deno.test("compiled patterns agree with RegExp on seeded near-miss strings", async (t) => {
  for (const [p, { pattern, compiled, path }] of PATTERNS.entries()) {
    await t.step(pattern, () => {
      const body = pattern.replace(/^\^|\$$/g, "");
      const table = compilePattern(body);
      equal(table !== undefined, compiled, "compiled");
      if (table && path) {
        const dv = new DataView(table.buffer);
        equal(dv.getUint32(16, true) > 0 ? "simd" : dv.getUint32(12, true) ? "fixed" : "items", path);
      }
      // Rules mean the whole value (compileRules anchors the body); for the compiled patterns, all anchored
      // sequences, that is also what `new RegExp(pattern)` says, which is checked below.
      const re = new RegExp(`^(?:${body})$`, "u");
      const values: (string | null)[] = nearStrings(table ?? compilePattern("[A-Za-z0-9]{2}"), 3000, 11 + p);
      values.push(null, "", "AB", "12345", "555-1234");
      const col = strings(values);
      const b = batch({ col }, values.length);
      const rules = compileRules({ col: { pattern } }, b.columns);
      // A compiled pattern runs in the kernel and not in JS, and the other way round.
      equal(rules.kernel[0].pattern !== undefined, compiled);
      equal(rules.patterns[0] !== undefined, !compiled);
      const expected = values.flatMap((v, i) => (v !== null && !re.test(v) ? [i] : []));
      const matches = values.length - 1 - expected.length;
      if (table) {
        const c = col.type === "string" ? col : undefined!;
        const verdict = kernels.validateColumns(
          [{ kind: "utf8", offsets: c.offsets, data: c.data, validity: c.validity }],
          [{ pattern: table }],
          values.length,
        );
        deepStrictEqual([...verdict.rows], expected);
        const plain = new RegExp(pattern);
        deepStrictEqual(
          [...verdict.rows],
          values.flatMap((v, i) => (v !== null && !plain.test(v) ? [i] : [])),
        );
        for (const code of verdict.codes) equal(code, RULE.pattern);
        // The generator must exercise both sides.
        equal(matches > 100 && expected.length > 100, true, `${matches} matches, ${expected.length} misses`);
      }
      const { rejects } = validateBatch(kernels, b, rules);
      deepStrictEqual(rejects.map((r) => r.line), expected.map((i) => 2 + i * 2));
      for (const r of rejects) equal(r.rule, "pattern");
    });
  }
});

Deno.test("patterns run after every other rule, in column order, kernel or JS", () => {
  const b = batch({
    a: strings(["ab", "ab", "AB", "AB"]), // kernel pattern
    b: strings(["x", "bad", "x", "x"]), // enum
    c: strings(["1", "1", "z", "1"]), // JS pattern (a group)
    d: strings(["Q", "Q", "Q", "q"]), // kernel pattern
  }, 4);
  const rules = compileRules({
    a: { pattern: "^[A-Z]{2}$" },
    b: { enum: ["x"] },
    c: { pattern: "^(1|2)$" },
    d: { pattern: "^Q$" },
  }, b.columns);
  const { rejects } = validateBatch(kernels, b, rules);
  deepStrictEqual(rejects.map((r) => [r.line, r.column, r.rule]), [
    [2, "a", "pattern"],
    [4, "b", "enum"],
    [6, "c", "pattern"],
    [8, "d", "pattern"],
  ]);
});

Deno.test("enum agrees with a Set on random strings, by length, hashed or linear", async (t) => {
  const lists: [string[], ReturnType<typeof enumKernel>][] = [
    [["new", "paid", "shipped", "cancelled", "refunded"], "length"],
    // Empty, 16 bytes, non-ASCII (2 and 6 bytes) and a NUL byte, all of different byte lengths.
    [["", "sixteen-bytes-ok", "é", "日本", "x\0y"], "length"],
    // Lengths shared: hashed.
    [["GET", "PUT", "POST", "HEAD", "DELETE", "PATCH"], "hash"],
    [["a", "a", "b"], "hash"],
    // Sharing length and first 8 bytes, as values 0-9 and 10-19 of the 20 below: no perfect hash, linear.
    [["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefghj"], "linear"],
    // Long values sharing length and first 8 bytes: no perfect hash, the linear kernel runs.
    [["prefix__one", "prefix__two", "x"], "linear"],
    [Array.from({ length: 40 }, (_, i) => `v${i}`), "linear"],
    [Array.from({ length: 20 }, (_, i) => `value-number-${i}`), "linear"],
    // Longer than 16 bytes: the hashed kernel compares the rest bytewise, from the 17th byte on.
    [["abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopqr", "x"], "hash"],
    [Array.from({ length: 6 }, (_, i) => `${i}-a-rather-long-enum-value-${"x".repeat(i)}`), "hash"],
  ];
  for (const [l, [list, kernel]] of lists.entries()) {
    await t.step(list.slice(0, 3).join(","), () => {
      equal(enumKernel(list), kernel);
      let seed = 5 + l;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      // Row counts not a multiple of the kernels' four rows a step.
      const values: (string | null)[] = Array.from({ length: 2000 + l }, () => {
        const r = rnd();
        if (r < 0.05) return null;
        const v = list[Math.floor(rnd() * list.length)];
        if (r < 0.6) return v;
        // Near misses: one character changed, dropped or added.
        const at = Math.floor(rnd() * (v.length + 1));
        return r < 0.75 ? v.slice(0, at) + "#" + v.slice(at + 1) : r < 0.9 ? v.slice(0, at) : v + "e";
      });
      // Misses a zero-padded compare could take for members: trailing NULs, NULs alone, 17+ bytes.
      values.push(...list.flatMap((v) => [v + "\0", v + "x".repeat(17), v.slice(0, -1)]), "\0", "\0\0", "");
      const set = new Set(list);
      const b = batch({ col: strings(values) }, values.length);
      const { rejects } = validateBatch(kernels, b, compileRules({ col: { enum: list } }, b.columns));
      const expected = values.flatMap((v, i) => (v !== null && !set.has(v) ? [2 + i * 2] : []));
      deepStrictEqual(rejects.map((r) => r.line), expected);
    });
  }
});

Deno.test("enum by length over batches of 0 to 9 rows, with nulls", () => {
  const list = ["new", "paid", "shipped"];
  equal(enumKernel(list), "length");
  const pool = ["new", null, "paid", "nex", "shipped", "", "paid ", "shippedshippedshipped", "papaid"];
  for (let n = 0; n <= 9; n++) {
    const values = pool.slice(0, n);
    const b = batch({ col: strings(values) }, n);
    const { rejects } = validateBatch(kernels, b, compileRules({ col: { enum: list } }, b.columns));
    const expected = values.flatMap((v, i) => (v !== null && !list.includes(v) ? [2 + i * 2] : []));
    deepStrictEqual(rejects.map((r) => r.line), expected, `${n} rows`);
  }
});

Deno.test("fixed-length patterns check rows packed back to back as RegExp does", async (t) => {
  // Lengths 1 to 4 take several rows per load, 5 to 16 one; mostly valid rows, so whole groups pass.
  const patterns = [
    "^[A-Z]{2}$",
    "^[A-Z]$",
    "^\\d{3}$",
    "^[A-Za-z0-9_]{4}$",
    "^[a-f]{5}$",
    "^\\d{4}-\\d{3}$",
    "^[A-Z]{16}$",
  ];
  for (const [p, pattern] of patterns.entries()) {
    await t.step(pattern, () => {
      const body = pattern.replace(/^\^|\$$/g, "");
      const table = compilePattern(body)!;
      equal(new DataView(table.buffer).getUint32(16, true) > 0, true, "the SIMD path");
      const re = new RegExp(`^(?:${body})$`, "u");
      const sample = nearStrings(table, 400, 3 + p).filter((v) => re.test(v));
      let seed = 17 + p;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const pick = () => sample[Math.floor(rnd() * sample.length)];
      const len = pick().length;
      // Misses: one byte off, a length off by one, non-ASCII, empty, longer than 16 bytes.
      const misses = [
        () => pick().slice(0, -1) + "~",
        () => pick().slice(0, -1),
        () => pick() + pick()[0],
        () => "é".repeat(Math.max(1, len >> 1)),
        () => "",
        () => pick().repeat(17),
      ];
      for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 1001]) {
        // Nulls over a value of the right length, valid or not, and over an empty one.
        const values: (string | null)[] = [];
        const shown: string[] = [];
        for (let i = 0; i < n; i++) {
          const r = rnd();
          const v = r < 0.03 ? null : r < 0.1 ? misses[Math.floor(rnd() * misses.length)]() : pick();
          values.push(v);
          shown.push(v ?? (rnd() < 0.5 ? "" : rnd() < 0.5 ? pick() : "~".repeat(len)));
        }
        const expected = values.flatMap((v, i) => (v !== null && !re.test(v) ? [i] : []));
        deepStrictEqual(patternRejects(table, values, shown), expected, `${n} rows`);
      }
    });
  }
});

Deno.test("one- and two-byte patterns: a single miss or null at every row of eight-row steps", () => {
  for (const pattern of ["[A-Z]{2}", "[A-Z]"]) {
    const table = compilePattern(pattern)!;
    const re = new RegExp(`^(?:${pattern})$`, "u");
    const good = pattern.endsWith("{2}") ? "GB" : "G";
    // A byte off, a byte outside the class, too short, too long, non-ASCII of the same byte length.
    const misses = [
      good.slice(0, -1) + "a",
      "[".repeat(good.length),
      "",
      good + "B",
      "é".slice(0, good.length),
    ];
    for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 1001]) {
      const at = [0, 3, 4, 7, 8, 11, 15, 16, n >> 1, n - 2, n - 1].filter((i, k, a) =>
        i >= 0 && i < n && a.indexOf(i) === k
      );
      for (const i of at) {
        for (const miss of [...misses, null]) {
          const values: (string | null)[] = Array.from({ length: n }, () => good);
          values[i] = miss;
          const expected = values.flatMap((v, k) => (v !== null && !re.test(v) ? [k] : []));
          // A null over an invalid value: the kernel must not report it.
          deepStrictEqual(
            patternRejects(table, values, values.map((v) => v ?? "~~~")),
            expected,
            `${pattern}: ${n} rows, ${JSON.stringify(miss)} at ${i}`,
          );
        }
      }
    }
  }
});

Deno.test("range and uniqueness in one pass over nearly increasing int64 keys", () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const I64_MIN = -(2n ** 63n);
  for (let round = 0; round < 300; round++) {
    // Row counts around the kernel's four rows a step; keys rise, with a repeat or a step back at times
    // (anywhere, the last rows included), from the int64 minimum at times.
    const n = round < 40 ? round % 14 : 1 + Math.floor(rnd() * 40);
    const values = new BigInt64Array(n);
    let v = rnd() < 0.2 ? I64_MIN : BigInt(Math.floor(rnd() * 20));
    for (let i = 0; i < n; i++) {
      values[i] = v;
      const r = rnd();
      v += r < 0.05 ? 0n : r < 0.08 ? -3n : BigInt(1 + Math.floor(rnd() * 3));
    }
    const nulls = rnd() < 0.3;
    const present = Array.from({ length: n }, () => !nulls || rnd() > 0.1);
    const ranged = rnd() < 0.5;
    const rules = { unique: true, ...(ranged ? { min: 4, max: 60 } : {}) };
    const b = batch({ v: { type: "int64", values, validity: nulls ? bitmap(present) : undefined } }, n);
    const { rejects } = validateBatch(kernels, b, compileRules({ v: rules }, b.columns));
    const seen = new Set<bigint>();
    const expected: [number, string][] = [];
    values.forEach((x, i) => {
      if (!present[i]) return;
      const rule = ranged && x < 4n ? "min" : ranged && x > 60n ? "max" : seen.has(x) ? "unique" : undefined;
      seen.add(x);
      if (rule) expected.push([2 + i * 2, rule]);
    });
    deepStrictEqual(rejects.map((r) => [r.line, r.rule]), expected, `round ${round}`);
  }
});

Deno.test("increasing keys without nulls: bounds at the first and last key, one fault anywhere", () => {
  // The kernel's shortcut for increasing keys without nulls decides from the order and the end keys; each
  // case breaks it in one place (at the ends, at a step boundary, in the tail) or holds exactly at a bound.
  const sizes = [0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000, 1001];
  for (const n of sizes) {
    const at = [0, 1, 3, 4, n >> 1, n - 2, n - 1].filter((i, k, a) => i >= 0 && i < n && a.indexOf(i) === k);
    const faults: [string, number][] = [
      ["none", -1],
      ...at.flatMap((i) => ["repeat", "step back", "below", "above"].map((f): [string, number] => [f, i])),
    ];
    for (const [fault, i] of faults) {
      // Keys 10, 12, 14, ... with the bounds exactly at the first and last key.
      const keys = Array.from({ length: n }, (_, k) => 10n + 2n * BigInt(k));
      const min = 10, max = 10 + 2 * Math.max(0, n - 1);
      if (fault === "repeat" && i > 0) keys[i] = keys[i - 1];
      if (fault === "step back" && i > 0) keys[i] = keys[i - 1] - 1n;
      if (fault === "below") keys[i] = 9n;
      if (fault === "above") keys[i] = BigInt(max + 1);
      const b = batch({ v: { type: "int64", values: BigInt64Array.from(keys) } }, n);
      const { rejects } = validateBatch(
        kernels,
        b,
        compileRules({ v: { min, max, unique: true } }, b.columns),
      );
      const seen = new Set<bigint>();
      const expected: [number, string][] = [];
      keys.forEach((x, k) => {
        const rule = x < min ? "min" : x > max ? "max" : seen.has(x) ? "unique" : undefined;
        seen.add(x);
        if (rule) expected.push([2 + k * 2, rule]);
      });
      deepStrictEqual(rejects.map((r) => [r.line, r.rule]), expected, `${n} rows, ${fault} at ${i}`);
    }
  }
});

Deno.test("length bounds agree with a count of code points around the byte-length shortcut", () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  // Characters of 1 to 4 UTF-8 bytes, so a string's byte length is from 1 to 4 times its length.
  const chars = ["a", "Z", "é", "ж", "€", "日", "😀"];
  const bounds: [number | undefined, number | undefined][] = [
    [1, 200],
    [0, 3],
    [3, undefined],
    [undefined, 4],
    [5, 5],
    [2 ** 30, undefined],
    [undefined, 2 ** 32 + 7],
  ];
  for (const [minLength, maxLength] of bounds) {
    for (const n of [0, 1, 3, 4, 5, 7, 8, 9, 130]) {
      const text = () => Array.from({ length: rnd() * 9 }, () => chars[Math.floor(rnd() * chars.length)]);
      const values = Array.from({ length: n }, () => (rnd() < 0.05 ? null : text().join("")));
      const b = batch({ col: strings(values) }, n);
      const rules = compileRules({ col: { minLength, maxLength } }, b.columns);
      const { rejects } = validateBatch(kernels, b, rules);
      const expected = values.flatMap((v, i) => {
        if (v === null) return [];
        const count = [...v].length;
        const rule = minLength !== undefined && count < minLength
          ? "minLength"
          : maxLength !== undefined && count > maxLength
          ? "maxLength"
          : undefined;
        return rule ? [[2 + i * 2, rule]] : [];
      });
      deepStrictEqual(rejects.map((r) => [r.line, r.rule]), expected, `${minLength}-${maxLength}, ${n}`);
    }
  }
});

Deno.test("length bounds: a single row off, at a bound or null at every row of eight-row steps", () => {
  // Rows of 6 characters within [1, 8], which the byte length alone decides; one row changed: at each bound,
  // one past it, non-ASCII (more bytes than the maximum yet within it in characters, or past it), or null over
  // an empty string.
  const changes: (string | null)[] = ["a", "", "abcdefgh", "abcdefghi", "日日日", "日".repeat(9), null];
  for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 24, 1001]) {
    const at = [0, 3, 4, 7, 8, 15, 16, n >> 1, n - 1].filter((i, k, a) =>
      i >= 0 && i < n && a.indexOf(i) === k
    );
    for (const i of at) {
      for (const change of changes) {
        const values: (string | null)[] = Array.from({ length: n }, () => "abcdef");
        values[i] = change;
        const b = batch({ col: strings(values) }, n);
        const { rejects } = validateBatch(
          kernels,
          b,
          compileRules({ col: { minLength: 1, maxLength: 8 } }, b.columns),
        );
        const count = change === null ? 6 : [...change].length;
        const rule = count < 1 ? "minLength" : count > 8 ? "maxLength" : undefined;
        const expected = rule ? [[2 + i * 2, rule]] : [];
        deepStrictEqual(rejects.map((r) => [r.line, r.rule]), expected, `${n} rows, ${change} at ${i}`);
      }
    }
  }
});

Deno.test("a row reports the first rule it broke across columns, whatever kernel marks it", () => {
  let seed = 21;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (const n of [0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 1000]) {
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const a = Array.from({ length: n }, () => (rnd() < 0.1 ? null : Math.floor(rnd() * 30) - 5));
    const s = Array.from({ length: n }, () => (rnd() < 0.05 ? null : pick(["new", "paid", "nope"])));
    const f = Float64Array.from({ length: n }, () => (rnd() < 0.1 ? -1 : rnd()));
    const d = Int32Array.from({ length: n }, () => (rnd() < 0.1 ? 99 : 5));
    const b = batch({
      a: int64(a),
      s: strings(s),
      f: { type: "float64", values: f },
      d: { type: "date", values: d },
    }, n);
    const rules = compileRules({
      a: { required: true, min: 0, max: 20 },
      s: { required: true, enum: ["new", "paid"] },
      f: { min: 0 },
      d: { max: 10 },
    }, b.columns);
    const { rejects } = validateBatch(kernels, b, rules);
    const expected: [number, string, string][] = [];
    for (let i = 0; i < n; i++) {
      const v = a[i];
      const broke: [string, string] | undefined = v === null
        ? ["a", "required"]
        : v < 0
        ? ["a", "min"]
        : v > 20
        ? ["a", "max"]
        : s[i] === null
        ? ["s", "required"]
        : s[i] === "nope"
        ? ["s", "enum"]
        : f[i] < 0
        ? ["f", "min"]
        : d[i] > 10
        ? ["d", "max"]
        : undefined;
      if (broke) expected.push([2 + i * 2, ...broke]);
    }
    deepStrictEqual(rejects.map((r) => [r.line, r.column, r.rule]), expected, `${n} rows`);
  }
});

/**
 * The rows the pattern kernel rejects in a string column holding `shown`, null where `values` is null (a null
 * shows some text underneath, which must not count).
 */
function patternRejects(
  table: NonNullable<ReturnType<typeof compilePattern>>,
  values: readonly (string | null)[],
  shown: readonly string[],
): number[] {
  const col = strings([...shown]);
  if (col.type !== "string") throw new Error("unreachable");
  const verdict = kernels.validateColumns(
    [{ kind: "utf8", offsets: col.offsets, data: col.data, validity: bitmap(values.map((v) => v !== null)) }],
    [{ pattern: table }],
    values.length,
  );
  return [...verdict.rows];
}
