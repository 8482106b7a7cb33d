import { deepStrictEqual, equal } from "node:assert/strict";
import { compileKernels } from "../kernels/mod.ts";
import { KernelCore } from "../kernels/core.ts";
import { RULE, validateKernels } from "../kernels/validate.ts";
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
    if (name === "pattern") continue;
    const g = inst.exports[`RULE_${name.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase()}`];
    equal(g instanceof WebAssembly.Global ? Number(g.value) : undefined, n, name);
  }
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
      const { valid, rejects } = validateBatch(kernels, b, compileRules({ col: c.rules }, b));
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
      const { rejects } = validateBatch(kernels, b, compileRules({ col: c.rules }, b));
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
    compileRules({ id: { unique: true }, name: { required: true } }, b),
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
      compileRules({ v: { required: true, min: 0, max: 100, unique: true } }, b),
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
