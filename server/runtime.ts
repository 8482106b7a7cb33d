/**
 * The process-wide parts every route and pipeline shares: the store, the kernel pool and the clients of the
 * configured services. Opened once at start, closed once at shutdown, in reverse order.
 *
 * @module
 */
import type { Redis } from "@upstash/redis";
import type { Kafka } from "kafkajs";
import type { EnvConfig } from "../config/env.ts";
import type { Logger } from "../observability/logger.ts";
import type { Telemetry } from "../observability/metrics.ts";
import { createKafka, createRedis } from "./clients.ts";
import type { Dependency } from "./dependencies.ts";
import type { Store } from "../storage/store.ts";
import { createPostgresStore } from "../storage/postgres.ts";
import { createEmbeddedStore } from "../storage/embedded.ts";
import { KernelPool } from "../workers/pool.ts";

/** The shared parts of a running weir. */
export interface Runtime {
  logger: Logger;
  /** weir's own tables: PostgreSQL when `DATABASE_URL` is set, else PGlite under `WEIR_DATA_DIR`. */
  store: Store;
  /** The kernel workers every pipeline shares. */
  pool: KernelPool;
  redis?: Redis;
  kafka?: Kafka;
  /** Everything readiness checks. */
  dependencies: Dependency[];
  /** Closes everything opened, last opened first. */
  close(): Promise<void>;
}

/** What the runtime is opened with. */
export interface RuntimeOptions {
  logger: Logger;
  /** Where pool and component metrics are recorded. */
  telemetry: Telemetry;
}

/** Opens the runtime for `config`; on failure, whatever was opened is closed again. */
export async function openRuntime(config: EnvConfig, options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const closers: (() => Promise<void>)[] = [];
  const dependencies: Dependency[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error) => logger.warn("Close failed", { error }));
    }
  };
  try {
    const storeLogger = logger.child({ component: "store" });
    const store = config.DATABASE_URL
      ? await createPostgresStore({ url: config.DATABASE_URL, logger: storeLogger })
      : await createEmbeddedStore({ dataDir: `${config.WEIR_DATA_DIR}/pglite`, logger: storeLogger });
    closers.push(() => store.close());
    dependencies.push({ name: "store", kind: store.kind, check: (signal) => store.healthcheck(signal) });

    const pool = await KernelPool.create({
      workers: config.WEIR_WORKERS,
      logger: logger.child({ component: "kernel_pool" }),
    });
    closers.push(() => pool.close());
    dependencies.push({
      name: "pool",
      kind: "wasm-workers",
      // A real round trip through a worker and its WASM instance, not just a count of threads.
      check: async (signal) => {
        await pool.run("echo", { input: new ArrayBuffer(8), params: null, signal });
      },
    });
    observePool(options.telemetry, pool);

    let redis: Redis | undefined;
    if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
      const client = createRedis({ url: config.UPSTASH_REDIS_REST_URL, token: config.UPSTASH_REDIS_REST_TOKEN });
      redis = client.redis;
      dependencies.push(client.dependency);
    }
    let kafka: Kafka | undefined;
    if (config.KAFKA_BROKERS) {
      const client = createKafka({ brokers: config.KAFKA_BROKERS, logger });
      kafka = client.kafka;
      dependencies.push(client.dependency);
      closers.push(client.close);
    }
    return { logger, store, pool, redis, kafka, dependencies, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The pool's counters as gauges: both sides read `stats()` when they collect. */
function observePool(telemetry: Telemetry, pool: KernelPool): void {
  const stats = Object.keys(pool.stats()) as (keyof ReturnType<KernelPool["stats"]>)[];
  for (const stat of stats) {
    telemetry.gauge(
      { name: `weir.pool.${stat}`, description: `Kernel pool: ${POOL_STAT_MEANING[stat]}` },
      () => [{ value: pool.stats()[stat] }],
    );
  }
}

const POOL_STAT_MEANING: Record<keyof ReturnType<KernelPool["stats"]>, string> = {
  workers: "live workers",
  queued: "jobs waiting for a worker",
  busy: "workers running a job",
  completed: "jobs finished since start",
  failed: "jobs failed since start",
  restarts: "workers replaced since start",
  timeouts: "jobs timed out since start",
  retries: "attempts repeated after a trap or crash since start",
};
