import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import {
  formatIssue,
  formatPath,
  loadPipelines,
  MAX_REPORTED_ISSUES,
  SpecError,
  toColumnRules,
  toPipelineSchema,
} from "./spec.ts";
import { TEST_CATALOG } from "./spec_testing.ts";

const MINIMAL = `pipelines:
  orders:
    source: { http: {} }
    schema:
      columns:
        id: { type: int64 }
    sinks: [ { postgres: { table: orders } } ]
`;

function load(text: string, env: Record<string, string> = {}) {
  return loadPipelines(text, { catalog: TEST_CATALOG, env: (name) => env[name] });
}

/** The problems loading `text` reports, formatted. */
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (e) {
    if (e instanceof SpecError) return e.issues.map(formatIssue);
    throw e;
  }
  throw new Error("expected the spec to be rejected");
}

/** MINIMAL with the columns replaced (`columns` is indented under `columns:`). */
function withColumns(columns: string, extra = ""): string {
  return `pipelines:
  orders:
    source: { http: {} }
    schema:
      key: [id]
      columns:
${columns.trim().split("\n").map((l) => `        ${l.trim()}`).join("\n")}
    sinks: [ { postgres: { table: orders } } ]
${extra}`;
}

Deno.test("loadPipelines parses a minimal pipeline and applies the schema's defaults", () => {
  const spec = load(MINIMAL);
  equal(spec.file, "weir.yaml");
  const p = spec.pipelines.get("orders");
  ok(p);
  equal(p.source.spec.name, "http");
  deepStrictEqual(p.source.config, {
    formats: ["csv", "ndjson", "json"],
    encodings: ["identity", "gzip", "deflate"],
    maxBodySize: 10 * 2 ** 30,
    csv: { delimiter: ",", quote: '"', header: true, nullTokens: [""] },
    ack: "committed",
  });
  deepStrictEqual(p.key, []);
  deepStrictEqual(p.columns, [{ name: "id", type: "int64", required: false, unique: false }]);
  deepStrictEqual(p.transforms, []);
  deepStrictEqual(p.checks, []);
  equal(p.sinks.length, 1);
  deepStrictEqual(p.sinks[0].config, { table: "orders", mode: "append" });
  equal(p.sinks[0].path, "pipelines.orders.sinks[0].postgres");
  equal(p.sinks[0].at, "weir.yaml:7:16");
  equal(p.rejects, "dlq");
  deepStrictEqual(p.limits, {
    chunkSize: 4 * 2 ** 20,
    maxConcurrentIngests: 16,
    maxRejectRatio: 1,
    responseRejects: 100,
  });
  equal(p.at, "weir.yaml:2:3");
});

Deno.test("loadPipelines applies decimal defaults and keeps explicit values", () => {
  const p = load(withColumns(`
    id: { type: int64 }
    a: { type: decimal }
    b: { type: decimal, precision: 10, scale: 4, min: "0.0001" }
  `)).pipelines.get("orders")!;
  deepStrictEqual(p.columns.slice(1), [
    { name: "a", type: "decimal", required: false, precision: 18, scale: 2, unique: false },
    { name: "b", type: "decimal", required: false, precision: 10, scale: 4, min: "0.0001", unique: false },
  ]);
});

Deno.test("loadPipelines rejects unknown keys with the YAML path, line and column", async (t) => {
  const table: { name: string; text: string; expected: string }[] = [
    {
      name: "top level",
      text: "pipelines: {}\nversion: 2\n",
      expected: "weir.yaml:2:1: version: Unknown key (expected one of pipelines)",
    },
    {
      name: "pipeline",
      text: MINIMAL + "    sink: []\n",
      expected:
        "weir.yaml:8:5: pipelines.orders.sink: Unknown key, did you mean sinks? (expected one of description, source, schema, transforms, checks, sinks, rejects, limits)",
    },
    {
      name: "column",
      text: withColumns("id: { type: int64, nullable: true }"),
      expected:
        "weir.yaml:7:28: pipelines.orders.schema.columns.id.nullable: Unknown key (expected one of type, required, description, min, max, unique)",
    },
    {
      name: "component config",
      text: MINIMAL.replace("{ table: orders }", "{ table: orders, tabel: x }"),
      expected:
        "weir.yaml:7:43: pipelines.orders.sinks[0].postgres.tabel: Unknown key, did you mean table? (expected one of table, mode)",
    },
    {
      name: "source config",
      text: MINIMAL.replace("{ http: {} }", "{ http: { format: [csv] } }"),
      expected:
        "weir.yaml:3:23: pipelines.orders.source.http.format: Unknown key, did you mean formats? (expected one of formats, encodings, maxBodySize, csv, ack)",
    },
  ];
  for (const c of table) {
    await t.step(c.name, () => deepStrictEqual(problems(c.text), [c.expected]));
  }
});

Deno.test("loadPipelines formats a wrong value as file:line:column: path: expected …, got …", () => {
  const text = MINIMAL.replace("{ table: orders }", "{ table: orders, mode: merge }");
  deepStrictEqual(problems(text, {}), [
    'weir.yaml:7:49: pipelines.orders.sinks[0].postgres.mode: expected "append" | "upsert", got "merge"',
  ]);
  const error = (() => {
    try {
      loadPipelines(text, { catalog: TEST_CATALOG, file: "conf/weir.yaml" });
    } catch (e) {
      return e;
    }
  })();
  ok(error instanceof SpecError);
  equal(error.path, "pipelines.orders.sinks[0].postgres.mode");
  equal(
    error.message,
    'Invalid pipeline spec: conf/weir.yaml has 1 problem:\n  conf/weir.yaml:7:49: pipelines.orders.sinks[0].postgres.mode: expected "append" | "upsert", got "merge"',
  );
});

Deno.test("loadPipelines names unknown components and lists the known ones", async (t) => {
  const table: { name: string; text: string; expected: string }[] = [
    {
      name: "sink",
      text: MINIMAL.replace("postgres:", "postgress:"),
      expected:
        "weir.yaml:7:16: pipelines.orders.sinks[0].postgress: Unknown sink: postgress (expected one of postgres, kafka, redis, file)",
    },
    {
      name: "source",
      text: MINIMAL.replace("{ http: {} }", "{ s3: {} }"),
      expected: "weir.yaml:3:15: pipelines.orders.source.s3: Unknown source: s3 (expected one of http, file)",
    },
    {
      name: "transform",
      text: MINIMAL + "    transforms: [ { drop: [a] } ]\n",
      expected:
        "weir.yaml:8:21: pipelines.orders.transforms[0].drop: Unknown transform: drop (expected one of derive, filter)",
    },
    {
      name: "entry with two keys",
      text: MINIMAL.replace(
        "[ { postgres: { table: orders } } ]",
        "[ { postgres: { table: a }, kafka: { topic: b } } ]",
      ),
      expected:
        "weir.yaml:7:14: pipelines.orders.sinks[0]: expected a sink as a map with one key naming it (one of postgres, kafka, redis, file), got 2 keys: postgres, kafka",
    },
    {
      name: "entry that is a string",
      text: MINIMAL.replace("{ http: {} }", "http"),
      expected:
        'weir.yaml:3:13: pipelines.orders.source: expected a source as a map with one key naming it (one of http, file), got "http"',
    },
  ];
  for (const c of table) {
    await t.step(c.name, () => deepStrictEqual(problems(c.text), [c.expected]));
  }
});

Deno.test("loadPipelines checks fields against each other", async (t) => {
  const table: { name: string; text: string; expected: RegExp }[] = [
    {
      name: "key column exists",
      text: withColumns("id: { type: int64 }").replace("key: [id]", "key: [id, order_id]"),
      expected:
        /^weir\.yaml:5:17: pipelines\.orders\.schema\.key\[1\]: Key column order_id is not in columns \(expected one of id\)$/,
    },
    {
      name: "key column listed once",
      text: withColumns("id: { type: int64 }").replace("key: [id]", "key: [id, id]"),
      expected: /schema\.key\[1\]: Key column id is listed twice$/,
    },
    {
      name: "pattern compiles",
      text: withColumns(`id: { type: int64 }\ncountry: { type: string, pattern: "^[A-Z{2}$" }`),
      expected:
        /^weir\.yaml:8:43: pipelines\.orders\.schema\.columns\.country\.pattern: Pattern does not compile: .*character class/,
    },
    {
      name: "enum has values",
      text: withColumns("id: { type: int64 }\nstatus: { type: enum, values: [] }"),
      expected: /columns\.status\.values: expected at least one value for an enum/,
    },
    {
      name: "enum values are distinct",
      text: withColumns("id: { type: int64 }\nstatus: { type: enum, values: [a, b, a] }"),
      expected: /columns\.status\.values: expected each enum value once/,
    },
    {
      name: "enum needs values",
      text: withColumns("id: { type: int64 }\nstatus: { type: enum }"),
      expected: /columns\.status: Missing key: values$/,
    },
    {
      name: "int64 min ≤ max",
      text: withColumns("id: { type: int64, min: 10, max: 1 }"),
      expected: /columns\.id\.max: Max is less than min: 1 < 10$/,
    },
    {
      name: "decimal min ≤ max",
      text: withColumns(`id: { type: int64 }\namount: { type: decimal, min: "10.5", max: 10.25 }`),
      expected: /columns\.amount\.max: Max is less than min: 10\.25 < 10\.5$/,
    },
    {
      name: "date min ≤ max",
      text: withColumns("id: { type: int64 }\nday: { type: date, min: 2026-02-01, max: 2026-01-31 }"),
      expected: /columns\.day\.max: Max is less than min: 2026-01-31 < 2026-02-01$/,
    },
    {
      name: "timestamp min ≤ max",
      text: withColumns(
        `id: { type: int64 }\nts: { type: timestamp, min: "2026-01-01T00:00:01Z", max: "2026-01-01T00:00:00Z" }`,
      ),
      expected: /columns\.ts\.max: Max is less than min/,
    },
    {
      name: "minLength ≤ maxLength",
      text: withColumns("id: { type: int64 }\nname: { type: string, minLength: 5, maxLength: 2 }"),
      expected: /columns\.name\.maxLength: maxLength is less than minLength: 2 < 5$/,
    },
    {
      name: "decimal precision ≤ 18",
      text: withColumns("id: { type: int64 }\namount: { type: decimal, precision: 19 }"),
      expected:
        /columns\.amount\.precision: expected a precision of at most 18 \(decimals are stored as int64\), got 19$/,
    },
    {
      name: "decimal scale ≤ precision",
      text: withColumns("id: { type: int64 }\namount: { type: decimal, precision: 4, scale: 6 }"),
      expected: /columns\.amount\.scale: Scale is greater than precision: 6 > 4$/,
    },
    {
      name: "unique only where the kernel checks it",
      text: withColumns("id: { type: int64 }\nname: { type: string, unique: true }"),
      expected: /columns\.name\.unique: unique is supported on int64, decimal and timestamp columns only$/,
    },
    {
      name: "date bounds are dates",
      text: withColumns("id: { type: int64 }\nday: { type: date, min: yesterday }"),
      expected: /columns\.day\.min: expected an ISO date such as 2026-01-31, got "yesterday"$/,
    },
    {
      name: "column type is known",
      text: withColumns("id: { type: money }"),
      expected:
        /columns\.id\.type: expected "int64" \| "float64" \| "decimal" \| "boolean" \| "date" \| "timestamp" \| "string" \| "enum", got "money"$/,
    },
    {
      name: "check column exists",
      text: withColumns("id: { type: int64 }", "    checks: [ { expect: unique, column: idx } ]\n"),
      expected:
        /^weir\.yaml:9:41: pipelines\.orders\.checks\[0\]\.column: Unknown column: idx \(expected one of id\)$/,
    },
    {
      name: "numeric check on a numeric column",
      text: withColumns(
        "id: { type: int64 }\nname: { type: string }",
        "    checks: [ { expect: mean, column: name, max: 3 } ]\n",
      ),
      expected: /checks\[0\]\.column: expect: mean needs a numeric column, name is string$/,
    },
    {
      name: "check has bounds",
      text: withColumns("id: { type: int64 }", "    checks: [ { expect: row_count } ]\n"),
      expected: /checks\[0\]: Expected min, max or both$/,
    },
    {
      name: "check min ≤ max",
      text: withColumns("id: { type: int64 }", "    checks: [ { expect: row_count, min: 5, max: 1 } ]\n"),
      expected: /checks\[0\]\.max: Max is less than min: 1 < 5$/,
    },
    {
      name: "null ratio is a ratio",
      text: withColumns(
        "id: { type: int64 }",
        "    checks: [ { expect: null_ratio, column: id, max: 2 } ]\n",
      ),
      expected: /checks\[0\]\.max: expected a ratio from 0 to 1, got 2$/,
    },
    {
      name: "windows are refused, not ignored",
      text: withColumns("id: { type: int64 }", "    windows: [ { name: revenue_1m, tumbling: 1m } ]\n"),
      expected: /^weir\.yaml:9:14: pipelines\.orders\.windows: Windows are not supported yet$/,
    },
    {
      name: "pipeline name",
      text: MINIMAL.replace("  orders:", "  Orders:"),
      expected:
        /^weir\.yaml:2:3: pipelines\.Orders: expected a pipeline name of lowercase letters, digits, _ and -, starting with a letter, got "Orders"$/,
    },
    {
      name: "a sink is required",
      text: MINIMAL.replace("[ { postgres: { table: orders } } ]", "[]"),
      expected: /pipelines\.orders\.sinks: expected at least one sink/,
    },
    {
      name: "missing key points at the parent",
      text: MINIMAL.replace("    source: { http: {} }\n", ""),
      expected: /^weir\.yaml:2:3: pipelines\.orders: Missing key: source$/,
    },
  ];
  for (const c of table) {
    await t.step(c.name, () => {
      const found = problems(c.text);
      equal(found.length, 1, found.join("\n"));
      match(found[0], c.expected);
    });
  }
});

Deno.test("loadPipelines reports every problem in file order, up to the cap", () => {
  const columns = Array.from({ length: 30 }, (_, i) => `c${i}: { type: int64, min: 2, max: 1 }`).join("\n");
  try {
    load(withColumns(`id: { type: int64 }\n${columns}`).replace("rejects", "x") + "    rejects: never\n");
    throw new Error("expected a SpecError");
  } catch (e) {
    ok(e instanceof SpecError);
    equal(e.total, 31);
    equal(e.issues.length, MAX_REPORTED_ISSUES);
    const lines = e.issues.map((i) => i.line);
    deepStrictEqual(lines, [...lines].sort((a, b) => a - b));
    match(e.message, /has 31 problems:/);
    match(e.message, /… and 11 more$/);
  }
});

Deno.test("loadPipelines reports YAML syntax errors with line and column", async (t) => {
  const table: { name: string; text: string; expected: RegExp }[] = [
    {
      name: "unclosed flow map",
      text: "pipelines:\n  orders:\n    source: { http: {}\n",
      expected: /^weir\.yaml:\d+:\d+: YAML syntax error: /,
    },
    {
      name: "bad indentation",
      text: "pipelines:\n  a: 1\n b: 2\n",
      expected: /^weir\.yaml:3:\d+: YAML syntax error: /,
    },
    {
      name: "duplicate key",
      text: "pipelines:\n  orders: {}\n  orders: {}\n",
      expected: /^weir\.yaml:3:3: YAML syntax error: Map keys must be unique/,
    },
  ];
  for (const c of table) {
    await t.step(c.name, () => match(problems(c.text)[0], c.expected));
  }
});

Deno.test("loadPipelines rejects a document that is not a map of pipelines", async (t) => {
  const table: { name: string; text: string; expected: string }[] = [
    { name: "empty", text: "", expected: "weir.yaml:1:1: expected a map, got null" },
    { name: "list", text: "- a\n", expected: "weir.yaml:1:1: expected a map, got a list" },
    { name: "no pipelines", text: "{}\n", expected: "weir.yaml:1:1: Missing key: pipelines" },
  ];
  for (const c of table) {
    await t.step(c.name, () => deepStrictEqual(problems(c.text), [c.expected]));
  }
});

Deno.test("loadPipelines keeps columns in the order they are written", () => {
  const p = load(
    withColumns("id: { type: int64 }\nname: { type: string }\n2024: { type: float64 }\n_a: { type: date }"),
  )
    .pipelines.get("orders")!;
  deepStrictEqual(p.columns.map((c) => c.name), ["id", "name", "2024", "_a"]);
});

Deno.test("loadPipelines returns pipelines in a Map that does not reach Object's prototype", () => {
  const spec = load(MINIMAL);
  equal(spec.pipelines.get("constructor"), undefined);
  equal(spec.pipelines.get("__proto__"), undefined);
  deepStrictEqual([...spec.pipelines.keys()], ["orders"]);
});

Deno.test("toPipelineSchema maps enum to string and keeps decimal precision and scale", () => {
  const p = load(withColumns(`
    id: { type: int64 }
    amount: { type: decimal, precision: 12, scale: 2 }
    status: { type: enum, values: [new, paid] }
    ts: { type: timestamp }
  `)).pipelines.get("orders")!;
  deepStrictEqual(toPipelineSchema(p), {
    key: ["id"],
    fields: [
      { name: "id", type: "int64" },
      { name: "amount", type: "decimal", precision: 12, scale: 2 },
      { name: "status", type: "string" },
      { name: "ts", type: "timestamp" },
    ],
  });
});

Deno.test("toColumnRules maps column rules onto validate's rules and makes key columns required", () => {
  const p = load(withColumns(`
    id: { type: int64, unique: true }
    amount: { type: decimal, min: 0, max: "99.99" }
    country: { type: string, pattern: "^[A-Z]{2}$", minLength: 2, maxLength: 2, required: true }
    status: { type: enum, values: [new, paid] }
    day: { type: date, min: 2026-01-01 }
  `)).pipelines.get("orders")!;
  deepStrictEqual(toColumnRules(p), {
    id: { required: true, unique: true },
    amount: { min: 0, max: "99.99" },
    country: { required: true, pattern: "^[A-Z]{2}$", minLength: 2, maxLength: 2 },
    status: { enum: ["new", "paid"] },
    day: { min: "2026-01-01" },
  });
});

Deno.test("formatPath quotes keys that are not plain names", async (t) => {
  const table: { keys: (string | number)[]; expected: string }[] = [
    {
      keys: ["pipelines", "orders", "sinks", 0, "postgres", "mode"],
      expected: "pipelines.orders.sinks[0].postgres.mode",
    },
    { keys: ["columns", "order id"], expected: 'columns["order id"]' },
    { keys: [], expected: "" },
  ];
  for (const c of table) await t.step(c.expected || "empty", () => equal(formatPath(c.keys), c.expected));
});

Deno.test("loadPipelines throws nothing but SpecError for bad input", () => {
  throws(() => load("pipelines: [\n"), SpecError);
});
