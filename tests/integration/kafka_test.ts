/**
 * The real Kafka broker from tools/kafka.ts, exercised with kafkajs the way weir uses it: produce,
 * consumer groups that share partitions, and transactions seen through a read_committed consumer.
 */

import assert from "node:assert/strict";
import { type Consumer, type IHeaders, Kafka, type KafkaMessage, logLevel, Partitioners } from "kafkajs";
import { createLogger } from "../../observability/logger.ts";
import { kafkaUp } from "../../tools/kafka.ts";

const { brokers } = await kafkaUp({ logger: createLogger({ level: "warn" }) });

// kafkajs logs the retriable errors it retries by itself (a coordinator still loading, a transaction
// whose markers are still being written) at ERROR; a real failure rejects a promise and fails the test.
const kafka = new Kafka({ clientId: "weir-kafka-test", brokers, logLevel: logLevel.NOTHING });

/**
 * A consumer that long-polls for at most 500 ms: `disconnect()` waits for the fetch in flight, and
 * the default 5 s wait made every test here 5 s slower.
 */
function consumer(groupId: string, options: { readUncommitted?: boolean } = {}): Consumer {
  return kafka.consumer({ groupId, maxWaitTimeInMs: 500, heartbeatInterval: 500, ...options });
}

/** A topic (and group/transaction ids) no earlier run has used, so reruns never see old data. */
function uniqueName(prefix: string): string {
  return `weir-test-${prefix}-${Date.now()}-${crypto.randomUUID().slice(0, 8)}`;
}

async function withAdmin<T>(fn: (admin: ReturnType<Kafka["admin"]>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

async function createTopic(topic: string, numPartitions: number): Promise<void> {
  await withAdmin((admin) =>
    admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true })
  );
}

async function deleteTopic(topic: string): Promise<void> {
  await withAdmin((admin) => admin.deleteTopics({ topics: [topic] }));
}

/** Resolves when `check` returns true, polling; rejects with `what` after the deadline. */
async function eventually(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function text(value: Buffer | string | null | undefined): string {
  return value === null || value === undefined ? "" : value.toString();
}

function headerText(headers: IHeaders | undefined, name: string): string {
  const value = headers?.[name];
  return Array.isArray(value) ? text(value[0]) : text(value);
}

Deno.test("kafka broker delivers produced messages to a consumer group", async () => {
  const topic = uniqueName("produce");
  await createTopic(topic, 1);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const reader = consumer(uniqueName("group"));
  try {
    await producer.connect();
    const sent = Array.from({ length: 20 }, (_, i) => ({
      key: `k${i}`,
      value: `v${i}`,
      headers: { seq: String(i) },
    }));
    await producer.send({ topic, messages: sent });

    const received: KafkaMessage[] = [];
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({ eachMessage: ({ message }) => Promise.resolve(void received.push(message)) });
    await eventually("all 20 messages", () => received.length >= 20);

    assert.deepEqual(
      received.map((m) => [text(m.key), text(m.value), headerText(m.headers, "seq")]),
      sent.map((m) => [m.key, m.value, m.headers.seq]),
    );
  } finally {
    await reader.disconnect();
    await producer.disconnect();
  }
  await deleteTopic(topic);
});

Deno.test("kafka consumer group shares partitions between two members", async () => {
  const topic = uniqueName("group");
  await createTopic(topic, 2);
  const groupId = uniqueName("group");
  const members = [consumer(groupId), consumer(groupId)];
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const assigned: number[][] = [[], []];
  const received: { member: number; partition: number; value: string }[] = [];
  try {
    await Promise.all(members.map(async (reader, member) => {
      reader.on(reader.events.GROUP_JOIN, ({ payload }) => {
        assigned[member] = payload.memberAssignment[topic] ?? [];
      });
      await reader.connect();
      await reader.subscribe({ topic, fromBeginning: true });
      await reader.run({
        eachMessage: ({ partition, message }) =>
          Promise.resolve(void received.push({ member, partition, value: text(message.value) })),
      });
    }));
    // The first member to join takes both partitions until the second one's join rebalances them.
    await eventually("one partition per member", () => assigned.every((p) => p.length === 1));
    assert.deepEqual(assigned.flat().sort(), [0, 1]);

    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `m${i}` })),
    });
    await eventually("all 10 messages", () => received.length >= 10);

    assert.deepEqual(
      received.map((r) => r.value).sort(),
      Array.from({ length: 10 }, (_, i) => `m${i}`).sort(),
    );
    for (const { member, partition } of received) assert.deepEqual(assigned[member], [partition]);
  } finally {
    await Promise.all(members.map((reader) => reader.disconnect()));
    await producer.disconnect();
  }
  await deleteTopic(topic);
});

Deno.test(
  "kafka transaction shows committed and hides aborted batches from read_committed",
  async () => {
    const topic = uniqueName("txn");
    await createTopic(topic, 1);
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionalId: uniqueName("txn"),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const committedReader = consumer(uniqueName("committed"), { readUncommitted: false });
    const uncommittedReader = consumer(uniqueName("uncommitted"), { readUncommitted: true });
    try {
      await producer.connect();
      const commit = async (values: string[]) => {
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: values.map((value) => ({ value })) });
        await transaction.commit();
      };
      await commit(["c1", "c2"]);
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ value: "a1" }, { value: "a2" }] });
      await aborted.abort();
      // A committed batch after the aborted one proves the reader got past it rather than stopping short.
      await commit(["c3"]);

      const read = async (reader: Consumer, values: string[]) => {
        await reader.connect();
        await reader.subscribe({ topic, fromBeginning: true });
        await reader.run({
          eachMessage: ({ message }) => Promise.resolve(void values.push(text(message.value))),
        });
      };
      const committed: string[] = [];
      const everything: string[] = [];
      await Promise.all([read(committedReader, committed), read(uncommittedReader, everything)]);
      await eventually(
        "the last committed message",
        () => committed.includes("c3") && everything.includes("c3"),
      );

      assert.deepEqual(committed, ["c1", "c2", "c3"]);
      // The aborted records were really written; only the isolation level hides them.
      assert.deepEqual(everything, ["c1", "c2", "a1", "a2", "c3"]);
    } finally {
      await Promise.all([
        committedReader.disconnect(),
        uncommittedReader.disconnect(),
        producer.disconnect(),
      ]);
    }
    await deleteTopic(topic);
  },
);

Deno.test("kafka transaction commits consumer offsets atomically with its output", async () => {
  // Consume-transform-produce, the exactly-once shape stream/ relies on: the input offsets are part
  // of the transaction (AddOffsetsToTxn + TxnOffsetCommit), so they move only when the output commits.
  const input = uniqueName("eos-in");
  const output = uniqueName("eos-out");
  await createTopic(input, 1);
  await createTopic(output, 1);
  const groupId = uniqueName("eos");
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    transactionalId: uniqueName("eos"),
    idempotent: true,
    maxInFlightRequests: 1,
  });
  try {
    await producer.connect();
    const offsets = (offset: string) => ({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [{ partition: 0, offset }] }],
    });

    const aborted = await producer.transaction();
    await aborted.send({ topic: output, messages: [{ value: "x" }] });
    await aborted.sendOffsets(offsets("5"));
    await aborted.abort();
    const afterAbort = await withAdmin((admin) => admin.fetchOffsets({ groupId, topics: [input] }));

    const committed = await producer.transaction();
    await committed.send({ topic: output, messages: [{ value: "y" }] });
    await committed.sendOffsets(offsets("3"));
    await committed.commit();
    const afterCommit = await withAdmin((admin) => admin.fetchOffsets({ groupId, topics: [input] }));

    assert.equal(afterAbort[0].partitions[0].offset, "-1");
    assert.equal(afterCommit[0].partitions[0].offset, "3");
  } finally {
    await producer.disconnect();
  }
  await deleteTopic(input);
  await deleteTopic(output);
});
