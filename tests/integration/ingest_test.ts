/**
 * HTTP ingestion end to end, in process (`startServer` on PORT=0), on the embedded default (PGlite) and on the
 * real services (PostgreSQL, Kafka, Redis through the Upstash gateway): every body format and encoding lands in
 * every sink exactly as sent, a multi-chunk body is parsed in parallel and lands whole, malformed rows go to the
 * dead-letter queue with their line and original bytes while the good rows land, a fixed dead letter replays,
 * idempotency keys make retries no-ops, and every malformed request gets its 4xx JSON error.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import postgres from "postgres";
import { Redis } from "@upstash/redis";
import { Kafka, logLevel } from "kafkajs";
import { loadEnv } from "../../config/env.ts";
import { concatBytes } from "../../pipeline/bytes.ts";
import { createLogger } from "../../observability/logger.ts";
import { type RunningServer, startServer } from "../../server/serve.ts";
import { kafkaUp } from "../../tools/kafka.ts";
import { serveUpstashGateway } from "../../tools/upstash_gateway.ts";

const ADMIN_URL = Deno.env.get("WEIR_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const TOKEN = "weir-ingest-test";

/** An order as the test sends it and expects it back. */
interface Order {
  id: number;
  ts: string;
  country: string | null;
  amount: string;
  qty: number;
  status: string;
}

/** `orders` upserts by id; `events` appends and is the one the request limits are tried on. */
function pipelinesYaml(extraSinks: string, options: { countryPattern?: string } = {}): string {
  return `
pipelines:
  orders:
    source: { http: { maxBodySize: 4MiB } }
    schema:
      key: [id]
      columns:
        id: { type: int64, required: true }
        ts: { type: timestamp, required: true }
        country: { type: string, pattern: "${options.countryPattern ?? "^[A-Z]{2}$"}" }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
        qty: { type: int64, min: 1 }
        status: { type: enum, values: [new, paid, cancelled] }
    transforms: [{ derive: { total: "amount * qty" } }, { filter: "status != 'cancelled'" }]
    sinks:
      - { postgres: { table: orders, mode: upsert } }${extraSinks}
    # Small chunks, so that a few hundred KiB are several chunks parsed in parallel.
    limits: { chunkSize: 64KiB }
  events:
    source: { http: { formats: [csv, ndjson], encodings: [identity, gzip], maxBodySize: 64KiB } }
    schema:
      columns:
        id: { type: int64, required: true }
        note: { type: string, maxLength: 20 }
    sinks: [{ postgres: { table: events, mode: append } }]
    limits: { maxConcurrentIngests: 1 }
`;
}

const HEADER = "id,ts,country,amount,qty,status";

function order(id: number, overrides: Partial<Order> = {}): Order {
  return {
    id,
    ts: new Date(Date.UTC(2026, 10, 28, 12, 0, id % 60)).toISOString(),
    country: ["US", "DE", "FR", "JP"][id % 4],
    amount: `${id % 500}.${String(id % 100).padStart(2, "0")}`,
    qty: 1 + (id % 7),
    status: ["new", "paid", "paid"][id % 3],
    ...overrides,
  };
}

const csvOf = (orders: Order[]) =>
  `${HEADER}\n${
    orders.map((o) => [o.id, o.ts, o.country, o.amount, o.qty, o.status].join(",")).join("\n")
  }\n`;
const ndjsonOf = (orders: Order[]) =>
  orders.map((o) => JSON.stringify({ ...o, amount: Number(o.amount) })).join("\n");

/** A running weir with what the assertions need to read its sinks. */
interface Weir {
  url: string;
  server: RunningServer;
  dir: string;
  /** Sink rows, read through the runtime's own sink database (PostgreSQL or PGlite). */
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

async function openWeir(env: Record<string, string>, yaml: string): Promise<Weir> {
  const dir = await Deno.makeTempDir({ prefix: "weir-ingest-test-" });
  await Deno.writeTextFile(`${dir}/weir.yaml`, yaml);
  const config = loadEnv({
    PORT: "0",
    WEIR_DATA_DIR: `${dir}/data`,
    WEIR_CONFIG: `${dir}/weir.yaml`,
    WEIR_WORKERS: "2",
    ...env,
  });
  const server = await startServer(config, createLogger({ level: "error" }));
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    server,
    dir,
    // Copied into a plain array: postgres.js answers with a Result, which deepEqual tells from an array.
    query: async <T>(sql: string, params: unknown[] = []) =>
      [...await server.runtime.database.query(sql, params as never)] as T[],
    close: async () => {
      await server.shutdown("test done");
      await Deno.remove(dir, { recursive: true });
    },
  };
}

interface Posted {
  status: number;
  // deno-lint-ignore no-explicit-any -- response bodies are asserted field by field
  body: any;
  headers: Headers;
}

async function post(
  weir: Weir,
  pipeline: string,
  body: BodyInit | null,
  headers: Record<string, string>,
): Promise<Posted> {
  const response = await fetch(`${weir.url}/v1/pipelines/${pipeline}/ingest`, {
    method: "POST",
    headers,
    body,
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

// deno-lint-ignore no-explicit-any -- JSON read back from the API
async function getJson(weir: Weir, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const response = await fetch(`${weir.url}${path}`, init);
  return { status: response.status, body: await response.json() };
}

/** The orders table as comparable text, by id. */
async function ordersTable(weir: Weir): Promise<Record<string, string | null>[]> {
  return await weir.query<Record<string, string | null>>(
    `SELECT id::text AS id, (extract(epoch FROM ts) * 1000)::bigint::text AS ts, country, amount::text AS amount,
            qty::text AS qty, status, total::numeric(14,2)::text AS total
       FROM orders ORDER BY orders.id`,
  );
}

/** What the orders table must hold: the last version of every non-cancelled order, with its total. */
function expectedTable(model: Map<number, Order>): Record<string, string | null>[] {
  return [...model.values()].sort((a, b) => a.id - b.id).map((o) => ({
    id: String(o.id),
    ts: String(Date.parse(o.ts)),
    country: o.country,
    amount: Number(o.amount).toFixed(2),
    qty: String(o.qty),
    status: o.status,
    total: (Number(o.amount) * o.qty).toFixed(2),
  }));
}

/** Orders the pipeline writes to its sinks, in order (cancelled ones are filtered out). */
class Expected {
  /** Upsert semantics: the table and the Redis hashes. */
  readonly latest = new Map<number, Order>();
  /** Append semantics: the Kafka topic. */
  readonly stream: Order[] = [];
  land(orders: Order[]): void {
    for (const o of orders) {
      if (o.status === "cancelled") continue;
      this.latest.set(o.id, o);
      this.stream.push(o);
    }
  }
}

/**
 * Compares rows by their first difference: on thousands of rows, assert.deepEqual's diff of a failure takes
 * minutes to render.
 */
function assertSameRows(actual: unknown[], expected: unknown[], what = "rows"): void {
  const a = actual.map((row) => JSON.stringify(row));
  const e = expected.map((row) => JSON.stringify(row));
  const at = a.findIndex((row, i) => row !== e[i]);
  if (at >= 0 || a.length !== e.length) {
    const i = at >= 0 ? at : Math.min(a.length, e.length);
    assert.fail(`${what}: ${a.length} vs ${e.length} expected; first difference at ${i}: ${a[i]} vs ${e[i]}`);
  }
}

function assertCommitted(posted: Posted, counts: { accepted: number; rejected?: number }): void {
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  assert.match(posted.body.run, /^r_/);
  assert.equal(posted.body.accepted, counts.accepted);
  assert.equal(posted.body.rejected, counts.rejected ?? 0);
  assert.equal(posted.body.committed, true);
  if (!counts.rejected) assert.deepEqual(posted.body.rejects, []);
}

/** The steps every backend runs; `expected` accumulates what the sinks must hold afterwards. */
async function ingestSteps(t: Deno.TestContext, weir: Weir, expected: Expected): Promise<void> {
  await t.step("a CSV body lands in every sink", async () => {
    const orders = [order(1), order(2), order(3, { status: "cancelled" }), order(4), order(5)];
    const posted = await post(weir, "orders", csvOf(orders), { "content-type": "text/csv" });
    assertCommitted(posted, { accepted: 5 });
    expected.land(orders);
    assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
  });

  const formats: [
    string,
    () => Order[],
    (orders: Order[]) => { body: BodyInit; headers: Record<string, string> },
  ][] = [
    [
      "an NDJSON body upserts by key",
      () => [order(1, { amount: "999.99", qty: 2 }), order(10)],
      (orders) => ({
        body: ndjsonOf(orders),
        headers: { "content-type": "application/x-ndjson" },
      }),
    ],
    ["a JSON array body lands, null included", () => [order(11), order(12, { country: null })], (orders) => ({
      // Amounts as strings, as weir's own JSON writers keep decimals exact.
      body: JSON.stringify(orders),
      headers: { "content-type": "application/json; charset=utf-8" },
    })],
    ["a gzip CSV body lands", () => [order(20), order(21), order(2, { status: "new", amount: "0.00" })], (
      orders,
    ) => ({
      body: gzipSync(new TextEncoder().encode(csvOf(orders))),
      headers: { "content-type": "text/csv", "content-encoding": "gzip" },
    })],
    ["a deflate NDJSON body lands", () => [order(30), order(31, { status: "cancelled" })], (orders) => ({
      body: new Blob([ndjsonOf(orders)]).stream().pipeThrough(new CompressionStream("deflate")),
      headers: { "content-type": "application/x-ndjson", "content-encoding": "deflate" },
    })],
  ];
  for (const [name, make, encode] of formats) {
    await t.step(name, async () => {
      const orders = make();
      const { body, headers } = encode(orders);
      const posted = await post(weir, "orders", body, headers);
      assertCommitted(posted, { accepted: orders.length });
      expected.land(orders);
      assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
    });
  }

  await t.step(
    "a multi-chunk body is parsed in parallel, lands whole, in order, and its run is recorded",
    async () => {
      // ~400 KiB: seven or so 64 KiB chunks; the ids repeat once, so the later row must win the upsert even when
      // the two copies are in different chunks.
      const orders: Order[] = [];
      for (let i = 0; i < 7000; i++) orders.push(order(1000 + i));
      for (let i = 0; i < 500; i++) orders.push(order(1000 + i * 13, { qty: 99 }));
      const csv = csvOf(orders);
      const size = new TextEncoder().encode(csv).length;
      assert.ok(size > 4 * 64 * 1024, `body of ${size} bytes`);
      const posted = await post(weir, "orders", csv, { "content-type": "text/csv" });
      assertCommitted(posted, { accepted: orders.length });
      assert.equal(posted.body.bytes, size);
      expected.land(orders);
      assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
      const run = await getJson(weir, `/v1/runs/${posted.body.run}`);
      assert.equal(run.status, 200);
      assert.equal(run.body.status, "committed");
      assert.equal(run.body.pipeline, "orders");
      assert.equal(run.body.received, orders.length);
      assert.equal(run.body.accepted, orders.length);
      assert.equal(run.body.rejected, 0);
      assert.equal(run.body.bytes, size);
      assert.notEqual(run.body.finishedAt, null);
    },
  );

  await t.step(
    "a malformed CSV lands its good rows and dead-letters each bad row with its line and bytes",
    async () => {
      const good = [order(40), order(41), order(42), order(43)];
      const encoder = new TextEncoder();
      // [line text, rule, column] in input order; line 1 is the header.
      const lines: (string | Uint8Array)[] = [
        HEADER,
        csvOf([good[0]]).split("\n")[1], // 2
        "44,2026-11-28T12:00:00Z,us,1.00,1,new", // 3: pattern
        '45,2026-11-28T12:00:00Z,US,1.00," 00",new', // 4: min on qty, reported as written
        "46,2026-11-28T12:00:00Z,US,1.00,1", // 5: ragged (too few)
        csvOf([good[1]]).split("\n")[1], // 6
        "47,yesterday,US,1.00,1,new", // 7: type
        "48,2026-11-28T12:00:00Z,US,1.00,1,lost", // 8: enum
        concatBytes([
          encoder.encode("49,2026-11-28T12:00:00Z,"),
          new Uint8Array([0xff, 0xfe]),
          encoder.encode(",1.00,1,new"),
        ]), // 9: utf8
        csvOf([good[2]]).split("\n")[1], // 10
        "50,2026-11-28T12:00:00Z,US,1.00,1,new,extra", // 11: ragged (too many)
        `${good[3].id},${good[3].ts},${good[3].country},${good[3].amount},${good[3].qty},"${good[3].status}"`, // 12
        ",2026-11-28T12:00:00Z,US,1.00,1,new", // 13: required
      ];
      const body = concatBytes(
        lines.flatMap((
          line,
        ) => [typeof line === "string" ? encoder.encode(line) : line, encoder.encode("\n")]),
      );
      const posted = await post(weir, "orders", body, { "content-type": "text/csv" });
      assertCommitted(posted, { accepted: 4, rejected: 8 });
      const rejects = posted.body.rejects as {
        line: number;
        column: string;
        rule: string;
        value: string | null;
      }[];
      assert.deepEqual(
        rejects.map((r) => [r.line, r.rule, r.column]),
        [
          [3, "pattern", "country"],
          [4, "min", "qty"],
          [5, "ragged", ""],
          [7, "type", "ts"],
          [8, "enum", "status"],
          [9, "utf8", ""],
          [11, "ragged", ""],
          [13, "required", "id"],
        ],
        JSON.stringify(rejects),
      );
      assert.equal(rejects[0].value, "us");
      assert.equal(rejects[1].value, " 00");
      assert.equal(rejects[3].value, "yesterday");
      assert.equal(rejects[4].value, "lost");
      expected.land(good);
      assertSameRows(await ordersTable(weir), expectedTable(expected.latest));

      const page = await getJson(weir, `/v1/pipelines/orders/dlq?run=${posted.body.run}`);
      assert.equal(page.status, 200);
      const letters = (page.body.items as { id: string; line: number; stage: string }[])
        .sort((a, b) => a.line - b.line);
      assert.deepEqual(letters.map((l) => l.line), [3, 4, 5, 7, 8, 9, 11, 13]);
      for (const letter of letters) {
        const full = await getJson(weir, `/v1/dlq/${letter.id}`);
        assert.equal(full.status, 200);
        const original = Uint8Array.from(atob(full.body.originalBase64), (c) => c.charCodeAt(0));
        // The header, then the row's own bytes exactly as sent, its line ending included.
        const row = lines[letter.line - 1];
        const want = concatBytes([
          encoder.encode(`${HEADER}\n`),
          typeof row === "string" ? encoder.encode(row) : row,
          encoder.encode("\n"),
        ]);
        assert.deepEqual(original, want, `line ${letter.line}: ${full.body.original}`);
        assert.equal(full.body.runId, posted.body.run);
        if (letter.line === 4) assert.deepEqual(full.body.errors[0].message, "min: qty:  00");
      }
    },
  );

  await t.step("NDJSON rejects show each value as written, numbers in strings included", async () => {
    const good = [order(51), order(52)];
    const body = [
      JSON.stringify(good[0]),
      '{"id":53,"ts":"2026-11-28T12:00:00Z","country":"US","amount":"-1.500","qty":1,"status":"new"}',
      '{"id":54,"ts":"2026-11-28T12:00:00Z","country":"US","amount":1.5,"qty":-0,"status":"new"}',
      JSON.stringify(good[1]),
    ].join("\n");
    const posted = await post(weir, "orders", body, { "content-type": "application/x-ndjson" });
    assertCommitted(posted, { accepted: 2, rejected: 2 });
    assert.deepEqual(posted.body.rejects, [
      { line: 2, column: "amount", rule: "min", value: "-1.500" },
      { line: 3, column: "qty", rule: "min", value: "-0" },
    ]);
    expected.land(good);
    assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
  });

  await t.step(
    "an Idempotency-Key retry answers the first result and writes nothing; another body is 409",
    async () => {
      const orders = [order(60), order(61)];
      const headers = { "content-type": "text/csv", "idempotency-key": `key-${crypto.randomUUID()}` };
      const first = await post(weir, "orders", csvOf(orders), headers);
      assertCommitted(first, { accepted: 2 });
      expected.land(orders);
      await weir.query(`UPDATE orders SET qty = 1000 WHERE id = 60`);
      const again = await post(weir, "orders", csvOf(orders), headers);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body);
      const [row] = await weir.query<{ qty: string }>(`SELECT qty::text AS qty FROM orders WHERE id = 60`);
      assert.equal(row.qty, "1000", "the retry wrote nothing");
      await weir.query(`UPDATE orders SET qty = $1 WHERE id = 60`, [orders[0].qty]);
      const other = await post(weir, "orders", csvOf([order(62)]), headers);
      assert.equal(other.status, 409, JSON.stringify(other.body));
      assert.equal(other.body.error.code, "idempotency_conflict");
      assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
      const runs = await getJson(weir, `/v1/runs?pipeline=orders`);
      assert.equal(
        (runs.body.items as { idempotencyKey: string | null }[]).filter((r) =>
          r.idempotencyKey === headers["idempotency-key"]
        ).length,
        1,
      );
    },
  );
}

/** Half of a gzip stream of varied rows (repetitive text compresses into too few bytes to cut). */
function truncatedGzip(): Uint8Array<ArrayBuffer> {
  const rows = Array.from({ length: 2000 }, (_, i) => `${i},${Math.sin(i).toFixed(8)}`).join("\n");
  const gz = gzipSync(new TextEncoder().encode(`id,note\n${rows}\n`));
  return new Uint8Array(gz.subarray(0, gz.length >> 1));
}

/** Every malformed request, on the `events` pipeline (limits) and `orders` (schema). */
async function errorSteps(t: Deno.TestContext, weir: Weir): Promise<void> {
  const huge = "id,note\n" + "1,abc\n".repeat(12_000); // 72 000 bytes > 64 KiB
  const cases: [
    string,
    string,
    () => { body: BodyInit | null; headers: Record<string, string> },
    number,
    string,
  ][] = [
    [
      "an unknown pipeline",
      "nope",
      () => ({ body: "id\n1\n", headers: { "content-type": "text/csv" } }),
      404,
      "unknown_pipeline",
    ],
    [
      "a content type no pipeline takes",
      "events",
      () => ({ body: "1", headers: { "content-type": "text/plain" } }),
      415,
      "unsupported_media_type",
    ],
    [
      "a format this pipeline does not take",
      "events",
      () => ({ body: "[]", headers: { "content-type": "application/json" } }),
      415,
      "unsupported_media_type",
    ],
    [
      "no content type",
      "events",
      () => ({ body: new Blob(["id\n1\n"]), headers: {} }),
      415,
      "unsupported_media_type",
    ],
    [
      "an encoding this pipeline does not take",
      "events",
      () => ({ body: "x", headers: { "content-type": "text/csv", "content-encoding": "deflate" } }),
      415,
      "unsupported_encoding",
    ],
    [
      "an unknown encoding",
      "events",
      () => ({ body: "x", headers: { "content-type": "text/csv", "content-encoding": "br" } }),
      415,
      "unsupported_encoding",
    ],
    [
      "a declared length over the limit",
      "events",
      () => ({ body: huge, headers: { "content-type": "text/csv" } }),
      413,
      "payload_too_large",
    ],
    [
      "a streamed body over the limit",
      "events",
      () => ({ body: new Blob([huge]).stream(), headers: { "content-type": "text/csv" } }),
      413,
      "payload_too_large",
    ],
    [
      "a gzip body that inflates over the limit",
      "events",
      () => ({
        body: gzipSync(new TextEncoder().encode(huge)),
        headers: { "content-type": "text/csv", "content-encoding": "gzip" },
      }),
      413,
      "payload_too_large",
    ],
    [
      "a body that is not gzip",
      "events",
      () => ({ body: "id,note\n1,a\n", headers: { "content-type": "text/csv", "content-encoding": "gzip" } }),
      400,
      "bad_encoding",
    ],
    [
      "a truncated gzip body",
      "events",
      () => ({
        body: truncatedGzip(),
        headers: { "content-type": "text/csv", "content-encoding": "gzip" },
      }),
      400,
      "bad_encoding",
    ],
    [
      "an empty body",
      "events",
      () => ({ body: null, headers: { "content-type": "text/csv" } }),
      400,
      "empty_body",
    ],
    [
      "a CSV header without a required column",
      "orders",
      () => ({ body: "ts,country\n2026-11-28T12:00:00Z,US\n", headers: { "content-type": "text/csv" } }),
      422,
      "schema_mismatch",
    ],
    [
      "a CSV header without a required column, with a key",
      "orders",
      () => ({
        body: "ts,country\n2026-11-28T12:00:00Z,US\n",
        headers: { "content-type": "text/csv", "idempotency-key": crypto.randomUUID() },
      }),
      422,
      "schema_mismatch",
    ],
    [
      "an Idempotency-Key over 200 characters",
      "events",
      () => ({
        body: "id,note\n1,a\n",
        headers: { "content-type": "text/csv", "idempotency-key": "k".repeat(201) },
      }),
      400,
      "bad_idempotency_key",
    ],
  ];
  for (const [name, pipeline, make, status, code] of cases) {
    await t.step(`${name} is ${status} ${code}`, async () => {
      const { body, headers } = make();
      const posted = await post(weir, pipeline, body, headers);
      assert.equal(posted.status, status, JSON.stringify(posted.body));
      assert.equal(posted.body.error.code, code);
      assert.equal(typeof posted.body.error.message, "string");
    });
  }
  const [{ n }] = await weir.query<{ n: string }>(`SELECT count(*)::text AS n FROM events`);
  assert.equal(n, "0", "no rejected request wrote a row");

  await t.step("an ingest over the pipeline's concurrency limit is 429 with Retry-After", async () => {
    // The first request's body stays open, so it holds the pipeline's only ingest slot.
    const { promise: pulled, resolve } = Promise.withResolvers<void>();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const slow = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        c.enqueue(new TextEncoder().encode("id,note\n1,first\n"));
      },
      pull() {
        resolve();
      },
    });
    const first = post(weir, "events", slow, { "content-type": "text/csv" });
    await pulled;
    // The server has started reading the first body; a second ingest now finds the slot taken.
    const second = await post(weir, "events", new Blob(["id,note\n2,second\n"]).stream(), {
      "content-type": "text/csv",
    });
    controller.enqueue(new TextEncoder().encode("3,third\n"));
    controller.close();
    assert.equal(second.status, 429, JSON.stringify(second.body));
    assert.equal(second.body.error.code, "too_many_ingests");
    assert.ok(Number(second.headers.get("retry-after")) >= 1);
    const done = await first;
    assertCommitted(done, { accepted: 2 });
    const rows = await weir.query<{ id: string; note: string }>(
      `SELECT id::text AS id, note FROM events ORDER BY id`,
    );
    assert.deepEqual(rows.map((r) => [r.id, r.note]), [["1", "first"], ["3", "third"]]);
  });
}

Deno.test("ingest on the embedded store lands every format, dead-letters bad rows and answers bad requests", async (t) => {
  const weir = await openWeir({}, pipelinesYaml(""));
  try {
    assert.equal(weir.server.runtime.store.kind, "pglite");
    const expected = new Expected();
    await ingestSteps(t, weir, expected);
    await errorSteps(t, weir);

    await t.step(
      "a chunk a sink refused is dead-lettered whole and replays once the table is fixed",
      async () => {
        await weir.query(`ALTER TABLE orders ADD CONSTRAINT small_qty CHECK (qty <> 77)`);
        const orders = [order(70), order(71, { qty: 77 }), order(72)];
        const posted = await post(weir, "orders", csvOf(orders), { "content-type": "text/csv" });
        // Not delivered, so not a 2xx, and the table is unchanged.
        assert.equal(posted.status, 502, JSON.stringify(posted.body));
        assert.equal(posted.body.committed, false);
        assert.equal(posted.body.failedChunks, 1);
        assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
        // A small request is group-committed, and still its own run: failed, holding the refused body.
        const run = await getJson(weir, `/v1/runs/${posted.body.run}`);
        assert.equal(run.body.status, "failed", JSON.stringify(run.body));
        const page = await getJson(weir, `/v1/pipelines/orders/dlq?run=${posted.body.run}`);
        assert.equal(page.body.items.length, 1, JSON.stringify(page.body));
        const [letter] = page.body.items;
        assert.equal(letter.stage, "sink.postgres");
        // A failed chunk's bytes start with the header, at line 1.
        assert.equal(letter.line, 1);
        assert.match(JSON.stringify(letter.errors), /small_qty/);
        const full = await getJson(weir, `/v1/dlq/${letter.id}`);
        assert.equal(full.body.original, csvOf(orders));

        const refused = await getJson(weir, `/v1/dlq/${letter.id}/replay`, { method: "POST" });
        assert.notEqual(refused.status, 200, "still refused while the constraint is there");
        await weir.query(`ALTER TABLE orders DROP CONSTRAINT small_qty`);
        const replayed = await getJson(weir, `/v1/dlq/${letter.id}/replay`, { method: "POST" });
        assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
        assert.equal(replayed.body.replayed, true);
        assert.equal(replayed.body.accepted, 3);
        expected.land(orders);
        assertSameRows(await ordersTable(weir), expectedTable(expected.latest));
        const after = await getJson(weir, `/v1/dlq/${letter.id}`);
        assert.notEqual(after.body.replayedAt, null);
      },
    );

    await t.step("purging the dead-letter queue removes the pipeline's dead letters", async () => {
      const purged = await getJson(weir, `/v1/pipelines/orders/dlq`, { method: "DELETE" });
      assert.equal(purged.status, 200);
      assert.ok(purged.body.purged >= 9, JSON.stringify(purged.body));
      const page = await getJson(weir, `/v1/pipelines/orders/dlq`);
      assert.deepEqual(page.body.items, []);
    });
  } finally {
    await weir.close();
  }
});

Deno.test("ingest on PostgreSQL, Kafka and Redis lands every row in every sink exactly as sent", async (t) => {
  const name = `weir_it_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${name}`;
  const { brokers } = await kafkaUp({ logger: createLogger({ level: "warn" }) });
  const gateway = await serveUpstashGateway({
    port: 0,
    token: TOKEN,
    logger: createLogger({ level: "warn" }),
  });
  const topic = `weir-ingest-test-${crypto.randomUUID().slice(0, 8)}`;
  const prefix = `weir:ingest-test:${crypto.randomUUID().slice(0, 8)}`;
  const env = {
    DATABASE_URL: databaseUrl.href,
    KAFKA_BROKERS: brokers.join(","),
    UPSTASH_REDIS_REST_URL: gateway.url,
    UPSTASH_REDIS_REST_TOKEN: TOKEN,
  };
  const redis = new Redis({
    url: gateway.url,
    token: TOKEN,
    enableTelemetry: false,
    automaticDeserialization: false,
  });
  let weir: Weir | undefined;
  try {
    weir = await openWeir(
      env,
      pipelinesYaml(`
      - { kafka: { topic: ${topic}, transactionalId: ${topic} } }
      - { redis: { prefix: "${prefix}" } }`),
    );
    assert.equal(weir.server.runtime.store.kind, "postgres");
    const expected = new Expected();
    await ingestSteps(t, weir, expected);
    await errorSteps(t, weir);

    await t.step("a dead letter replays through the fixed pipeline", async () => {
      const bad = order(80, { country: "us" });
      const posted = await post(weir!, "orders", csvOf([bad, order(81)]), { "content-type": "text/csv" });
      assertCommitted(posted, { accepted: 1, rejected: 1 });
      expected.land([order(81)]);
      const page = await getJson(weir!, `/v1/pipelines/orders/dlq?run=${posted.body.run}`);
      const [letter] = page.body.items;
      assert.equal(letter.line, 2);
      // The rule is fixed in weir.yaml; a second weir on the same database serves the fixed pipeline. Only
      // the PostgreSQL sink, so the first weir's Kafka producer is not fenced.
      const fixed = await openWeir(
        { DATABASE_URL: databaseUrl.href },
        pipelinesYaml("", { countryPattern: "^[A-Za-z]{2}$" }),
      );
      try {
        const replayed = await getJson(fixed, `/v1/dlq/${letter.id}/replay`, { method: "POST" });
        assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
        assert.equal(replayed.body.replayed, true);
        assert.equal(replayed.body.accepted, 1);
      } finally {
        await fixed.close();
      }
      expected.latest.set(bad.id, bad);
      assertSameRows(await ordersTable(weir!), expectedTable(expected.latest));
      const again = await getJson(weir!, `/v1/pipelines/orders/dlq?run=${posted.body.run}&replayed=true`);
      assert.deepEqual(again.body.items.map((l: { id: string }) => l.id), [letter.id]);
    });

    await t.step(
      "the Kafka topic holds every landed row once, in order, for a read_committed consumer",
      async () => {
        const kafka = new Kafka({ clientId: "weir-ingest-test", brokers, logLevel: logLevel.NOTHING });
        const consumer = kafka.consumer({
          groupId: `${topic}-reader`,
          maxWaitTimeInMs: 200,
          readUncommitted: false,
        });
        const seen: { key: string; value: Record<string, unknown> }[] = [];
        await consumer.connect();
        try {
          await consumer.subscribe({ topic, fromBeginning: true });
          await consumer.run({
            eachMessage: ({ message }) => {
              seen.push({ key: message.key!.toString(), value: JSON.parse(message.value!.toString()) });
              return Promise.resolve();
            },
          });
          // The deadline only bounds a failure (too few records): the count is asserted below.
          const deadline = Date.now() + 30_000;
          while (seen.length < expected.stream.length && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        } finally {
          await consumer.disconnect();
        }
        assert.equal(seen.length, expected.stream.length);
        assertSameRows(
          seen.map((
            m,
          ) => [
            m.key,
            m.value.id,
            m.value.country,
            Number(m.value.amount),
            m.value.qty,
            m.value.status,
            Date.parse(String(m.value.ts)),
          ]),
          expected.stream.map((
            o,
          ) => [String(o.id), o.id, o.country, Number(o.amount), o.qty, o.status, Date.parse(o.ts)]),
        );
      },
    );

    await t.step("every Redis hash holds the latest version of its row", async () => {
      // The replayed row went through the second weir, which had no Redis sink.
      const ids = [...expected.latest.keys()].filter((id) => id !== 80);
      // In pipelines of a few hundred commands: one REST request each.
      const hashes: (Record<string, string> | null)[] = [];
      for (let at = 0; at < ids.length; at += 500) {
        const pipeline = redis.pipeline();
        for (const id of ids.slice(at, at + 500)) pipeline.hgetall(`${prefix}:${id}`);
        // Without deserialization HGETALL answers a flat [field, value, …] list.
        for (const flat of await pipeline.exec<string[][]>()) {
          hashes.push(
            flat.length === 0 ? null : Object.fromEntries(
              Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]),
            ),
          );
        }
      }
      assertSameRows(
        hashes.map((h) =>
          h &&
          [
            h.id,
            h.country ?? null,
            Number(h.amount),
            h.qty,
            h.status,
            Date.parse(h.ts),
            Number(h.total).toFixed(2),
          ]
        ),
        ids.map((id) => {
          const o = expected.latest.get(id)!;
          return [
            String(o.id),
            o.country,
            Number(o.amount),
            String(o.qty),
            o.status,
            Date.parse(o.ts),
            (Number(o.amount) * o.qty).toFixed(2),
          ];
        }),
      );
    });
  } finally {
    await weir?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await gateway.shutdown();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
});
