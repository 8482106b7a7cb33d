import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import { Redis } from "@upstash/redis";
import { createLogger } from "../observability/logger.ts";
import { serveUpstashGateway, type UpstashGateway, type UpstashGatewayOptions } from "./upstash_gateway.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
/** Every key of this run starts with it, so parallel runs and leftovers never collide. */
const PREFIX = `weir:test:upstash_gateway:${crypto.randomUUID()}:`;

interface Harness {
  gateway: UpstashGateway;
  token: string;
  /** The real client, as weir uses it (auto-pipelining on, so most commands go through /pipeline). */
  redis: Redis;
  /** Sends one raw HTTP request to the gateway with the right token. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

async function withGateway(
  use: (harness: Harness) => Promise<void>,
  options: Partial<UpstashGatewayOptions> = {},
): Promise<void> {
  const token = crypto.randomUUID();
  const gateway = await serveUpstashGateway({
    port: 0,
    redisUrl: REDIS_URL,
    token,
    logger: createLogger({ write: () => {} }),
    ...options,
  });
  // No retries: a test that shuts the gateway down itself should not wait out the backoff while cleaning up.
  const redis = new Redis({ url: gateway.url, token, enableTelemetry: false, retry: false });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, ...headers },
      body: typeof body === "string"
        ? body
        : body instanceof Uint8Array
        ? body.slice()
        : JSON.stringify(body),
    });
  try {
    await use({ gateway, token, redis, post });
  } finally {
    await deleteKeys(redis).catch(() => {});
    await gateway.shutdown();
  }
}

async function deleteKeys(redis: Redis): Promise<void> {
  let cursor: string | number = 0;
  do {
    const [next, keys]: [string | number, string[]] = await redis.scan(cursor, {
      match: `${PREFIX}*`,
      count: 500,
    });
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (String(cursor) !== "0");
}

/** A direct RESP connection to the same Redis, to check what the gateway stored byte for byte. */
async function withDirectRedis(
  use: (client: ReturnType<typeof directClient>) => Promise<void>,
): Promise<void> {
  const client = directClient();
  await client.connect();
  try {
    await use(client);
  } finally {
    await client.close();
  }
}

function directClient() {
  return createClient({ url: REDIS_URL, RESP: 2 }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

Deno.test("serveUpstashGateway serves @upstash/redis commands against the real Redis", async (t) => {
  await withGateway(async ({ redis }) => {
    await t.step("strings round-trip, with JSON values deserialised", async (t) => {
      const cases: Array<[string, unknown]> = [
        ["plain text", "hello"],
        ["empty string", ""],
        ["unicode", "héllo wörld ✓ 日本語 🚀"],
        ["control characters", "\u0000\u0001\n\r\t\u007f"],
        [
          "every Latin-1 code point",
          Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join(""),
        ],
        ["a JSON object", { id: 7, tags: ["a", "b"], nested: { ok: true, none: null } }],
        ["a JSON array", [1, "two", { three: 3 }]],
        ["a number", 42],
        ["a digit string that is not a safe number", "12345678901234567890"],
        ["a string with leading zeros", "007"],
        ["the string OK", "OK"],
      ];
      for (const [name, value] of cases) {
        await t.step(name, async () => {
          const key = `${PREFIX}string:${name}`;
          assert.equal(await redis.set(key, value), "OK");
          assert.deepEqual(await redis.get(key), value);
        });
      }
      assert.deepEqual(
        await redis.mget(`${PREFIX}string:plain text`, `${PREFIX}string:missing`),
        ["hello", null],
      );
    });

    await t.step("counters count", async () => {
      const key = `${PREFIX}counter`;
      assert.equal(await redis.incr(key), 1);
      assert.equal(await redis.incrby(key, 41), 42);
      assert.equal(await redis.decr(key), 41);
      assert.equal(await redis.incrbyfloat(key, 0.5), 41.5);
    });

    await t.step("hashes store fields", async () => {
      const key = `${PREFIX}hash`;
      assert.equal(await redis.hset(key, { name: "weir", runs: 3, meta: { a: 1 } }), 3);
      assert.equal(await redis.hget(key, "name"), "weir");
      assert.equal(await redis.hincrby(key, "runs", 2), 5);
      assert.deepEqual(await redis.hgetall(key), { name: "weir", runs: 5, meta: { a: 1 } });
      assert.equal(await redis.hdel(key, "meta"), 1);
      assert.equal(await redis.hlen(key), 2);
      assert.equal(await redis.hgetall(`${PREFIX}hash:missing`), null);
    });

    await t.step("lists keep order", async () => {
      const key = `${PREFIX}list`;
      assert.equal(await redis.rpush(key, "b", "c"), 2);
      assert.equal(await redis.lpush(key, "a"), 3);
      assert.deepEqual(await redis.lrange(key, 0, -1), ["a", "b", "c"]);
      assert.equal(await redis.lpop(key), "a");
      assert.equal(await redis.llen(key), 2);
    });

    await t.step("sets hold members once", async () => {
      const key = `${PREFIX}set`;
      assert.equal(await redis.sadd(key, "x", "y", "x"), 2);
      assert.deepEqual((await redis.smembers(key)).sort(), ["x", "y"]);
      assert.equal(await redis.sismember(key, "x"), 1);
      assert.equal(await redis.sismember(key, "z"), 0);
      assert.equal(await redis.scard(key), 2);
    });

    await t.step("sorted sets order by score", async () => {
      const key = `${PREFIX}zset`;
      assert.equal(await redis.zadd(key, { score: 2, member: "b" }, { score: 1.5, member: "a" }), 2);
      assert.deepEqual(await redis.zrange(key, 0, -1, { withScores: true }), ["a", 1.5, "b", 2]);
      assert.equal(await redis.zscore(key, "a"), 1.5);
      assert.equal(await redis.zincrby(key, 1, "a"), 2.5);
      assert.equal(await redis.zrank(key, "a"), 1);
      assert.equal(await redis.zcard(key), 2);
    });

    await t.step("expiry applies", async () => {
      const ex = `${PREFIX}expiry:ex`;
      const px = `${PREFIX}expiry:px`;
      const short = `${PREFIX}expiry:short`;
      assert.equal(await redis.set(ex, "v", { ex: 100 }), "OK");
      const ttl = await redis.ttl(ex);
      assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await redis.set(px, "v", { px: 1_500 }), "OK");
      const pttl = await redis.pttl(px);
      assert.ok(pttl > 0 && pttl <= 1_500, `pttl ${pttl}`);
      assert.equal(await redis.persist(ex), 1);
      assert.equal(await redis.ttl(ex), -1);
      assert.equal(await redis.ttl(`${PREFIX}expiry:missing`), -2);
      assert.equal(await redis.set(short, "v", { px: 50 }), "OK");
      await new Promise((resolve) => setTimeout(resolve, 120));
      assert.equal(await redis.get(short), null);
      assert.equal(await redis.set(short, "v", { nx: true, ex: 10 }), "OK");
      assert.equal(await redis.set(short, "w", { nx: true, ex: 10 }), null);
    });

    await t.step("pipeline runs commands in order", async () => {
      const key = `${PREFIX}pipeline`;
      const results = await redis.pipeline().set(key, "v").incr(`${key}:n`).get(key).exec();
      assert.deepEqual(results, ["OK", 1, "v"]);
    });

    await t.step("pipeline reports an error per command and runs the others", async () => {
      const key = `${PREFIX}pipeline:error`;
      await assert.rejects(
        redis.pipeline().set(key, "v").lpush(key, "x").get(key).exec(),
        /Command 2 \[ lpush \] failed: WRONGTYPE/,
      );
      const results = await redis.pipeline().set(key, "w").lpush(key, "x").get(key).exec({
        keepErrors: true,
      });
      assert.deepEqual(results.map((r) => r.result), ["OK", undefined, "w"]);
      assert.match(String(results[1].error), /^WRONGTYPE/);
    });

    await t.step("multi runs a transaction", async () => {
      const key = `${PREFIX}multi`;
      const results = await redis.multi().set(key, "1").incr(key).get(key).exec();
      assert.deepEqual(results, ["OK", 2, 2]);
    });

    await t.step("multi keeps going past a command that fails at run time", async () => {
      const key = `${PREFIX}multi:runtime`;
      const results = await redis.multi().set(key, "a").lpush(key, "x").append(key, "b").exec({
        keepErrors: true,
      });
      assert.deepEqual(results.map((r) => r.result), ["OK", undefined, 2]);
      assert.match(String(results[1].error), /^WRONGTYPE/);
      assert.equal(await redis.get(key), "ab");
    });

    await t.step("multi discards the whole transaction when Redis refuses to queue a command", async () => {
      const key = `${PREFIX}multi:abort`;
      await redis.set(key, "before");
      // HSET with no field is a wrong number of arguments, refused at queue time.
      await assert.rejects(
        redis.multi().set(key, "after").hset(`${key}:h`, {}).exec(),
        /EXECABORT.*command 2 \(HSET\)/,
      );
      assert.equal(await redis.get(key), "before");
    });

    await t.step("EVAL runs a Lua script", async () => {
      const key = `${PREFIX}eval`;
      const result = await redis.eval(
        "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('GET', 'no:such:key')}",
        [key],
        ["5"],
      );
      // GET of a missing key is false in Lua, and false goes back to Redis as nil.
      assert.deepEqual(result, [key, 5, 5, null]);
      await assert.rejects(redis.eval("return redis.error_reply('MYERR broken')", [], []), /MYERR broken/);
    });

    await t.step("a script falls back from EVALSHA to EVAL on NOSCRIPT", async () => {
      // The comment makes the script new to this Redis, so the first EVALSHA misses.
      const script = redis.createScript<number>(`-- ${PREFIX}\nreturn redis.call('INCR', KEYS[1])`);
      assert.equal(await script.exec([`${PREFIX}script`], []), 1);
      assert.equal(await script.evalsha([`${PREFIX}script`], []), 2);
    });

    await t.step("SCAN walks every matching key", async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `${PREFIX}scan:${i}`);
      await redis.mset(Object.fromEntries(keys.map((k) => [k, "v"])));
      const seen = new Set<string>();
      let cursor: string | number = 0;
      let rounds = 0;
      do {
        const [next, page]: [string | number, string[]] = await redis.scan(cursor, {
          match: `${PREFIX}scan:*`,
          count: 5,
        });
        page.forEach((k) => seen.add(k));
        cursor = next;
        rounds++;
      } while (String(cursor) !== "0" && rounds < 10_000);
      assert.deepEqual([...seen].sort(), [...keys].sort());
    });

    await t.step("an unknown command fails with the Redis error", async () => {
      await assert.rejects(redis.exec(["NOSUCHCMD", "x"]), /unknown command 'NOSUCHCMD'/);
    });

    await t.step("a command that would change the shared connection is refused with a reason", async () => {
      await assert.rejects(
        redis.exec(["SELECT", "1"]),
        /not supported by the gateway: SELECT: put the database/,
      );
      await assert.rejects(redis.exec(["MULTI"]), /use the \/multi-exec endpoint/);
    });
  });
});

Deno.test("serveUpstashGateway keeps arbitrary bytes intact", async (t) => {
  const allBytes = new Uint8Array(Array.from({ length: 256 }, (_, i) => i));
  await withGateway(({ post }) =>
    withDirectRedis(async (direct) => {
      await t.step("bytes stored in Redis come back exactly as base64", async () => {
        const key = `${PREFIX}binary:direct`;
        await direct.set(key, Buffer.from(allBytes));
        const response = await post("/", ["GET", key], { "upstash-encoding": "base64" });
        assert.equal(response.status, 200);
        const { result } = await response.json();
        assert.deepEqual(new Uint8Array(Buffer.from(result, "base64")), allBytes);
        const nested = await post("/", ["MGET", key, `${key}:missing`], { "upstash-encoding": "base64" });
        const nestedResult = (await nested.json()).result;
        assert.deepEqual(new Uint8Array(Buffer.from(nestedResult[0], "base64")), allBytes);
        assert.equal(nestedResult[1], null);
      });

      await t.step("a raw body sent path-style reaches Redis byte for byte", async () => {
        const key = `${PREFIX}binary:path`;
        const response = await post(`/set/${encodeURIComponent(key)}`, allBytes);
        assert.deepEqual(await response.json(), { result: "OK" });
        assert.deepEqual(new Uint8Array(await direct.get(key) ?? []), allBytes);
      });

      await t.step("without Upstash-Encoding, strings come back as UTF-8 text", async () => {
        const key = `${PREFIX}binary:text`;
        await direct.set(key, "grüße");
        const response = await post("/", ["GET", key]);
        assert.deepEqual(await response.json(), { result: "grüße" });
      });
    })
  );
});

Deno.test("serveUpstashGateway answers with Upstash's JSON shapes", async (t) => {
  await withGateway(async ({ post }) => {
    const cases: Array<{ name: string; path: string; body: unknown; status: number; expect: unknown }> = [
      { name: "a status reply", path: "/", body: ["PING"], status: 200, expect: { result: "PONG" } },
      {
        name: "an integer beyond 2^53, exactly",
        path: "/",
        body: ["INCRBY", `${PREFIX}shape:big`, "9007199254740993"],
        status: 200,
        expect: "9007199254740993",
      },
      {
        name: "a nil",
        path: "/",
        body: ["GET", `${PREFIX}shape:missing`],
        status: 200,
        expect: { result: null },
      },
      {
        name: "a Redis error",
        path: "/",
        body: ["INCR", `${PREFIX}shape:nan`, "extra"],
        status: 400,
        expect: { error: "ERR wrong number of arguments for 'incr' command" },
      },
      {
        name: "a pipeline with an error entry",
        path: "/pipeline",
        body: [["SET", `${PREFIX}shape:p`, "1"], ["HGET", `${PREFIX}shape:p`, "f"], [
          "INCR",
          `${PREFIX}shape:p`,
        ]],
        status: 200,
        expect: [
          { result: "OK" },
          { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
          { result: 2 },
        ],
      },
      {
        name: "a transaction aborted at queue time",
        path: "/multi-exec",
        body: [["SET", `${PREFIX}shape:t`, "1"], ["NOSUCHCMD"]],
        status: 400,
        expect:
          /^EXECABORT Transaction discarded because of previous errors: command 2 \(NOSUCHCMD\): ERR unknown/,
      },
      {
        name: "an error nested in a Lua table",
        path: "/",
        body: ["EVAL", "return {1, redis.error_reply('MYERR inner'), {'a'}}", "0"],
        status: 200,
        expect: { result: [1, { error: "MYERR inner" }, ["a"]] },
      },
      {
        name: "numbers and booleans as arguments",
        path: "/",
        body: ["EVAL", "return {ARGV[1], ARGV[2]}", 0, 1.5, true],
        status: 200,
        expect: { result: ["1.5", "true"] },
      },
    ];
    for (const { name, path, body, status, expect } of cases) {
      await t.step(name, async () => {
        const response = await post(path, body);
        assert.equal(response.status, status);
        assert.equal(response.headers.get("content-type"), "application/json");
        const text = await response.text();
        if (typeof expect === "string") assert.equal(text, `{"result":${expect}}`);
        else if (expect instanceof RegExp) assert.match(JSON.parse(text).error, expect);
        else assert.deepEqual(JSON.parse(text), expect);
      });
    }
  });
});

Deno.test("serveUpstashGateway refuses malformed requests with a clear 4xx", async (t) => {
  await withGateway(async ({ gateway, token, post }) => {
    const cases: Array<{ name: string; request: () => Promise<Response>; status: number; error: RegExp }> = [
      {
        name: "a body that is not JSON",
        request: () => post("/", "{nope"),
        status: 400,
        error: /^Invalid JSON body: /,
      },
      {
        name: "a command that is not an array",
        request: () => post("/", { cmd: "GET" }),
        status: 400,
        error: /^Invalid command: expected a non-empty JSON array/,
      },
      {
        name: "an object as an argument",
        request: () => post("/", ["SET", "k", { a: 1 }]),
        status: 400,
        error: /^Invalid command: argument 3 is object, expected a string, number or boolean$/,
      },
      {
        name: "an empty pipeline",
        request: () => post("/pipeline", []),
        status: 400,
        error: /^Invalid pipeline: expected a non-empty JSON array of commands$/,
      },
      {
        name: "a pipeline entry that is not a command",
        request: () => post("/pipeline", [["PING"], "PING"]),
        status: 400,
        error: /^Invalid command 2: /,
      },
      {
        name: "a GET on /pipeline",
        request: () => fetch(`${gateway.url}/pipeline`, { headers: { authorization: `Bearer ${token}` } }),
        status: 405,
        error: /^Method not allowed: use POST$/,
      },
      {
        name: "a GET on / with no command",
        request: () => fetch(`${gateway.url}/`, { headers: { authorization: `Bearer ${token}` } }),
        status: 400,
        error: /^Missing command: /,
      },
      {
        name: "a body over the limit",
        request: () => post("/", ["SET", "k", "x".repeat(2_000)]),
        status: 413,
        error: /^Request body too large: the limit is 1024 bytes$/,
      },
    ];
    for (const { name, request, status, error } of cases) {
      await t.step(name, async () => {
        const response = await request();
        assert.equal(response.status, status);
        assert.match((await response.json()).error, error);
      });
    }
  }, { maxBodyBytes: 1_024 });
});

Deno.test("serveUpstashGateway rejects a bad token with 401", async (t) => {
  await withGateway(async ({ gateway, token }) => {
    await t.step("the client surfaces the error", async () => {
      const stranger = new Redis({ url: gateway.url, token: "not-the-token", enableTelemetry: false });
      await assert.rejects(stranger.get(`${PREFIX}auth`), /Unauthorized: invalid or missing bearer token/);
    });

    const cases: Array<[string, RequestInit, string, number]> = [
      ["no header", {}, "/", 401],
      ["a wrong bearer token", { headers: { authorization: "Bearer nope" } }, "/", 401],
      ["a token of another scheme", { headers: { authorization: `Basic ${token}` } }, "/", 401],
      ["the token as _token", {}, `/?_token=${encodeURIComponent(token)}`, 200],
    ];
    for (const [name, init, path, status] of cases) {
      await t.step(`${name} gives ${status}`, async () => {
        const response = await fetch(`${gateway.url}${path}`, {
          ...init,
          method: "POST",
          body: JSON.stringify(["PING"]),
        });
        assert.equal(response.status, status);
        const body = await response.json();
        if (status === 401) {
          assert.deepEqual(body, { error: "Unauthorized: invalid or missing bearer token" });
        }
      });
    }
  });
});

Deno.test("serveUpstashGateway handles concurrent requests", async () => {
  await withGateway(async ({ gateway, token }) => {
    // Auto-pipelining off: each INCR is its own HTTP request.
    const redis = new Redis({ url: gateway.url, token, enableTelemetry: false, enableAutoPipelining: false });
    const key = `${PREFIX}concurrent`;
    const results = await Promise.all(Array.from({ length: 200 }, () => redis.incr(key)));
    assert.deepEqual(results.sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.equal(await redis.get(key), 200);
  });
});

Deno.test("serveUpstashGateway gives blocking commands their own connection", async (t) => {
  await withGateway(async ({ redis, post }) => {
    await t.step("a BLPOP does not hold up other requests, and wakes on a push", async () => {
      const key = `${PREFIX}blocking:list`;
      const blocked = redis.exec<[string, string] | null>(["BLPOP", key, "5"]);
      const started = performance.now();
      assert.equal(await redis.set(`${PREFIX}blocking:other`, "v"), "OK");
      assert.equal(await redis.get(`${PREFIX}blocking:other`), "v");
      assert.ok(performance.now() - started < 2_000, "other requests waited for the BLPOP");
      // Give the BLPOP time to reach Redis before the push that wakes it.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await redis.rpush(key, "job"), 1);
      assert.deepEqual(await blocked, [key, "job"]);
    });

    await t.step("a pipeline with a blocking command runs on its own connection", async () => {
      const key = `${PREFIX}blocking:pipeline`;
      const response = await post("/pipeline", [["RPUSH", key, "a"], ["BLPOP", key, "1"], [
        "BLPOP",
        key,
        "0.05",
      ]]);
      assert.deepEqual(await response.json(), [{ result: 1 }, { result: [key, "a"] }, { result: null }]);
    });

    await t.step("XREAD BLOCK is recognised as blocking", async () => {
      const key = `${PREFIX}blocking:stream`;
      const response = await post("/", ["XREAD", "BLOCK", "50", "STREAMS", key, "$"]);
      assert.deepEqual(await response.json(), { result: null });
    });
  });

  await t.step("beyond the limit, a blocking command is refused with 503", async () => {
    await withGateway(async ({ post }) => {
      const key = `${PREFIX}blocking:limit`;
      const first = post("/", ["BLPOP", key, "2"]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await post("/", ["BLPOP", key, "1"]);
      assert.equal(second.status, 503);
      assert.match((await second.json()).error, /^Too many blocking commands in flight: the limit is 1/);
      await post("/", ["RPUSH", key, "x"]).then((r) => r.body?.cancel());
      assert.deepEqual(await (await first).json(), { result: [key, "x"] });
    }, { maxBlockingConnections: 1 });
  });

  await t.step("a client that goes away frees its blocking connection", async () => {
    await withGateway(async ({ gateway, token, post }) => {
      const key = `${PREFIX}blocking:abandoned`;
      const controller = new AbortController();
      const abandoned = fetch(`${gateway.url}/`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(["BLPOP", key, "0"]),
        signal: controller.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort();
      await assert.rejects(abandoned, { name: "AbortError" });
      // The only blocking slot is free again once the gateway noticed the client left.
      await untilOk(async () => {
        const response = await post("/", ["BLPOP", key, "0.01"]);
        await response.body?.cancel();
        return response.status === 200;
      }, "the blocking slot to be freed");
      // Nothing still waits on the list: a pushed value stays there.
      assert.deepEqual(await (await post("/", ["RPUSH", key, "x"])).json(), { result: 1 });
      assert.deepEqual(await (await post("/", ["LLEN", key])).json(), { result: 1 });
    }, { maxBlockingConnections: 1 });
  });

  await t.step("shutdown ends a command blocked forever", async () => {
    await withGateway(async ({ gateway, post }) => {
      const blocked = post("/", ["BLPOP", `${PREFIX}blocking:forever`, "0"]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      await gateway.shutdown();
      assert.ok(performance.now() - started < 2_000, "shutdown waited for the BLPOP");
      const response = await blocked;
      assert.equal(response.status, 503);
      assert.match((await response.json()).error, /^Redis is unavailable: /);
    });
  });
});

Deno.test("serveUpstashGateway shuts down when its signal aborts", async () => {
  const controller = new AbortController();
  const gateway = await serveUpstashGateway({
    port: 0,
    redisUrl: REDIS_URL,
    token: "t",
    signal: controller.signal,
    logger: createLogger({ write: () => {} }),
  });
  const response = await fetch(`${gateway.url}/ping`, { headers: { authorization: "Bearer t" } });
  assert.deepEqual(await response.json(), { result: "PONG" });
  controller.abort();
  await gateway.finished;
  await assert.rejects(fetch(`${gateway.url}/ping`));
});

Deno.test("serveUpstashGateway fails to start when Redis cannot be reached", async () => {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  await assert.rejects(
    serveUpstashGateway({
      port: 0,
      redisUrl: "redis://127.0.0.1:1",
      token: "t",
      logger: createLogger({ write: () => {} }),
    }),
    /^Error: Cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: /,
  );
});

const REDIS_SERVER = "/usr/bin/redis-server";
const hasRedisServer = await Deno.stat(REDIS_SERVER).then(() => true, () => false);

/** A throwaway redis-server of this test's own, so it can be stopped without touching the shared one. */
function startRedisServer(port: number): Deno.ChildProcess {
  return new Deno.Command(REDIS_SERVER, {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function untilOk(attempt: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await attempt().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting: ${what}`);
}

Deno.test({
  name: "serveUpstashGateway answers 503 while Redis is down and recovers when it is back",
  ignore: !hasRedisServer,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    let redisServer = startRedisServer(port);
    try {
      let gateway: UpstashGateway | undefined;
      const ping = async () => {
        const response = await fetch(`${gateway?.url}/`, {
          method: "POST",
          headers: { authorization: "Bearer t" },
          body: '["PING"]',
        });
        return { status: response.status, body: await response.json() };
      };
      await untilOk(async () => {
        gateway = await serveUpstashGateway({
          port: 0,
          redisUrl: `redis://127.0.0.1:${port}`,
          token: "t",
          logger: createLogger({ write: () => {} }),
        });
        return true;
      }, "the gateway to connect to the new redis-server");
      try {
        assert.deepEqual(await ping(), { status: 200, body: { result: "PONG" } });

        redisServer.kill("SIGTERM");
        await redisServer.status;
        await untilOk(async () => {
          const { status, body } = await ping();
          return status === 503 && /^Redis is unavailable: /.test(body.error);
        }, "a 503 while Redis is down");

        redisServer = startRedisServer(port);
        await untilOk(async () => (await ping()).status === 200, "the gateway to reconnect");
        assert.deepEqual(await ping(), { status: 200, body: { result: "PONG" } });
      } finally {
        await gateway?.shutdown();
      }
    } finally {
      redisServer.kill("SIGTERM");
      await redisServer.status;
    }
  },
});

Deno.test("the upstash_gateway CLI serves until SIGTERM and refuses to start without a token", async (t) => {
  const script = new URL("./upstash_gateway.ts", import.meta.url).pathname;
  const run = (env: Record<string, string>) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-sys", script],
      // From the repository root, so deno.json's import map applies.
      cwd: new URL("..", import.meta.url).pathname,
      env: { REDIS_URL, ...env },
      clearEnv: false,
      stdout: "null",
      stderr: "piped",
    });

  await t.step("serves and stops cleanly", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const child = run({ UPSTASH_GATEWAY_PORT: String(port), UPSTASH_GATEWAY_TOKEN: "cli" }).spawn();
    const logs = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    while (!output.includes("Upstash gateway listening")) {
      const { value, done } = await logs.read();
      if (done) break;
      output += value;
    }
    const response = await fetch(`http://127.0.0.1:${port}/ping`, {
      headers: { authorization: "Bearer cli" },
    });
    assert.deepEqual(await response.json(), { result: "PONG" });
    child.kill("SIGTERM");
    for (let read = await logs.read(); !read.done; read = await logs.read()) output += read.value;
    const status = await child.status;
    assert.equal(status.code, 0, output);
    assert.match(output, /"message":"Upstash gateway stopped"/);
  });

  await t.step("exits 2 without UPSTASH_GATEWAY_TOKEN", async () => {
    const { code, stderr } = await run({ UPSTASH_GATEWAY_TOKEN: "" }).output();
    assert.equal(code, 2);
    assert.match(new TextDecoder().decode(stderr), /Missing token: set UPSTASH_GATEWAY_TOKEN/);
  });
});
