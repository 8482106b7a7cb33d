import assert from "node:assert/strict";
import { loadEnv } from "./env.ts";
import { ConfigError } from "../pipeline/errors.ts";

Deno.test("loadEnv applies defaults to an empty environment", () => {
  const config = loadEnv({});
  assert.equal(config.PORT, 8080);
  assert.equal(config.WEIR_HOST, "127.0.0.1");
  assert.equal(config.WEIR_DATA_DIR, "./data");
  assert.equal(config.WEIR_LOG_LEVEL, "info");
  assert.equal(config.WEIR_SHUTDOWN_TIMEOUT_MS, 10000);
  assert.equal(config.DATABASE_URL, undefined);
  assert.equal(config.KAFKA_BROKERS, undefined);
});

Deno.test("loadEnv parses set values", () => {
  const config = loadEnv({
    PORT: "9001",
    WEIR_WORKERS: "3",
    DATABASE_URL: "postgres://u@db:5432/weir",
    KAFKA_BROKERS: "a:9092, b:9093",
    UPSTASH_REDIS_REST_URL: "http://127.0.0.1:8079",
    UPSTASH_REDIS_REST_TOKEN: "t",
  });
  assert.equal(config.PORT, 9001);
  assert.equal(config.WEIR_WORKERS, 3);
  assert.deepEqual(config.KAFKA_BROKERS, ["a:9092", "b:9093"]);
});

Deno.test("loadEnv rejects a wrong value naming the variable", async (t) => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ PORT: "abc" }, "PORT", /Invalid PORT: expected a whole number from 0 to 65535, got "abc"/],
    [{ PORT: "70000" }, "PORT", /Invalid PORT/],
    [{ WEIR_WORKERS: "0" }, "WEIR_WORKERS", /Invalid WEIR_WORKERS/],
    [{ WEIR_LOG_LEVEL: "loud" }, "WEIR_LOG_LEVEL", /expected one of debug, info, warn, error/],
    [{ DATABASE_URL: "mysql://x/y" }, "DATABASE_URL", /expected a URL \(postgres:, postgresql:\)/],
    [{ KAFKA_BROKERS: "nohost" }, "KAFKA_BROKERS", /expected host:port/],
    [{ UPSTASH_REDIS_REST_URL: "http://x" }, "UPSTASH_REDIS_REST_TOKEN", /set together/],
  ];
  for (const [env, path, message] of cases) {
    await t.step(`${path}=${JSON.stringify(Object.values(env)[0])}`, () => {
      assert.throws(() => loadEnv(env), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.path, path);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
