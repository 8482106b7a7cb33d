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
import { createKafka, createRedis } from "./clients.ts";
import type { Dependency } from "./dependencies.ts";

/** The shared parts of a running weir. */
export interface Runtime {
  logger: Logger;
  redis?: Redis;
  kafka?: Kafka;
  /** Everything readiness checks. */
  dependencies: Dependency[];
  /** Closes everything opened, last opened first. */
  close(): Promise<void>;
}

/** Opens the runtime for `config`; on failure, whatever was opened is closed again. */
export async function openRuntime(config: EnvConfig, logger: Logger): Promise<Runtime> {
  const closers: (() => Promise<void>)[] = [];
  const dependencies: Dependency[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error) => logger.warn("Close failed", { error }));
    }
  };
  try {
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
    return { logger, redis, kafka, dependencies, close };
  } catch (error) {
    await close();
    throw error;
  }
}
