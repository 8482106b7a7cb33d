import assert from "node:assert/strict";
import * as v from "valibot";
import { Redis } from "@upstash/redis";
import { batchFromRows } from "../../batch.ts";
import { ConfigError } from "../../errors.ts";
import { serveUpstashGateway } from "../../../tools/upstash_gateway.ts";
import { createLogger } from "../../../observability/logger.ts";
import { COMPLIANCE_SCHEMA, sinkCompliance, type TextRow } from "../compliance.ts";
import { sinkTestContext } from "../testing.ts";
import { redisSink, RedisSinkConfig } from "./mod.ts";

const parse = (input: unknown) => v.parse(RedisSinkConfig, input);
const signal = new AbortController().signal;
const TOKEN = "weir-redis-sink-test";

async function withRedis(fn: (redis: Redis, prefix: string) => Promise<void>): Promise<void> {
  await using gateway = await serveUpstashGateway({
    port: 0,
    token: TOKEN,
    logger: createLogger({ level: "error" }),
  });
  // No automatic JSON parsing: "12.30" must come back as text, not the number 12.3.
  const redis = new Redis({
    url: gateway.url,
    token: TOKEN,
    enableTelemetry: false,
    automaticDeserialization: false,
  });
  const prefix = `weir-test:${crypto.randomUUID()}`;
  try {
    await fn(redis, prefix);
  } finally {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, { match: `${prefix}*`, count: 1000 });
      if (keys.length > 0) await redis.del(...keys);
      cursor = String(next);
    } while (cursor !== "0");
  }
}

/** A flat `[field, value, …]` reply (no automatic deserialization) as an object. */
function pairs(reply: unknown): Record<string, string> {
  const flat = (reply ?? []) as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

/** XRANGE's raw reply as the entries' field maps, in stream order. */
async function streamEntries(redis: Redis, key: string): Promise<Record<string, string>[]> {
  const raw = (await redis.xrange(key, "-", "+")) as unknown as [string, string[]][];
  return raw.map(([, fields]) => pairs(fields));
}

function toRow(entry: Record<string, unknown> | null): TextRow {
  const row: TextRow = {};
  for (const f of COMPLIANCE_SCHEMA.fields) {
    row[f.name] = entry?.[f.name] === undefined ? null : String(entry[f.name]);
  }
  return row;
}

Deno.test("redis sink config parses a minimal config", () => {
  assert.equal(parse({}).mode, "hash");
});

Deno.test("redis sink config rejects an unknown key", () => {
  assert.throws(() => parse({ mode: "stream", ttl: 5 }), v.ValiError);
});

Deno.test("redis sink config applies defaults", () => {
  assert.deepEqual(parse({}), { mode: "hash", chunkRows: 1000, markerTtlSeconds: 604_800 });
});

Deno.test("redis sink passes compliance in hash mode", async (t) => {
  await withRedis(async (redis, prefix) => {
    await sinkCompliance(t, {
      name: "redis",
      makeSink: (telemetry) =>
        redisSink.build(
          parse({ prefix, chunkRows: 3 }),
          sinkTestContext(COMPLIANCE_SCHEMA, { redis, telemetry }),
        ),
      async readBack() {
        // SCAN pages through the whole keyspace: one call may return none of ours when other tests left keys.
        const keys: string[] = [];
        let cursor = "0";
        do {
          const [next, page] = await redis.scan(cursor, { match: `${prefix}:*`, count: 1000 });
          keys.push(...page);
          cursor = String(next);
        } while (cursor !== "0");
        const rows = keys.filter((k) => !k.includes(":__weir:"));
        return Promise.all(rows.map(async (k) => toRow(pairs(await redis.hgetall(k)))));
      },
    });
  });
});

Deno.test("redis sink passes compliance in stream mode", async (t) => {
  await withRedis(async (redis, prefix) => {
    await sinkCompliance(t, {
      name: "redis",
      makeSink: (telemetry) =>
        redisSink.build(
          parse({ prefix, mode: "stream", chunkRows: 3 }),
          sinkTestContext(COMPLIANCE_SCHEMA, { redis, telemetry }),
        ),
      async readBack() {
        return (await streamEntries(redis, prefix)).map(toRow);
      },
    });
  });
});

Deno.test("redis sink hash mode clears a field set to null and applies the TTL", async () => {
  await withRedis(async (redis, prefix) => {
    const schema = {
      key: ["id"],
      fields: [{ name: "id", type: "int64" }, { name: "v", type: "string" }],
    } as const;
    const sink = await redisSink.build(parse({ prefix, ttlSeconds: 60 }), sinkTestContext(schema, { redis }));
    await sink.write(batchFromRows(schema.fields, [[1n, "a"]]), { runId: "r", sequence: 0, signal });
    await sink.write(batchFromRows(schema.fields, [[1n, null]]), { runId: "r", sequence: 1, signal });
    assert.deepEqual(pairs(await redis.hgetall(`${prefix}:1`)), { id: "1" });
    const ttl = await redis.ttl(`${prefix}:1`);
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
    await sink.close();
  });
});

Deno.test("redis sink stream mode keeps one entry per row across retries and concurrent duplicates", async () => {
  await withRedis(async (redis, prefix) => {
    const schema = { key: [], fields: [{ name: "n", type: "int64" }] } as const;
    const sink = await redisSink.build(
      parse({ prefix, mode: "stream", chunkRows: 10 }),
      sinkTestContext(schema, { redis }),
    );
    const batch = batchFromRows(schema.fields, Array.from({ length: 95 }, (_, i) => [BigInt(i)]));
    await Promise.all([0, 1, 2].map(() => sink.write(batch, { runId: "r_dup", sequence: 0, signal })));
    const entries = await streamEntries(redis, prefix);
    assert.deepEqual(entries.map((e) => Number(e.n)), Array.from({ length: 95 }, (_, i) => i));
    await sink.close();
  });
});

Deno.test("redis sink needs a key in hash mode", async () => {
  await withRedis(async (redis) => {
    await assert.rejects(
      redisSink.build(
        parse({}),
        sinkTestContext({ key: [], fields: [{ name: "a", type: "int64" }] }, { redis }),
      ),
      (error: unknown) => error instanceof ConfigError && error.path === "sinks.redis.mode",
    );
  });
});

Deno.test("redis sink isRetriable accepts network failures but not command errors", () => {
  assert.equal(redisSink.isRetriable(new TypeError("fetch failed")), true);
  assert.equal(redisSink.isRetriable(new Error("LOADING Redis is loading the dataset in memory")), true);
  assert.equal(
    redisSink.isRetriable(new Error("WRONGTYPE Operation against a key holding the wrong kind of value")),
    false,
  );
});

Deno.test("redis sink stream mode expires the stream after ttlSeconds and trims it to about maxLen", async () => {
  await withRedis(async (redis, prefix) => {
    const schema = { key: [], fields: [{ name: "n", type: "int64" }] } as const;
    const sink = await redisSink.build(
      parse({ prefix, mode: "stream", ttlSeconds: 120, maxLen: 50 }),
      sinkTestContext(schema, { redis }),
    );
    const batch = batchFromRows(schema.fields, Array.from({ length: 1000 }, (_, i) => [BigInt(i)]));
    await sink.write(batch, { runId: "r_trim", sequence: 0, signal });
    const ttl = await redis.ttl(prefix);
    assert.ok(ttl > 0 && ttl <= 120, `ttl ${ttl}`);
    // MAXLEN ~ trims whole stream nodes (100 entries each by default): about maxLen, never all 1000.
    const length = await redis.xlen(prefix);
    assert.ok(length >= 50 && length <= 150, `length ${length}`);
    const entries = await streamEntries(redis, prefix);
    assert.equal(Number(entries.at(-1)!.n), 999, "the newest entries are kept");
    await sink.close();
  });
});
