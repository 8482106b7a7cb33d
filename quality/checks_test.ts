import assert from "node:assert/strict";
import { batchFromRows, type Field } from "../pipeline/batch.ts";
import type { CheckSpec } from "../pipeline/spec.ts";
import { QualityAccumulator, type QualityPartial } from "./checks.ts";

const FIELDS: Field[] = [
  { name: "id", type: "int64" },
  { name: "country", type: "string" },
  { name: "amount", type: "decimal", precision: 12, scale: 2 },
  { name: "score", type: "float64" },
  { name: "day", type: "date" },
];

const ROWS: unknown[][] = [
  [1n, "DE", "10.50", 0.5, "2026-01-01"],
  [2n, null, "0.25", 1.5, "2026-01-02"],
  [3n, "FR", null, -2, "2026-01-01"],
  [4n, "DE", "99.99", null, null],
];

/** Feeds `rows` in chunks of `size`, through JSON as a checkpoint would carry them. */
function run(checks: CheckSpec[], rows: unknown[][], size: number, fields: Field[] = FIELDS) {
  const quality = new QualityAccumulator(checks, fields);
  for (let i = 0; i < rows.length; i += size) {
    const partial = quality.partial(batchFromRows(fields, rows.slice(i, i + size)));
    quality.merge(JSON.parse(JSON.stringify(partial)) as QualityPartial);
  }
  return quality.report()!;
}

Deno.test("quality checks compute each statistic over accepted rows", async (t) => {
  const cases: { name: string; check: CheckSpec; value: number | null; passed: boolean }[] = [
    { name: "row_count", check: { expect: "row_count", min: 4, max: 4 }, value: 4, passed: true },
    { name: "row_count below", check: { expect: "row_count", min: 5 }, value: 4, passed: false },
    {
      name: "null_ratio",
      check: { expect: "null_ratio", column: "country", max: 0.25 },
      value: 0.25,
      passed: true,
    },
    {
      name: "null_ratio over",
      check: { expect: "null_ratio", column: "amount", max: 0.2 },
      value: 0.25,
      passed: false,
    },
    { name: "min decimal", check: { expect: "min", column: "amount", min: 0 }, value: 0.25, passed: true },
    { name: "max decimal", check: { expect: "max", column: "amount", max: 99 }, value: 99.99, passed: false },
    {
      name: "mean decimal",
      check: { expect: "mean", column: "amount", min: 36.9, max: 37 },
      value: (10.5 + 0.25 + 99.99) / 3,
      passed: true,
    },
    { name: "min float", check: { expect: "min", column: "score", min: -2 }, value: -2, passed: true },
    { name: "mean float", check: { expect: "mean", column: "score", max: 0 }, value: 0, passed: true },
    { name: "max int", check: { expect: "max", column: "id", max: 3 }, value: 4, passed: false },
    { name: "unique int", check: { expect: "unique", column: "id" }, value: 0, passed: true },
    { name: "unique string", check: { expect: "unique", column: "country" }, value: 1, passed: false },
    { name: "unique date", check: { expect: "unique", column: "day" }, value: 1, passed: false },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      for (const size of [1, 3, 4]) {
        const report = run([c.check], ROWS, size);
        const [result] = report.checks;
        assert.ok(
          result.value === c.value || Math.abs((result.value ?? NaN) - (c.value ?? NaN)) < 1e-9,
          `chunks of ${size}: ${result.value} ≠ ${c.value}`,
        );
        assert.equal(result.passed, c.passed);
        assert.deepEqual(report.failed, c.passed ? [] : [result.name]);
        assert.equal(report.score, c.passed ? 1 : 0);
      }
    });
  }
});

Deno.test("quality report names failed checks and scores the share passed", () => {
  const report = run(
    [
      { expect: "row_count", min: 1 },
      { expect: "unique", column: "country", description: "one row per country" },
      { expect: "null_ratio", column: "country", max: 0.5 },
    ],
    ROWS,
    2,
  );
  assert.equal(report.score, 0.6667);
  assert.deepEqual(report.failed, ["unique(country)"]);
  assert.deepEqual(report.checks[1], {
    name: "unique(country)",
    expect: "unique",
    column: "country",
    value: 1,
    passed: false,
    distinct: 2,
    description: "one row per country",
  });
  assert.deepEqual(report.checks[2], {
    name: "null_ratio(country)",
    expect: "null_ratio",
    column: "country",
    max: 0.5,
    value: 0.25,
    passed: true,
  });
});

Deno.test("quality checks over no rows report null values and pass vacuously, except row_count", () => {
  const report = run(
    [
      { expect: "row_count", min: 1 },
      { expect: "mean", column: "amount", min: 1 },
      { expect: "null_ratio", column: "country", max: 0 },
      { expect: "unique", column: "id" },
    ],
    [],
    10,
  );
  assert.deepEqual(report.checks.map((c) => [c.value, c.passed]), [[0, false], [null, true], [null, true], [
    0,
    true,
  ]]);
});

Deno.test("quality unique is exact across chunks for large int64 keys and keeps within-chunk duplicates", () => {
  const ids = Array.from({ length: 50_000 }, (_, i) => [BigInt(i) * 4_294_967_296n + 7n]);
  ids.push([ids[123][0]], [ids[49_999][0]]);
  const report = run([{ expect: "unique", column: "id" }], ids, 7_000, [{ name: "id", type: "int64" }]);
  assert.equal(report.checks[0].value, 2);
  assert.equal(report.checks[0].distinct, 50_000);
});

Deno.test("quality unique past maxDistinct reports truncated and fails", () => {
  const fields: Field[] = [{ name: "id", type: "int64" }];
  const quality = new QualityAccumulator([{ expect: "unique", column: "id" }], fields, { maxDistinct: 10 });
  quality.merge(quality.partial(batchFromRows(fields, Array.from({ length: 20 }, (_, i) => [i]))));
  const [result] = quality.report()!.checks;
  assert.equal(result.passed, false);
  assert.equal(result.truncated, true);
});

Deno.test("quality check on a column missing from the output fails with a reason", () => {
  const report = run([{ expect: "null_ratio", column: "gone", max: 0 }], ROWS, 2);
  assert.equal(report.checks[0].passed, false);
  assert.match(report.checks[0].error ?? "", /not in the pipeline's output/);
});

Deno.test("quality accumulator without checks is disabled and reports null", () => {
  const quality = new QualityAccumulator([], FIELDS);
  assert.equal(quality.enabled, false);
  assert.equal(quality.report(), null);
});

Deno.test("quality partial of a skipped chunk counts nothing", () => {
  const quality = new QualityAccumulator([{ expect: "row_count", max: 0 }], FIELDS);
  quality.merge(quality.empty());
  assert.equal(quality.report()!.checks[0].passed, true);
});
