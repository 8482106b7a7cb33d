import { deepStrictEqual, equal } from "node:assert/strict";
import * as v from "valibot";
import { FileSourceConfigSchema } from "./config.ts";

Deno.test("file source config parses a minimal config with every default applied", () => {
  deepStrictEqual(v.parse(FileSourceConfigSchema, { path: "inbox" }), {
    path: "inbox",
    glob: "*",
    pollInterval: 5000,
    after: "move",
    moveTo: "processed",
    format: "auto",
    csv: { delimiter: ",", quote: '"', header: true, nullTokens: [""] },
  });
});

Deno.test("file source config rejects unknown keys and missing or bad values", async (t) => {
  const table: { name: string; input: unknown }[] = [
    { name: "unknown key", input: { path: "inbox", interval: "5s" } },
    { name: "no path", input: {} },
    { name: "poll interval too short", input: { path: "inbox", pollInterval: "10ms" } },
    { name: "poll interval without unit", input: { path: "inbox", pollInterval: 5 } },
    { name: "unknown after", input: { path: "inbox", after: "delete" } },
  ];
  for (const c of table) {
    await t.step(c.name, () => equal(v.safeParse(FileSourceConfigSchema, c.input).success, false));
  }
});
