/**
 * The `kafka` sink: one record per row, keyed by the schema key (the single key value as text, or the JSON
 * array of the key values), the row as a JSON object (see json_row.ts for how numbers are encoded), headers
 * `weir-run` and `weir-sequence`. Records are partitioned by key with Kafka's default (murmur2) partitioner.
 *
 * **Exactly once, and why the marker lives in Kafka.** A marker in the store (PostgreSQL) cannot be committed
 * atomically with a Kafka transaction: whichever commits second can be lost to a crash between the two, and
 * the retry then either duplicates the records or skips them. So the marker is committed *inside* the Kafka
 * transaction: each batch's transaction also commits, through `sendOffsets` (TxnOffsetCommit), the offset
 * `sequence + 1` for the consumer group `weir.sink.<pipeline>.<topic>.<run>` on partition 0 of the topic.
 * Records and marker become visible together or not at all. Before writing, the sink reads that offset
 * (`fetchOffsets`) and skips a `(run, sequence)` at or below it.
 *
 * What holds across a crash: the producer's `transactionalId` is stable (per pipeline and topic), so the
 * restarted process's producer fences the dead one and the coordinator completes or aborts its open
 * transaction before the new one starts; the marker read afterwards is then the truth. A read_committed
 * consumer sees every row of a committed batch exactly once and nothing of an aborted one. The watermark
 * assumes that a run's batches reach this sink in sequence order, each after the previous committed (as the
 * runner writes them): a sequence below the watermark is taken as written. Marker groups expire with Kafka's
 * `offsets.retention.minutes` (7 days by default), which bounds how late a retry may come.
 *
 * @module
 */

import { type Admin, type Kafka, type Message, Partitioners, type Producer } from "kafkajs";
import type { Batch } from "../../batch.ts";
import type { Sink } from "../../component.ts";
import { ConfigError, PipelineError } from "../../errors.ts";
import { configPath, sinkError } from "../context.ts";
import type { SinkDefinition } from "../context.ts";
import { sinkInstruments } from "../instruments.ts";
import { jsonRow, keyText } from "../json_row.ts";
import { KafkaSinkConfig } from "./config.ts";

export { KafkaSinkConfig } from "./config.ts";

const NAME = "kafka";
const COMPONENT = "sink.kafka";
const MAX_CACHED_RUNS = 10_000;
const NOT_RETRIABLE =
  /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|TRANSACTIONAL_ID_AUTHORIZATION|TOPIC_AUTHORIZATION|INVALID_TXN_STATE|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/;

function isRetriable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof ConfigError) return false;
    const { type, retriable, name } = e as { type?: unknown; retriable?: unknown; name?: unknown };
    if (typeof type === "string" && NOT_RETRIABLE.test(type)) return false;
    if (name === "KafkaJSConnectionError" || name === "KafkaJSRequestTimeoutError") return true;
    if (retriable === true) return true;
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The marker group of one run. */
export function markerGroup(pipeline: string, topic: string, runId: string): string {
  return `weir.sink.${pipeline}.${topic}.${runId}`;
}

/** The records of `batch`. */
export function kafkaMessages(
  batch: Batch,
  key: readonly string[],
  headers: Record<string, string>,
): Message[] {
  const out: Message[] = new Array(batch.length);
  for (let row = 0; row < batch.length; row++) {
    out[row] = { key: keyText(batch, key, row), value: JSON.stringify(jsonRow(batch, row)), headers };
  }
  return out;
}

/** The `kafka` sink. */
export const kafkaSink: SinkDefinition<KafkaSinkConfig> = {
  kind: "sink",
  name: NAME,
  summary: "Produces one JSON record per row, keyed by the schema key, in one Kafka transaction per batch",
  config: KafkaSinkConfig,
  isRetriable,
  keepsNoBatch: true,
  async build(config, ctx) {
    const kafka: Kafka | undefined = ctx.kafka;
    if (!kafka) {
      throw new ConfigError("The kafka sink needs Kafka: set KAFKA_BROKERS", { path: configPath(NAME) });
    }
    const { topic } = config;
    const admin: Admin = kafka.admin();
    let producer: Producer | undefined;
    try {
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic, numPartitions: config.partitions, replicationFactor: config.replicationFactor }],
        waitForLeaders: true,
      });
      producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        transactionalId: config.transactionalId ?? `weir.${ctx.pipeline}.${topic}`,
        idempotent: true,
        maxInFlightRequests: 1,
        // kafkajs refuses an idempotent producer without retries, and weir's shared client has none (its
        // readiness check must fail fast); the producer's own retries stay within one transaction.
        retry: { retries: 5 },
      });
      // Connecting initialises the transactional id: this is where a crashed predecessor is fenced.
      await producer.connect();
    } catch (error) {
      await producer?.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      throw sinkError(error, {
        component: COMPONENT,
        message: `Preparing Kafka topic ${topic} failed`,
        retriable: isRetriable(error),
      });
    }
    const meters = sinkInstruments(ctx.telemetry, NAME);
    const committed = new Map<string, number>();
    let queue: Promise<unknown> = Promise.resolve();
    let closed = false;

    const watermark = async (runId: string): Promise<number> => {
      const cached = committed.get(runId);
      if (cached !== undefined) return cached;
      const [offsets] = await admin.fetchOffsets({
        groupId: markerGroup(ctx.pipeline, topic, runId),
        topics: [topic],
      });
      const offset = Number(offsets?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
      return offset > 0 ? offset - 1 : -1;
    };

    const writeOne = async (batch: Batch, runId: string, sequence: number): Promise<number> => {
      if (sequence <= await watermark(runId)) return 0;
      const messages = kafkaMessages(batch, ctx.schema.key, {
        "weir-run": runId,
        "weir-sequence": String(sequence),
      });
      let bytes = 0;
      for (const m of messages) bytes += (m.value as string).length + (m.key?.length ?? 0);
      const transaction = await producer.transaction();
      try {
        for (let at = 0; at < messages.length; at += config.messagesPerSend) {
          await transaction.send({ topic, messages: messages.slice(at, at + config.messagesPerSend) });
        }
        await transaction.sendOffsets({
          consumerGroupId: markerGroup(ctx.pipeline, topic, runId),
          topics: [{ topic, partitions: [{ partition: 0, offset: String(sequence + 1) }] }],
        });
        await transaction.commit();
      } catch (error) {
        await transaction.abort().catch(() => {});
        throw error;
      }
      if (committed.size >= MAX_CACHED_RUNS) committed.delete(committed.keys().next().value as string);
      committed.set(runId, sequence);
      meters.bytes(bytes);
      return batch.length;
    };

    const sink: Sink = {
      write(batch, w) {
        if (closed) {
          return Promise.reject(
            new PipelineError("Sink is closed", { component: COMPONENT, retriable: false }),
          );
        }
        meters.received(batch.length);
        // One producer runs one transaction at a time: writes queue.
        const result = queue.then(async () => {
          w.signal.throwIfAborted();
          try {
            meters.sent(await writeOne(batch, w.runId, w.sequence));
          } catch (error) {
            meters.error();
            throw sinkError(error, {
              component: COMPONENT,
              message: `Producing to ${topic} failed`,
              retriable: isRetriable(error),
            });
          }
        });
        queue = result.catch(() => {});
        return result;
      },
      async healthcheck(signal) {
        signal.throwIfAborted();
        await admin.fetchTopicMetadata({ topics: [topic] });
      },
      async close() {
        if (closed) return;
        closed = true;
        await queue;
        await producer.disconnect();
        await admin.disconnect();
      },
    };
    return sink;
  },
};
