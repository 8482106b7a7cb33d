import { deepStrictEqual, equal } from "node:assert/strict";
import { interpolateString } from "./interpolate.ts";
import { formatIssue, loadPipelines, SpecError } from "./spec.ts";
import { TEST_CATALOG } from "./spec_testing.ts";

const ENV: Record<string, string> = { HOST: "db.internal", EMPTY: "", PORT: "5432", TOPIC: "orders.clean" };
const env = (name: string) => ENV[name];

Deno.test("interpolateString replaces references from the environment", async (t) => {
  const table: { text: string; expected: ReturnType<typeof interpolateString> }[] = [
    {
      text: "postgres://${HOST}:${PORT}/db",
      expected: { ok: true, value: "postgres://db.internal:5432/db" },
    },
    { text: "${MISSING:-fallback}", expected: { ok: true, value: "fallback" } },
    { text: "${EMPTY:-fallback}", expected: { ok: true, value: "fallback" } },
    { text: "${HOST:-fallback}", expected: { ok: true, value: "db.internal" } },
    { text: "${MISSING:-}", expected: { ok: true, value: "" } },
    {
      text: "literal $${HOST} next to ${HOST}",
      expected: { ok: true, value: "literal ${HOST} next to db.internal" },
    },
    { text: "no references, $5", expected: { ok: true, value: "no references, $5" } },
    {
      text: "x-${MISSING}",
      expected: {
        ok: false,
        message: "Environment variable MISSING is not set (use ${MISSING:-default} for a fallback)",
      },
    },
    { text: "${HOST", expected: { ok: false, message: "Unterminated environment reference: ${HOST" } },
    {
      text: "${9LIVES}",
      expected: {
        ok: false,
        message: "Invalid environment variable name in ${9LIVES} (expected letters, digits and _)",
      },
    },
  ];
  for (const c of table) {
    await t.step(c.text, () => deepStrictEqual(interpolateString(c.text, env), c.expected));
  }
});

const SPEC = `pipelines:
  orders:
    source:
      http:
        maxBodySize: \${MAX_BODY:-64MiB}
    schema:
      columns:
        id:
          type: int64
          max: \${PORT}
        "\${HOST}": { type: string }
    sinks:
      - kafka: { topic: "\${TOPIC}" }
      - postgres: { table: '\${PORT}' }
`;

Deno.test("loadPipelines interpolates string values, typing plain single references, never keys", () => {
  const p = loadPipelines(SPEC, { catalog: TEST_CATALOG, env }).pipelines.get("orders")!;
  equal((p.source.config as { maxBodySize: number }).maxBodySize, 64 * 2 ** 20);
  deepStrictEqual(p.columns.map((c) => c.name), ["id", "${HOST}"]);
  equal((p.columns[0] as { max?: number }).max, 5432);
  deepStrictEqual(p.sinks[0].config, { topic: "orders.clean" });
  // Quoted: stays a string, so a table named by a number is still a name.
  deepStrictEqual(p.sinks[1].config, { table: "5432", mode: "append" });
});

Deno.test("loadPipelines names a missing variable with its line and YAML path", () => {
  try {
    loadPipelines(SPEC, { catalog: TEST_CATALOG, env: (name) => (name === "PORT" ? undefined : ENV[name]) });
    throw new Error("expected a SpecError");
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    deepStrictEqual(e.issues.map(formatIssue), [
      "weir.yaml:10:16: pipelines.orders.schema.columns.id.max: Environment variable PORT is not set (use ${PORT:-default} for a fallback)",
      "weir.yaml:14:28: pipelines.orders.sinks[1].postgres.table: Environment variable PORT is not set (use ${PORT:-default} for a fallback)",
    ]);
  }
});
