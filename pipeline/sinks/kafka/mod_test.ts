import assert from "node:assert/strict";
import * as v from "valibot";
import { Kafka, type KafkaMessage, logLevel } from "kafkajs";
import { batchFromRows } from "../../batch.ts";
import { createLogger } from "../../../observability/logger.ts";
import { kafkaUp } from "../../../tools/kafka.ts";
import { BATCH_A, BATCH_B, COMPLIANCE_SCHEMA, sinkCompliance, type TextRow } from "../compliance.ts";
import { sinkTestContext } from "../testing.ts";
import { kafkaMessages, kafkaSink, KafkaSinkConfig } from "./mod.ts";

const parse = (input: unknown) => v.parse(KafkaSinkConfig, input);
const signal = new AbortController().signal;

const { brokers } = await kafkaUp({ logger: createLogger({ level: "warn" }) });
const kafka = new Kafka({ clientId: "weir-kafka-sink-test", brokers, logLevel: logLevel.NOTHING });

const unique = (prefix: string) => `weir-test-${prefix}-${Date.now()}-${crypto.randomUUID().slice(0, 8)}`;

/** Reads `topic` from the beginning with read_committed until `expected` records came and 1 s passed quietly. */
async function readTopic(topic: string, expected: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({
    groupId: unique("reader"),
    maxWaitTimeInMs: 200,
    readUncommitted: false,
  });
  const messages: KafkaMessage[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: ({ message }) => Promise.resolve(void messages.push(message)) });
    const deadline = Date.now() + 30_000;
    while (messages.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Long enough for a duplicate to show up behind the expected records.
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

async function deleteTopic(topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

Deno.test("kafka sink config parses a minimal config", () => {
  assert.equal(parse({ topic: "t" }).topic, "t");
});

Deno.test("kafka sink config rejects an unknown key", () => {
  assert.throws(() => parse({ topic: "t", acks: 1 }), v.ValiError);
});

Deno.test("kafka sink config applies defaults", () => {
  assert.deepEqual(parse({ topic: "t" }), {
    topic: "t",
    partitions: 1,
    replicationFactor: 1,
    messagesPerSend: 10_000,
  });
});

Deno.test("kafka sink passes compliance", async (t) => {
  const topic = unique("sink");
  try {
    await sinkCompliance(t, {
      name: "kafka",
      makeSink: (telemetry) =>
        kafkaSink.build(
          parse({ topic, partitions: 3 }),
          sinkTestContext(COMPLIANCE_SCHEMA, { kafka, telemetry, pipeline: unique("p") }),
        ),
      async readBack() {
        const messages = await readTopic(topic, BATCH_A.length + BATCH_B.length);
        return messages.map((m) => {
          const row = JSON.parse(m.value?.toString() ?? "null") as Record<string, unknown>;
          assert.equal(m.key?.toString(), String(row.id), "records are keyed by the key value");
          return Object.fromEntries(
            Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)]),
          ) as TextRow;
        });
      },
    });
  } finally {
    await deleteTopic(topic);
  }
});

Deno.test("kafka sink skips a batch a crashed predecessor committed, across producer instances", async () => {
  const topic = unique("restart");
  const pipeline = unique("p");
  const schema = { key: ["id"], fields: [{ name: "id", type: "int64" }] } as const;
  const batch = batchFromRows(schema.fields, [[1n], [2n], [3n]]);
  try {
    const first = await kafkaSink.build(parse({ topic }), sinkTestContext(schema, { kafka, pipeline }));
    await first.write(batch, { runId: "r1", sequence: 0, signal });
    // The "restarted process": a new producer with the same transactional id fences the first one.
    const second = await kafkaSink.build(parse({ topic }), sinkTestContext(schema, { kafka, pipeline }));
    await second.write(batch, { runId: "r1", sequence: 0, signal });
    await second.write(batch, { runId: "r1", sequence: 1, signal });
    await first.close().catch(() => {});
    await second.close();
    const messages = await readTopic(topic, 6);
    assert.equal(messages.length, 6);
    assert.deepEqual(
      messages.map((m) => m.headers?.["weir-sequence"]?.toString()).sort(),
      ["0", "0", "0", "1", "1", "1"],
    );
  } finally {
    await deleteTopic(topic);
  }
});

Deno.test("kafka sink keys records by a compound key as a JSON array", () => {
  const fields = [{ name: "a", type: "int64" }, { name: "b", type: "string" }, {
    name: "d",
    type: "decimal",
    precision: 10,
    scale: 2,
  }] as const;
  const [m] = kafkaMessages(batchFromRows(fields, [[2n ** 60n, "x", "1.50"]]), ["a", "b"], {});
  assert.equal(m.key, `["1152921504606846976","x"]`);
  assert.equal(m.value, `{"a":"1152921504606846976","b":"x","d":"1.50"}`);
});

Deno.test("kafka sink isRetriable follows kafkajs's retriable flag and refuses fencing", () => {
  assert.equal(
    kafkaSink.isRetriable(Object.assign(new Error("x"), { name: "KafkaJSConnectionError" })),
    true,
  );
  assert.equal(kafkaSink.isRetriable(Object.assign(new Error("x"), { retriable: true })), true);
  assert.equal(
    kafkaSink.isRetriable(Object.assign(new Error("x"), { retriable: true, type: "PRODUCER_FENCED" })),
    false,
  );
  assert.equal(kafkaSink.isRetriable(new Error("x")), false);
});
