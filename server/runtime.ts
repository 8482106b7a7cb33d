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

/** The shared parts of a running weir. */
export interface Runtime {
  logger: Logger;
  /** weir's own tables: PostgreSQL when `DATABASE_URL` is set, else PGlite under `WEIR_DATA_DIR`. */
  store: Store;
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
    return { logger, store, redis, kafka, dependencies, close };
  } catch (error) {
    await close();
    throw error;
  }
}
