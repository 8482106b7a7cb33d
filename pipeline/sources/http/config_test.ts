import { deepStrictEqual, equal, match } from "node:assert/strict";
import * as v from "valibot";
import { HttpSourceConfigSchema } from "./config.ts";

Deno.test("http source config parses a minimal config with every default applied", () => {
  deepStrictEqual(v.parse(HttpSourceConfigSchema, {}), {
    formats: ["csv", "ndjson", "json"],
    encodings: ["identity", "gzip", "deflate"],
    maxBodySize: 10 * 2 ** 30,
    csv: { delimiter: ",", quote: '"', header: true, nullTokens: [""] },
    ack: "committed",
  });
});

Deno.test("http source config rejects unknown keys, also in the CSV dialect", async (t) => {
  for (const input of [{ format: ["csv"] }, { csv: { separator: ";" } }]) {
    await t.step(
      JSON.stringify(input),
      () => equal(v.safeParse(HttpSourceConfigSchema, input).success, false),
    );
  }
});

Deno.test("http source config keeps given values and checks them", async (t) => {
  const r = v.parse(HttpSourceConfigSchema, {
    formats: ["ndjson"],
    maxBodySize: "64MiB",
    csv: { delimiter: ";", nullTokens: ["", "NULL"] },
    ack: "accepted",
  });
  equal(r.maxBodySize, 64 * 2 ** 20);
  deepStrictEqual(r.csv, { delimiter: ";", quote: '"', header: true, nullTokens: ["", "NULL"] });
  const table: { name: string; input: unknown; message: RegExp }[] = [
    { name: "no formats", input: { formats: [] }, message: /at least one format/ },
    { name: "repeated format", input: { formats: ["csv", "csv"] }, message: /each format once/ },
    { name: "two-character delimiter", input: { csv: { delimiter: ";;" } }, message: /single character/ },
    {
      name: "delimiter equals quote",
      input: { csv: { delimiter: '"' } },
      message: /different from the quote/,
    },
    { name: "bad ack", input: { ack: "fsync" }, message: /committed/ },
  ];
  for (const c of table) {
    await t.step(
      c.name,
      () => match(v.safeParse(HttpSourceConfigSchema, c.input).issues?.[0].message ?? "", c.message),
    );
  }
});
