import assert from "node:assert/strict";
import postgres from "postgres";
import { Redis } from "@upstash/redis";
import * as v from "valibot";
import { type Batch, batchFromRows, rowObject } from "../batch.ts";
import { ConfigError } from "../errors.ts";
import { createLogger } from "../../observability/logger.ts";
import type { SqlExecutor, SqlParam, SqlRow } from "../../storage/sql.ts";
import { serveUpstashGateway } from "../../tools/upstash_gateway.ts";
import { buildLookup, LookupConfig } from "./lookup.ts";
import { MemoryLookupCache } from "./lookup_cache.ts";
import { counterValue, testContext } from "./testing.ts";

const DATABASE_URL = Deno.env.get("WEIR_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

/** The real PostgreSQL through postgres.js, as the query-only executor lookups need. */
function executor(sql: postgres.Sql): Pick<SqlExecutor, "query"> {
  return {
    query: async <R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []) =>
      (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as R[],
  };
}

interface Harness {
  sql: postgres.Sql;
  table: string;
  database: Pick<SqlExecutor, "query">;
}

/** A fresh lookup table with odd column names and every type, dropped afterwards. */
async function withTable(use: (h: Harness) => Promise<void>): Promise<void> {
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  const table = `weir lookup ${crypto.randomUUID().slice(0, 8)}`;
  const q = `"${table}"`;
  try {
    await sql.unsafe(`CREATE TABLE ${q} (
      code text PRIMARY KEY, id int4 UNIQUE, name text, population int8, area numeric(10,2), founded date,
      updated timestamptz, active boolean, ratio float8, "odd ""name""" text)`);
    await sql.unsafe(
      `INSERT INTO ${q} VALUES
        ('FR', 33, 'France', 68000000, 551695.50, '1958-10-04', '2024-01-02T03:04:05.123456Z', true, 0.5, 'fr'),
        ('DE', 49, 'Germany', 84000000, 357588.00, '1949-05-23', '1969-07-20T20:17:00Z', true, 1.25, 'de'),
        ('IS', 354, 'Iceland', 380000, NULL, NULL, NULL, false, NULL, NULL)`,
    );
    await use({ sql, table, database: executor(sql) });
  } finally {
    await sql.unsafe(`DROP TABLE IF EXISTS ${q}`).catch(() => {});
    await sql.end({ timeout: 5 });
  }
}

const ORDERS: Batch = batchFromRows(
  [{ name: "id", type: "int64" }, { name: "country", type: "string" }, { name: "country_id", type: "int64" }],
  [[1n, "FR", 33n], [2n, "DE", 49n], [3n, "FR", 33n], [4n, null, null], [5n, "XX", 1n], [6n, "IS", 354n]],
  { lines: [2, 3, 4, 5, 6, 7] },
);

const config = (table: string, extra: Record<string, unknown> = {}) =>
  v.parse(LookupConfig, {
    table,
    key: "code",
    on: "country",
    columns: ["name"],
    prefix: "country_",
    ...extra,
  });

const names = (batch: Batch) =>
  Array.from({ length: batch.length }, (_, i) => rowObject(batch, i).country_name);
const signal = () => AbortSignal.timeout(10_000);

Deno.test("lookup adds typed columns from PostgreSQL, nulls for missing keys, and keeps lines", async () => {
  await withTable(async ({ table, database }) => {
    const ctx = testContext(ORDERS.schema, { database });
    const columns = ["name", "population", "area", "founded", "updated", "active", "ratio", 'odd "name"'];
    const lookup = await buildLookup(config(table, { columns }), ctx);
    assert.deepEqual(lookup.schema.fields.slice(3), [
      { name: "country_name", type: "string" },
      { name: "country_population", type: "int64" },
      { name: "country_area", type: "decimal", precision: 10, scale: 2 },
      { name: "country_founded", type: "date" },
      { name: "country_updated", type: "timestamp" },
      { name: "country_active", type: "boolean" },
      { name: "country_ratio", type: "float64" },
      { name: 'country_odd "name"', type: "string" },
    ]);
    const out = await lookup.apply(ORDERS, signal());
    assert.deepEqual(rowObject(out, 0), {
      id: 1n,
      country: "FR",
      country_id: 33n,
      country_name: "France",
      country_population: 68000000n,
      country_area: "551695.50",
      country_founded: "1958-10-04",
      country_updated: "2024-01-02T03:04:05.123456Z",
      country_active: true,
      country_ratio: 0.5,
      'country_odd "name"': "fr",
    });
    assert.equal(rowObject(out, 1).country_updated, "1969-07-20T20:17:00.000000Z");
    assert.deepEqual(names(out), ["France", "Germany", "France", null, null, "Iceland"]);
    assert.deepEqual(rowObject(out, 5).country_area, null);
    assert.deepEqual([...out.lines], [2, 3, 4, 5, 6, 7]);
  });
});

Deno.test("lookup matches int64 keys against an int4 column", async () => {
  await withTable(async ({ table, database }) => {
    const ctx = testContext(ORDERS.schema, { database });
    const lookup = await buildLookup(config(table, { key: "id", on: "country_id", columns: ["code"] }), ctx);
    const out = await lookup.apply(ORDERS, signal());
    assert.deepEqual(
      Array.from({ length: out.length }, (_, i) => rowObject(out, i).country_code),
      ["FR", "DE", "FR", null, null, "IS"],
    );
  });
});

Deno.test("lookup caches in Redis: repeats are served from the cache until the TTL", async () => {
  await withTable(async ({ sql, table, database }) => {
    const token = crypto.randomUUID();
    const gateway = await serveUpstashGateway({
      port: 0,
      token,
      redisUrl: REDIS_URL,
      logger: createLogger({ write: () => {} }),
    });
    const redis = new Redis({ url: gateway.url, token, enableTelemetry: false, retry: false });
    const pipeline = `lookup-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const ctx = { ...testContext(ORDERS.schema, { database, redis }), pipeline };
      const lookup = await buildLookup(config(table, { ttl: 1.5 }), ctx);
      const labels = { pipeline, "lookup.table": table, "lookup.cache": "redis" };
      const count = (name: string) => counterValue(ctx, `weir_lookup_${name}_total`, labels);

      assert.deepEqual(names(await lookup.apply(ORDERS, signal())), [
        "France",
        "Germany",
        "France",
        null,
        null,
        "Iceland",
      ]);
      assert.deepEqual([await count("queries"), await count("cache_misses"), await count("cache_hits")], [
        1,
        4,
        0,
      ]);
      const keys = await redis.keys(`weir:lookup:${pipeline}:*`);
      assert.equal(keys.length, 4, "FR, DE, IS and the missing XX");
      const ttl = await redis.pttl(keys[0]);
      assert.ok(ttl > 0 && ttl <= 1500, `expected a TTL, got ${ttl}`);

      // The database changes; the cache still answers, so no query is sent.
      await sql.unsafe(`UPDATE "${table}" SET name = 'République française' WHERE code = 'FR'`);
      await sql.unsafe(`INSERT INTO "${table}" (code, name) VALUES ('XX', 'Nowhere')`);
      assert.deepEqual(names(await lookup.apply(ORDERS, signal())), [
        "France",
        "Germany",
        "France",
        null,
        null,
        "Iceland",
      ]);
      assert.deepEqual([await count("queries"), await count("cache_hits")], [1, 4]);

      // A second lookup (another worker or process) shares the cache.
      const other = await buildLookup(config(table, { ttl: 1.5 }), {
        ...ctx,
        telemetry: testContext(ORDERS.schema).telemetry,
      });
      assert.deepEqual(names(await other.apply(ORDERS, signal())).slice(0, 1), ["France"]);

      await new Promise((resolve) => setTimeout(resolve, 1600));
      assert.deepEqual(names(await lookup.apply(ORDERS, signal())), [
        "République française",
        "Germany",
        "République française",
        null,
        "Nowhere",
        "Iceland",
      ]);
      assert.equal(await count("queries"), 2);
    } finally {
      for (const key of await redis.keys(`weir:lookup:${pipeline}:*`).catch(() => [])) await redis.del(key);
      await gateway.shutdown();
    }
  });
});

Deno.test("lookup falls back to the database when Redis is down", async () => {
  await withTable(async ({ table, database }) => {
    const token = crypto.randomUUID();
    const gateway = await serveUpstashGateway({
      port: 0,
      token,
      redisUrl: REDIS_URL,
      logger: createLogger({ write: () => {} }),
    });
    const redis = new Redis({ url: gateway.url, token, enableTelemetry: false, retry: false });
    const ctx = testContext(ORDERS.schema, { database, redis });
    const lookup = await buildLookup(config(table), ctx);
    await gateway.shutdown();
    assert.deepEqual(names(await lookup.apply(ORDERS, signal())), [
      "France",
      "Germany",
      "France",
      null,
      null,
      "Iceland",
    ]);
    assert.ok(ctx.logs.some((l) => l.message === "Lookup cache unavailable: reading the database"));
  });
});

Deno.test("lookup caches in process when no Redis is configured", async () => {
  await withTable(async ({ sql, table, database }) => {
    const ctx = testContext(ORDERS.schema, { database });
    const lookup = await buildLookup(config(table, { ttl: 0.3 }), ctx);
    const labels = { pipeline: "test", "lookup.table": table, "lookup.cache": "memory" };
    const queries = () => counterValue(ctx, "weir_lookup_queries_total", labels);
    await lookup.apply(ORDERS, signal());
    await sql.unsafe(`UPDATE "${table}" SET name = 'Deutschland' WHERE code = 'DE'`);
    assert.equal(names(await lookup.apply(ORDERS, signal()))[1], "Germany", "served from the cache");
    assert.equal(await queries(), 1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal(names(await lookup.apply(ORDERS, signal()))[1], "Deutschland");
    assert.equal(await queries(), 2);
  });
});

Deno.test("MemoryLookupCache expires entries and evicts the oldest past its bound", async () => {
  let now = 0;
  const cache = new MemoryLookupCache({ maxEntries: 2, now: () => now });
  await cache.setMany([["a", { v: ["1"] }], ["b", { v: null }]], 100);
  assert.deepEqual(await cache.getMany(["a", "b", "c"]), [{ v: ["1"] }, { v: null }, undefined]);
  await cache.setMany([["c", { v: ["3"] }]], 100);
  assert.deepEqual(await cache.getMany(["a", "c"]), [undefined, { v: ["3"] }]);
  now = 100;
  assert.deepEqual(await cache.getMany(["b", "c"]), [undefined, undefined]);
});

Deno.test("lookup checks its config against the table and the input at build", async (t) => {
  await withTable(async ({ table, database }) => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["unknown table", { table: "no_such_table" }, /Lookup table not found: public.no_such_table/],
      ["unknown table column", { columns: ["nope"] }, /has no column nope/],
      ["unknown key column", { key: "nope" }, /has no column nope/],
      ["unknown input column", { on: "nope" }, /Unknown lookup column: nope/],
      ["key types differ", { key: "id" }, /input column country is string, .*id is int64/],
      ["clashing column", { columns: ["id"], prefix: "country_" }, /already exists in the input: country_id/],
      ["redis required", { cache: "redis" }, /Redis is not configured/],
    ];
    for (const [name, extra, message] of cases) {
      await t.step(name, async () => {
        const ctx = testContext(ORDERS.schema, { database });
        await assert.rejects(
          buildLookup(config(table, extra), ctx),
          (e) => e instanceof ConfigError && message.test(e.message),
        );
      });
    }
    await t.step("no database", async () => {
      await assert.rejects(buildLookup(config(table), testContext(ORDERS.schema)), /Lookup needs a database/);
    });
  });
});
