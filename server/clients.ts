/**
 * Clients for the optional external services, each with its readiness check. Created only when configured:
 * the embedded default needs none of them.
 *
 * @module
 */
import { Redis } from "@upstash/redis";
import { type Admin, Kafka, type LogEntry, logLevel } from "kafkajs";
import type { Logger } from "../observability/logger.ts";
import type { Dependency } from "./dependencies.ts";

/** An Upstash REST client for `url`, with `PING` as its readiness check. */
export function createRedis(
  options: { url: string; token: string },
): { redis: Redis; dependency: Dependency } {
  // Retries would hide an outage from readiness; the callers that want them add their own.
  const redis = new Redis({ url: options.url, token: options.token, retry: false, enableTelemetry: false });
  return {
    redis,
    dependency: {
      name: "redis",
      kind: "upstash",
      check: async () => {
        const answer = await redis.ping();
        if (answer !== "PONG") throw new Error(`Unexpected PING answer: ${answer}`);
      },
    },
  };
}

/** A Kafka client for `brokers` whose logs go to weir's logger, with a cluster metadata check. */
export function createKafka(
  options: { brokers: string[]; clientId?: string; logger: Logger },
): { kafka: Kafka; dependency: Dependency; close(): Promise<void> } {
  const log = options.logger.child({ component: "kafka" });
  const kafka = new Kafka({
    clientId: options.clientId ?? "weir",
    brokers: options.brokers,
    connectionTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }: LogEntry) => {
      const { message, ...fields } = entry;
      if (level <= logLevel.ERROR) log.error(message, fields);
      else log.warn(message, fields);
    },
  });
  let admin: Admin | undefined;
  return {
    kafka,
    dependency: {
      name: "kafka",
      kind: "kafka",
      check: async () => {
        admin ??= kafka.admin();
        try {
          await admin.connect();
          const cluster = await admin.describeCluster();
          if (cluster.brokers.length === 0) throw new Error("The cluster reports no brokers");
        } catch (error) {
          // A failed admin can be left half-connected; the next check starts afresh.
          const failed = admin;
          admin = undefined;
          await failed.disconnect().catch(() => {});
          throw error;
        }
      },
    },
    close: async () => {
      await admin?.disconnect();
    },
  };
}
