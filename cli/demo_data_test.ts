import { deepStrictEqual, equal, match, notDeepStrictEqual, ok } from "node:assert/strict";
import { parse } from "csv-parse/sync";
import {
  BAD_ROW_KINDS,
  type BadRowKind,
  DEMO_HEADER,
  demoDataCommand,
  type DemoDataIo,
  demoOrders,
  plannedBadRows,
} from "./demo_data.ts";
import { loadPipelines, toColumnRules } from "../pipeline/spec.ts";
import { PERMISSIVE_CATALOG } from "../pipeline/spec_testing.ts";

async function run(args: string[]): Promise<{ code: number; out: string; err: string[] }> {
  const chunks: Uint8Array[] = [];
  const err: string[] = [];
  const io: DemoDataIo = {
    write: (bytes) => {
      chunks.push(bytes.slice());
      return Promise.resolve();
    },
    stderr: (l) => err.push(l),
  };
  const code = await demoDataCommand(args, io);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  return { code, out: new TextDecoder().decode(all), err };
}

/** The example pipeline's rules, read from the repository's weir.yaml. */
async function exampleRules() {
  const text = await Deno.readTextFile(new URL("../weir.yaml", import.meta.url));
  const orders = loadPipelines(text, { catalog: PERMISSIVE_CATALOG, env: () => undefined }).pipelines.get(
    "orders",
  )!;
  return { columns: orders.columns.map((c) => c.name), rules: toColumnRules(orders) };
}

/** Why a row breaks the example pipeline's rules, or undefined when it passes. */
function breaks(
  row: string[],
  example: Awaited<ReturnType<typeof exampleRules>>,
  seenIds: Set<string>,
): string | undefined {
  if (row.length !== example.columns.length) return "ragged";
  const value = Object.fromEntries(example.columns.map((c, i) => [c, row[i]]));
  const { rules } = example;
  if (Number(value.amount) < Number(rules.amount.min)) return "negative_amount";
  if (value.country !== "" && !new RegExp(rules.country.pattern!).test(value.country)) return "bad_country";
  if (!rules.status.enum!.includes(value.status)) return "unknown_status";
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value.ts) || Number.isNaN(Date.parse(value.ts))) return "bad_timestamp";
  if (seenIds.has(value.id)) return "duplicate_id";
  seenIds.add(value.id);
  if (!/^\d+$/.test(value.id) || !/^\d+$/.test(value.qty) || Number(value.qty) < 1) return "other";
  if (!/^\d+\.\d{2}$/.test(value.amount)) return "other";
  return undefined;
}

Deno.test("demo-data writes a CSV for the example pipeline whose bad rows are exactly the planned ones", async () => {
  const rows = 5000;
  const { code, out } = await run(["--rows", String(rows), "--seed", "7"]);
  equal(code, 0);
  const records: string[][] = parse(out, { relax_column_count: true });
  const example = await exampleRules();
  deepStrictEqual(records[0], example.columns);
  equal(records[0].join(","), DEMO_HEADER);
  equal(records.length, rows + 1);

  const planned = plannedBadRows({ rows, seed: 7 });
  const found: { line: number; kind: string }[] = [];
  const seen = new Set<string>();
  // Every record here is one line (quoted names hold no line breaks), so the record index is the line.
  records.slice(1).forEach((row, i) => {
    const kind = breaks(row, example, seen);
    if (kind) found.push({ line: i + 2, kind });
  });
  deepStrictEqual(found, planned);
  const kinds = new Set(planned.map((b) => b.kind));
  deepStrictEqual([...kinds].sort(), (Object.keys(BAD_ROW_KINDS) as BadRowKind[]).sort());
  equal(planned.length, 6 * 10);
});

Deno.test("demo-data quotes names with commas and quotes and keeps nulls rare", async () => {
  const { out } = await run(["--rows", "2000"]);
  match(out, /"Müller, Anna"/);
  match(out, /"Dana ""DJ"" Jones"/);
  const records: string[][] = parse(out, { relax_column_count: true, from_line: 2 });
  const nulls = records.filter((r) => r.length === 7 && r[3] === "").length;
  ok(nulls > 0 && nulls / records.length < 0.01, `nulls: ${nulls}`);
});

Deno.test("demo-data is the same for the same seed and differs for another", () => {
  const a = [...demoOrders({ rows: 300, seed: 1 })];
  deepStrictEqual([...demoOrders({ rows: 300, seed: 1 })], a);
  notDeepStrictEqual([...demoOrders({ rows: 300, seed: 2 })], a);
});

Deno.test("demo-data has no bad rows when there are too few rows to spare them", () => {
  deepStrictEqual(plannedBadRows({ rows: 19, seed: 42 }), []);
  equal([...demoOrders({ rows: 0, seed: 42 })].join("\n"), DEMO_HEADER);
});

Deno.test("demo-data exits with a code that says what went wrong", async (t) => {
  const table: { name: string; args: string[]; code: number; err?: RegExp; out?: RegExp }[] = [
    { name: "help", args: ["--help"], code: 0, out: /^Usage: weir demo-data[\s\S]*negative_amount/ },
    {
      name: "bad rows",
      args: ["--rows", "ten"],
      code: 2,
      err: /^Invalid --rows: expected a whole number, got ten$/,
    },
    {
      name: "missing seed",
      args: ["--seed"],
      code: 2,
      err: /^Invalid --seed: expected a whole number below 2\^32, got nothing$/,
    },
    { name: "unknown argument", args: ["--format", "csv"], code: 2, err: /^Unknown argument: --format/ },
  ];
  for (const c of table) {
    await t.step(c.name, async () => {
      const r = await run(c.args);
      equal(r.code, c.code);
      if (c.err) match(r.err.join("\n"), c.err);
      if (c.out) match(r.out, c.out);
    });
  }
});
