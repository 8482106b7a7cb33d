import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { componentsMarkdown, specJsonSchema } from "./spec_docs.ts";
import { TEST_CATALOG } from "./spec_testing.ts";
import { generatedDocs } from "../tools/docs.ts";

Deno.test("docs/weir.schema.json and docs/components.md are up to date (run deno task docs)", async (t) => {
  for (const [path, text] of Object.entries(generatedDocs())) {
    await t.step(path, async () => {
      const committed = await Deno.readTextFile(new URL(`../${path}`, import.meta.url));
      equal(committed, text, `${path} is out of date: run deno task docs`);
    });
  }
});

Deno.test("the JSON Schema accepts the example weir.yaml and rejects what the loader rejects", async (t) => {
  const validate = new Ajv({ strict: false, allErrors: true }).compile(specJsonSchema(TEST_CATALOG));
  const example = parse(await Deno.readTextFile(new URL("../weir.yaml", import.meta.url)));
  const table: { name: string; doc: unknown; valid: boolean }[] = [
    { name: "example", doc: example, valid: true },
    {
      name: "unknown pipeline key",
      doc: { pipelines: { orders: { ...example.pipelines.orders, sink: [] } } },
      valid: false,
    },
    {
      name: "unknown sink",
      doc: { pipelines: { orders: { ...example.pipelines.orders, sinks: [{ postgress: { table: "x" } }] } } },
      valid: false,
    },
    {
      name: "windows",
      doc: { pipelines: { orders: { ...example.pipelines.orders, windows: [] } } },
      valid: false,
    },
    { name: "bad pipeline name", doc: { pipelines: { Orders: example.pipelines.orders } }, valid: false },
  ];
  for (const c of table) {
    await t.step(c.name, () => equal(validate(c.doc), c.valid, JSON.stringify(validate.errors)));
  }
});

Deno.test("componentsMarkdown lists every component with its fields, types, defaults and descriptions", () => {
  const md = componentsMarkdown(TEST_CATALOG);
  for (const name of ["http", "file", "derive", "filter", "postgres", "kafka", "redis"]) {
    match(md, new RegExp(`^### \`${name}\`$`, "m"));
  }
  match(md, /^\| `mode` \| "append" \\\| "upsert" \| `"append"` \| How rows are written \|$/m);
  match(md, /^\| `table` \| string \| required \| Table \|$/m);
  match(md, /^\| `csv\.delimiter` \| string \| `","` \| Field separator/m);
  match(md, /^\| `sinks` \| list of \[Sink\]\(#sinks\) \| required \|/m);
  match(md, /^### `type: decimal`$/m);
  match(md, /^### `expect: null_ratio`$/m);
  ok(md.endsWith("\n") && !md.endsWith("\n\n"));
});

Deno.test("specJsonSchema names components, columns and checks in its definitions", () => {
  const schema = specJsonSchema(TEST_CATALOG) as { $schema: string; $defs: Record<string, unknown> };
  equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
  deepStrictEqual(Object.keys(schema.$defs).sort(), ["Check", "Column", "Sink", "Source", "Transform"]);
});
