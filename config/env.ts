/**
 * The process configuration from environment variables, validated once at start with valibot.
 * Inside weir the result is trusted; a wrong value stops the process with one line naming the variable.
 *
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../pipeline/errors.ts";

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

const integer = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, `expected a whole number from ${min} to ${max}`),
    v.transform(Number),
    v.number(),
    v.minValue(min, `expected a whole number from ${min} to ${max}`),
    v.maxValue(max, `expected a whole number from ${min} to ${max}`),
  );

const url = (protocols: string[]) =>
  v.pipe(
    v.string(),
    v.url(`expected a URL (${protocols.join(", ")})`),
    v.check(
      (value) => protocols.includes(new URL(value).protocol),
      `expected a URL (${protocols.join(", ")})`,
    ),
  );

/** The schema of weir's environment variables; `description` is what `weir help` and the docs show. */
export const EnvSchema = v.object({
  PORT: v.pipe(
    v.optional(integer(0, 65535), "8080"),
    v.description("HTTP port to listen on (0 picks a free one)"),
  ),
  WEIR_HOST: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a host name or address")), "127.0.0.1"),
    v.description("Address to listen on; 0.0.0.0 in containers"),
  ),
  WEIR_DATA_DIR: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a directory path")), "./data"),
    v.description("Directory for the embedded store and the spool"),
  ),
  WEIR_CONFIG: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a file path")), "./weir.yaml"),
    v.description("Pipeline definitions"),
  ),
  WEIR_WORKERS: v.pipe(
    v.optional(integer(1, 256)),
    v.description("Kernel worker count; default: the number of cores"),
  ),
  WEIR_LOG_LEVEL: v.pipe(
    v.optional(v.picklist(LOG_LEVELS, `expected one of ${LOG_LEVELS.join(", ")}`), "info"),
    v.description("Minimum log level"),
  ),
  WEIR_SHUTDOWN_TIMEOUT_MS: v.pipe(
    v.optional(integer(0, 600_000), "10000"),
    v.description("How long a SIGTERM waits for in-flight work before exiting anyway"),
  ),
  WEIR_IDEMPOTENCY_LEASE_MS: v.pipe(
    v.optional(integer(100, 3_600_000), "30000"),
    v.description(
      "How long an Idempotency-Key claimed by a request that died with its process blocks retries (answered 409 in_progress)",
    ),
  ),
  DATABASE_URL: v.pipe(
    v.optional(url(["postgres:", "postgresql:"])),
    v.description("PostgreSQL for weir's tables and sinks; unset: embedded PGlite under WEIR_DATA_DIR"),
  ),
  UPSTASH_REDIS_REST_URL: v.pipe(
    v.optional(url(["http:", "https:"])),
    v.description("Upstash REST endpoint (Upstash, or SRH in front of Redis); unset: in-process store"),
  ),
  UPSTASH_REDIS_REST_TOKEN: v.pipe(
    v.optional(v.pipe(v.string(), v.nonEmpty("expected a token"))),
    v.description("Bearer token for UPSTASH_REDIS_REST_URL"),
  ),
  KAFKA_BROKERS: v.pipe(
    v.optional(
      v.pipe(
        v.string(),
        v.transform((value) => value.split(",").map((broker) => broker.trim()).filter(Boolean)),
        v.array(v.pipe(v.string(), v.regex(/^[^\s:]+:\d+$/, "expected host:port[,host:port…]"))),
        v.minLength(1, "expected host:port[,host:port…]"),
      ),
    ),
    v.description("Kafka bootstrap brokers, comma separated; unset: in-process topics"),
  ),
});

/** Validated process configuration. */
export type EnvConfig = v.InferOutput<typeof EnvSchema>;

/**
 * Validates the environment. Empty strings count as unset, as shells and compose files produce them.
 *
 * @example
 * ```ts
 * import { loadEnv } from "./env.ts";
 * const config = loadEnv({ PORT: "9000" });
 * if (config.PORT !== 9000 || config.WEIR_HOST !== "127.0.0.1") throw new Error("defaults");
 * ```
 */
export function loadEnv(env: Record<string, string | undefined>): EnvConfig {
  const present = Object.fromEntries(
    Object.keys(EnvSchema.entries).flatMap((name) => env[name] ? [[name, env[name]]] : []),
  );
  const result = v.safeParse(EnvSchema, present);
  if (!result.success) {
    const issue = result.issues[0];
    const name = String(issue.path?.[0]?.key ?? "environment");
    const got = typeof issue.input === "string" ? `, got ${JSON.stringify(issue.input)}` : "";
    throw new ConfigError(`Invalid ${name}: ${issue.message}${got}`, { path: name });
  }
  const config = result.output;
  if (Boolean(config.UPSTASH_REDIS_REST_URL) !== Boolean(config.UPSTASH_REDIS_REST_TOKEN)) {
    const missing = config.UPSTASH_REDIS_REST_URL ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL";
    throw new ConfigError(
      `Invalid ${missing}: expected it to be set together with the other Upstash variable`,
      {
        path: missing,
      },
    );
  }
  return config;
}

/** The variables weir reads, for `Deno.env` permission scoping and documentation. */
export const ENV_NAMES = Object.keys(EnvSchema.entries);
