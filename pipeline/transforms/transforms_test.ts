import assert from "node:assert/strict";
import * as v from "valibot";
import { type Batch, batchFromRows, type Field, rowObject } from "../batch.ts";
import type { Transform } from "../component.ts";
import { ConfigError } from "../errors.ts";
import { ExpressionError } from "../expr/mod.ts";
import { castSpec } from "./cast.ts";
import { deriveSpec } from "./derive.ts";
import { dropSpec } from "./drop.ts";
import { filterSpec } from "./filter.ts";
import { lookupSpec } from "./lookup.ts";
import { TRANSFORM_SPECS } from "./mod.ts";
import { renameSpec } from "./rename.ts";
import { counterValue, testContext } from "./testing.ts";
import type { TransformDefinition } from "./context.ts";

const FIELDS: Field[] = [
  { name: "id", type: "int64" },
  { name: "amount", type: "decimal", precision: 10, scale: 2 },
  { name: "qty", type: "int64" },
  { name: "status", type: "string" },
  { name: "raw", type: "string" },
];

/** Rows start on lines 2, 3, 5, 8, as after a header and a multi-line value. */
const INPUT: Batch = batchFromRows(FIELDS, [
  [1n, "2.50", 4n, "paid", "12"],
  [2n, "10.00", null, "cancelled", "x"],
  [3n, null, 2n, "new", " 7 "],
  [4n, "0.99", 0n, "paid", null],
], { lines: [2, 3, 5, 8] });

const rows = (batch: Batch) => Array.from({ length: batch.length }, (_, i) => rowObject(batch, i));

async function build<C>(
  spec: TransformDefinition<C>,
  config: unknown,
  ctx = testContext(INPUT.schema),
): Promise<Transform> {
  return await spec.build(v.parse(spec.config, config), ctx);
}

async function run<C>(
  spec: TransformDefinition<C>,
  config: unknown,
  ctx = testContext(INPUT.schema),
): Promise<Batch> {
  const transform = await build(spec, config, ctx);
  const out = await transform.apply(INPUT, AbortSignal.timeout(5000));
  assert.deepEqual(out.schema, transform.schema, "apply returns the announced schema");
  return out;
}

const LOOKUP_MINIMAL = { table: "countries", key: "code", columns: ["name"] };

Deno.test("every transform passes the three config tests", async (t) => {
  const cases: [
    TransformDefinition<unknown>,
    minimal: unknown,
    unknownKey: unknown,
    defaults: unknown,
    expected: unknown,
  ][] = [
    [renameSpec, { qty: "quantity" }, { columns: { qty: "q" }, bogus: 1 }, { columns: { qty: "q" } }, {
      columns: { qty: "q" },
      missing: "error",
    }],
    [castSpec, { raw: "int64" }, { columns: { raw: "int64" }, bogus: 1 }, { columns: { raw: "int64" } }, {
      columns: { raw: "int64" },
      missing: "error",
    }],
    [dropSpec, ["raw"], { columns: ["raw"], bogus: 1 }, { columns: ["raw"] }, {
      columns: ["raw"],
      missing: "error",
    }],
    [deriveSpec, { total: "amount * qty" }, { columns: { t: "1" }, bogus: 1 }, { columns: { t: "1" } }, {
      columns: { t: "1" },
      replace: false,
    }],
    [filterSpec, "qty > 0", { where: "qty > 0", bogus: 1 }, { where: "qty > 0" }, {
      where: "qty > 0",
      nulls: "drop",
    }],
    [lookupSpec, LOOKUP_MINIMAL, { ...LOOKUP_MINIMAL, bogus: 1 }, LOOKUP_MINIMAL, {
      ...LOOKUP_MINIMAL,
      schema: "public",
      prefix: "",
      ttl: 300,
      cache: "auto",
      maxEntries: 100_000,
    }],
  ];
  assert.deepEqual(TRANSFORM_SPECS.map((s) => s.name).sort(), cases.map(([s]) => s.name).sort());
  for (const [spec, minimal, unknownKey, defaults, expected] of cases) {
    await t.step(`${spec.name}: minimal config parses`, () => {
      assert.equal(v.safeParse(spec.config, minimal).success, true);
    });
    await t.step(`${spec.name}: unknown key is rejected`, () => {
      assert.equal(v.safeParse(spec.config, unknownKey).success, false);
    });
    await t.step(`${spec.name}: defaults apply`, () => {
      assert.deepEqual(v.parse(spec.config, defaults), expected);
    });
  }
});

Deno.test("rename gives columns new names and keeps order, values and lines", async () => {
  const out = await run(renameSpec, { qty: "quantity", id: "order_id" });
  assert.deepEqual(out.schema.fields.map((f) => f.name), ["order_id", "amount", "quantity", "status", "raw"]);
  assert.deepEqual(rows(out)[0], { order_id: 1n, amount: "2.50", quantity: 4n, status: "paid", raw: "12" });
  assert.deepEqual([...out.lines], [2, 3, 5, 8]);
});

Deno.test("rename rejects missing and clashing columns at build", async (t) => {
  await t.step("missing column", async () => {
    await assert.rejects(
      build(renameSpec, { nope: "x" }),
      (e) => e instanceof ConfigError && /nope/.test(e.message),
    );
  });
  await t.step("missing column ignored", async () => {
    const out = await run(renameSpec, { columns: { nope: "x", qty: "q" }, missing: "ignore" });
    assert.ok(out.schema.fields.some((f) => f.name === "q"));
  });
  await t.step("two columns with one name", async () => {
    await assert.rejects(
      build(renameSpec, { qty: "id" }),
      (e) => e instanceof ConfigError && /same name: id/.test(e.message),
    );
  });
});

Deno.test("drop removes columns", async (t) => {
  await t.step("listed columns go", async () => {
    const out = await run(dropSpec, ["raw", "status"]);
    assert.deepEqual(out.schema.fields.map((f) => f.name), ["id", "amount", "qty"]);
    assert.deepEqual(Object.keys(out.columns), ["id", "amount", "qty"]);
  });
  await t.step("an unknown column fails at build", async () => {
    await assert.rejects(build(dropSpec, ["nope"]), ConfigError);
  });
  await t.step("dropping everything fails at build", async () => {
    await assert.rejects(build(dropSpec, FIELDS.map((f) => f.name)), /every column/);
  });
});

Deno.test("cast converts columns and nulls values that do not convert, counting them", async () => {
  const ctx = testContext(INPUT.schema);
  const out = await run(castSpec, { raw: "int64", amount: "float64", qty: "decimal(6,1)" }, ctx);
  assert.deepEqual(out.schema.fields, [
    { name: "id", type: "int64" },
    { name: "amount", type: "float64" },
    { name: "qty", type: "decimal", precision: 6, scale: 1 },
    { name: "status", type: "string" },
    { name: "raw", type: "int64" },
  ]);
  assert.deepEqual(rows(out).map((r) => [r.amount, r.qty, r.raw]), [
    [2.5, "4.0", 12n],
    [10, null, null],
    [null, "2.0", 7n],
    [0.99, "0.0", null],
  ]);
  const labels = { "component.kind": "transform", "component.name": "cast" };
  assert.equal(
    await counterValue(ctx, "weir_component_errors_total", labels),
    1,
    "only 'x' failed; null stays null",
  );
  assert.deepEqual(ctx.logs.at(-1)?.failed, { raw: 1 });
});

Deno.test("cast rejects unknown types and impossible casts at build", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ raw: "money" }, /Invalid type for column raw: unknown type "money"/],
    [{ raw: "decimal(40,2)" }, /Invalid type for column raw/],
    [{ nope: "int64" }, /does not have: nope/],
  ];
  for (const [config, message] of cases) {
    await t.step(JSON.stringify(config), async () => {
      await assert.rejects(
        build(castSpec, config),
        (e) => e instanceof ConfigError && message.test(e.message),
      );
    });
  }
  await t.step("date to int64", async () => {
    const input = batchFromRows([{ name: "d", type: "date" }], [["2024-01-01"]]);
    await assert.rejects(
      build(castSpec, { d: "int64" }, testContext(input.schema)),
      /Cannot cast column d from date to int64/,
    );
  });
});

Deno.test("derive adds typed columns in order, each seeing the ones before", async () => {
  const ctx = testContext(INPUT.schema);
  const out = await run(deriveSpec, {
    total: "amount * qty",
    big: "total > 5",
    label: "upper(status) || '#' || id",
    per_unit: "amount / qty",
  }, ctx);
  assert.deepEqual(out.schema.fields.slice(FIELDS.length), [
    { name: "total", type: "decimal", precision: 18, scale: 2 },
    { name: "big", type: "boolean" },
    { name: "label", type: "string" },
    { name: "per_unit", type: "decimal", precision: 18, scale: 6 },
  ]);
  assert.deepEqual(rows(out).map((r) => [r.total, r.big, r.label, r.per_unit]), [
    ["10.00", true, "PAID#1", "0.625000"],
    [null, null, "CANCELLED#2", null],
    [null, null, "NEW#3", null],
    ["0.00", false, "PAID#4", null],
  ]);
  assert.deepEqual([...out.lines], [2, 3, 5, 8]);
  const labels = { "component.kind": "transform", "component.name": "derive" };
  assert.equal(await counterValue(ctx, "weir_component_errors_total", labels), 1, "0.99 / 0");
});

Deno.test("derive checks every expression at build", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ total: "amont * qty" }, /unknown column "amont": did you mean "amount"\?/],
    [{ bad: "status + 1" }, /operator \+ needs numbers, got string and int64/],
    [{ qty: "qty + 1" }, /already exists: qty \(set replace: true/],
    [{ nothing: "null" }, /always null: cast it/],
    [{ span: "interval '1 day'" }, /interval cannot be stored/],
  ];
  for (const [config, message] of cases) {
    await t.step(JSON.stringify(config), async () => {
      await assert.rejects(build(deriveSpec, config), (e) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, message);
        assert.match(e.path, /^transforms\.derive\./);
        return true;
      });
    });
  }
  await t.step("an ExpressionError names the column of the problem", async () => {
    await assert.rejects(
      build(deriveSpec, { t: "amount +* 2" }),
      (e) => e instanceof ExpressionError && e.column === 9,
    );
  });
  await t.step("replace: true overwrites a column with its new type", async () => {
    const out = await run(deriveSpec, { columns: { qty: "cast(qty as string)" }, replace: true });
    assert.deepEqual(
      out.schema.fields.map((f) => [f.name, f.type]),
      FIELDS.map((f) => [f.name, f.name === "qty" ? "string" : f.type]),
    );
    assert.equal(rowObject(out, 0).qty, "4");
  });
});

Deno.test("filter keeps rows where the expression is true, with their lines", async (t) => {
  const cases: [unknown, number[]][] = [
    ["status != 'cancelled'", [1, 3, 4]],
    ["amount * qty > 1", [1]],
    ["qty > 0", [1, 3]],
    [{ where: "qty > 0", nulls: "keep" }, [1, 2, 3]],
    ["id in (2, 4) or starts_with(raw, '1')", [1, 2, 4]],
  ];
  for (const [config, ids] of cases) {
    await t.step(JSON.stringify(config), async () => {
      const ctx = testContext(INPUT.schema);
      const out = await run(filterSpec, config, ctx);
      assert.deepEqual(rows(out).map((r) => Number(r.id)), ids);
      assert.deepEqual([...out.lines], ids.map((id) => [2, 3, 5, 8][id - 1]));
      const labels = { "component.kind": "transform", "component.name": "filter" };
      assert.equal(await counterValue(ctx, "weir_component_dropped_events_total", labels), 4 - ids.length);
    });
  }
  await t.step("a non-boolean expression fails at build", async () => {
    await assert.rejects(
      build(filterSpec, "amount + 1"),
      /Filter must be a boolean expression: "amount \+ 1" is decimal/,
    );
  });
});
