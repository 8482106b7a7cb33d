import assert from "node:assert/strict";
import * as v from "valibot";
import { type Batch, batchFromRows } from "../../batch.ts";
import type { PipelineSchema, SinkDatabase } from "../../component.ts";
import { ConfigError, PipelineError } from "../../errors.ts";
import { Telemetry } from "../../../observability/metrics.ts";
import { StoreError } from "../../../storage/store.ts";
import {
  BATCH_A,
  BATCH_B,
  COMPLIANCE_SCHEMA,
  sinkCompliance,
  sinkCounter,
  type TextRow,
} from "../compliance.ts";
import { sinkTestContext, type TestDatabase, withPgliteDatabase, withPostgresDatabase } from "../testing.ts";
import { isCompatibleType, postgresSink, PostgresSinkConfig, quoteIdent } from "./mod.ts";
import { migrate } from "../../../storage/migrate.ts";
import type { SqlExecutor } from "../../../storage/sql.ts";
import type { FinishedRun } from "../../../storage/store.ts";

const signal = new AbortController().signal;
const parse = (input: unknown) => v.parse(PostgresSinkConfig, input);

/** Each test runs on the real PostgreSQL and on the embedded PGlite. */
const BACKENDS: [string, <T>(fn: (test: TestDatabase) => Promise<T>) => Promise<T>][] = [
  ["postgres", (fn) => withPostgresDatabase(fn)],
  ["pglite", (fn) => withPgliteDatabase(fn)],
];

function readCompliance(db: SinkDatabase, table: string): () => Promise<TextRow[]> {
  return () =>
    db.query<TextRow>(
      `SELECT id::text AS id, name, amount::text AS amount, ratio::text AS ratio,
              CASE WHEN paid THEN 'true' WHEN NOT paid THEN 'false' END AS paid, day::text AS day,
              to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts
         FROM ${table}`,
    ).then((rows) => rows.map((r) => ({ ...r })));
}

Deno.test("postgres sink config parses a minimal config", () => {
  assert.equal(parse({ table: "orders" }).table, "orders");
});

Deno.test("postgres sink config rejects an unknown key", () => {
  assert.throws(() => parse({ table: "orders", tabel: "x" }), v.ValiError);
});

Deno.test("postgres sink config applies defaults", () => {
  assert.deepEqual(parse({ table: "orders" }), {
    table: "orders",
    schema: "public",
    mode: "append",
    create: true,
    streams: 2,
    minRowsPerStream: 20_000,
  });
});

for (const [backend, withDatabase] of BACKENDS) {
  for (const mode of ["append", "upsert"] as const) {
    Deno.test(`postgres sink passes compliance in ${mode} mode on ${backend}`, async (t) => {
      await withDatabase(async ({ db }) => {
        await sinkCompliance(t, {
          name: "postgres",
          makeSink: (telemetry) =>
            postgresSink.build(
              parse({ table: "orders", mode }),
              sinkTestContext(COMPLIANCE_SCHEMA, { database: db, telemetry }),
            ),
          readBack: readCompliance(db, "orders"),
        });
      });
    });
  }

  Deno.test(`postgres sink quotes hostile table and column names on ${backend}`, async () => {
    await withDatabase(async ({ db }) => {
      const table = `we"ird; DROP TABLE victims; --`;
      const schema: PipelineSchema = {
        key: [`select"`],
        fields: [{ name: `select"`, type: "int64" }, { name: "Mixed Case, comma", type: "string" }],
      };
      await db.exec(`CREATE TABLE victims (id int)`);
      const sink = await postgresSink.build(
        parse({ table, mode: "upsert" }),
        sinkTestContext(schema, { database: db }),
      );
      await sink.write(batchFromRows(schema.fields, [[1n, "a"], [1n, "b"]]), {
        runId: "r1",
        sequence: 0,
        signal,
      });
      const rows = await db.query(
        `SELECT "select"""::text AS id, "Mixed Case, comma" AS v FROM ${quoteIdent(table)}`,
      );
      assert.deepEqual(rows.map((r) => ({ ...r })), [{ id: "1", v: "b" }]);
      assert.equal((await db.query(`SELECT to_regclass('victims') IS NOT NULL AS ok`))[0].ok, true);
      await sink.close();
    });
  });

  Deno.test(`postgres sink rejects an existing table that does not fit the schema on ${backend}`, async (t) => {
    await withDatabase(async ({ db }) => {
      const cases: [string, string, RegExp][] = [
        ["missing column", `CREATE TABLE t (id bigint PRIMARY KEY, name text)`, /missing column amount/],
        [
          "narrower integer",
          `CREATE TABLE t (id integer PRIMARY KEY, name text, amount numeric(12,2), ratio float8, paid boolean, day date, ts timestamptz)`,
          /column id is integer/,
        ],
        [
          "narrower decimal",
          `CREATE TABLE t (id bigint PRIMARY KEY, name text, amount numeric(5,2), ratio float8, paid boolean, day date, ts timestamptz)`,
          /column amount is numeric\(5,2\)/,
        ],
        [
          "extra required column",
          `CREATE TABLE t (id bigint PRIMARY KEY, name text, amount numeric, ratio float8, paid boolean, day date, ts timestamptz, extra int NOT NULL)`,
          /extra is NOT NULL/,
        ],
        [
          "no key for upsert",
          `CREATE TABLE t (id bigint, name text, amount numeric, ratio float8, paid boolean, day date, ts timestamp)`,
          /no primary key or unique index/,
        ],
      ];
      for (const [what, ddl, message] of cases) {
        await t.step(what, async () => {
          await db.exec(`DROP TABLE IF EXISTS t; ${ddl}`);
          await assert.rejects(
            postgresSink.build(
              parse({ table: "t", mode: "upsert" }),
              sinkTestContext(COMPLIANCE_SCHEMA, { database: db }),
            ),
            (error: unknown) =>
              error instanceof ConfigError && message.test(error.message) &&
              error.path === "sinks.postgres.table",
          );
        });
      }
      await t.step("a wider existing table is accepted and written in its own column types", async () => {
        await db.exec(
          `DROP TABLE IF EXISTS t; CREATE TABLE t (id numeric PRIMARY KEY, name varchar(200), amount numeric(20,4),
          ratio float8, paid boolean, day timestamp, ts timestamp(3) with time zone, note text DEFAULT '')`,
        );
        const sink = await postgresSink.build(
          parse({ table: "t", mode: "upsert" }),
          sinkTestContext(COMPLIANCE_SCHEMA, { database: db }),
        );
        // Binary COPY sends each value in its column's own type: numeric for int64, timestamp for date, …
        await sink.write(BATCH_A, { runId: "r_wide", sequence: 0, signal });
        await sink.close();
        const append = await postgresSink.build(
          parse({ table: "t" }),
          sinkTestContext(COMPLIANCE_SCHEMA, { database: db }),
        );
        await append.write(BATCH_B, { runId: "r_wide", sequence: 1, signal });
        await append.close();
        const rows = await db.query<Record<string, string | null>>(
          `SELECT id::text AS id, amount::text AS amount, day::text AS day,
                  (ts AT TIME ZONE 'UTC')::text AS ts, note FROM t ORDER BY t.id`,
        );
        assert.deepEqual(rows.map((r) => [r.id, r.amount, r.day, r.ts, r.note]), [
          ["1", "12.3000", "2026-01-02 00:00:00", "2026-01-02 03:04:05.123", ""],
          ["2", "-0.0700", "1999-12-31 00:00:00", "1970-01-01 00:00:00", ""],
          ["3", null, null, null, ""],
          ["4", "0.0000", "2026-11-28 00:00:00", "2026-11-28 12:00:00", ""],
          ["5", "1.5000", "2026-06-30 00:00:00", "2026-07-01 00:00:00", ""], // rounded to the column's 3 digits
          ["9007199254740993", "9999999999.9900", "2400-02-29 00:00:00", "2262-04-11 23:47:16.855", ""],
        ]);
      });
      await t.step("a missing table with create false", async () => {
        await assert.rejects(
          postgresSink.build(
            parse({ table: "absent", create: false }),
            sinkTestContext(COMPLIANCE_SCHEMA, { database: db }),
          ),
          (error: unknown) => error instanceof ConfigError && /does not exist/.test(error.message),
        );
      });
    });
  });

  Deno.test(`postgres sink upsert updates existing rows and keeps the last row of a key on ${backend}`, async () => {
    await withDatabase(async ({ db }) => {
      const schema: PipelineSchema = {
        key: ["id"],
        fields: [{ name: "id", type: "int64" }, { name: "v", type: "string" }],
      };
      const sink = await postgresSink.build(
        parse({ table: "kv", mode: "upsert" }),
        sinkTestContext(schema, { database: db }),
      );
      await sink.write(batchFromRows(schema.fields, [[1n, "a"], [2n, "b"]]), {
        runId: "r",
        sequence: 0,
        signal,
      });
      await sink.write(batchFromRows(schema.fields, [[2n, "x"], [3n, "c"], [2n, "y"]]), {
        runId: "r",
        sequence: 1,
        signal,
      });
      const rows = await db.query<{ id: string; v: string }>(`SELECT id::text AS id, v FROM kv ORDER BY id`);
      assert.deepEqual(rows.map((r) => [r.id, r.v]), [["1", "a"], ["2", "y"], ["3", "c"]]);
      await sink.close();
    });
  });

  Deno.test(`postgres sink rolls a failed write back completely and a retry lands it once on ${backend}`, async () => {
    await withDatabase(async ({ db }) => {
      const schema: PipelineSchema = { key: [], fields: [{ name: "id", type: "int64" }] };
      const telemetry = new Telemetry();
      const sink = await postgresSink.build(
        parse({ table: "ledger" }),
        sinkTestContext(schema, { database: db, telemetry }),
      );
      await db.exec(`ALTER TABLE ledger ADD CONSTRAINT small CHECK (id < 1000)`);
      const batch = batchFromRows(
        schema.fields,
        Array.from({ length: 500 }, (_, i) => [i === 499 ? 5000n : BigInt(i)]),
      );
      const write = { runId: "r_fail", sequence: 7, signal };
      await assert.rejects(sink.write(batch, write), (error: unknown) => {
        assert.ok(error instanceof PipelineError);
        assert.equal(error.component, "sink.postgres");
        assert.equal(postgresSink.isRetriable(error), false);
        return true;
      });
      const count = async (sql: string) => Number((await db.query<{ n: number }>(sql))[0].n);
      assert.equal(await count(`SELECT count(*)::int AS n FROM ledger`), 0);
      assert.equal(await count(`SELECT count(*)::int AS n FROM weir.sink_commits`), 0);
      assert.equal(await sinkCounter(telemetry, "errors", "postgres"), 1);

      await db.exec(`ALTER TABLE ledger DROP CONSTRAINT small`);
      await sink.write(batch, write);
      await sink.write(batch, write);
      assert.equal(await count(`SELECT count(*)::int AS n FROM ledger`), 500);
      await sink.close();
    });
  });

  Deno.test(`postgres sink lands a fresh small batch in one statement, atomic with its marker, on ${backend}`, async () => {
    await withDatabase(async ({ db }) => {
      const schema: PipelineSchema = {
        key: [],
        fields: [{ name: "id", type: "int64" }, { name: "tag", type: "string" }],
      };
      const sink = await postgresSink.build(
        parse({ table: "events" }),
        sinkTestContext(schema, { database: db }),
      );
      await db.exec(`ALTER TABLE events ADD CONSTRAINT small CHECK (id < 1000)`);
      const rows = (n: number, bad = false) =>
        batchFromRows(
          schema.fields,
          Array.from({ length: n }, (_, i) => [bad && i === n - 1 ? 5000n : BigInt(i), `t${i}`]),
        );
      const count = async (sql: string) => Number((await db.query<{ n: number }>(sql))[0].n);
      // A failed fresh write leaves neither rows nor marker: its retry (no longer fresh, so COPY) lands it all.
      await assert.rejects(
        sink.write(rows(30, true), { runId: "r_small", sequence: 0, signal, fresh: true }),
      );
      assert.equal(await count(`SELECT count(*)::int AS n FROM events`), 0);
      assert.equal(await count(`SELECT count(*)::int AS n FROM weir.sink_commits`), 0);
      await db.exec(`ALTER TABLE events DROP CONSTRAINT small`);
      await sink.write(rows(30, true), { runId: "r_small", sequence: 0, signal });
      // A fresh write, then a retry of it through COPY: the retry finds the marker and writes nothing.
      await sink.write(rows(40), { runId: "r_small", sequence: 1, signal, fresh: true });
      await sink.write(rows(40), { runId: "r_small", sequence: 1, signal });
      assert.equal(await count(`SELECT count(*)::int AS n FROM events`), 70);
      assert.deepEqual(
        (await db.query(
          `SELECT sequence::int, part, parts, rows::int FROM weir.sink_commits ORDER BY sequence`,
        )).map((
          r,
        ) => ({ ...r })),
        [{ sequence: 0, part: 0, parts: 1, rows: 30 }, { sequence: 1, part: 0, parts: 1, rows: 40 }],
      );
      assert.equal(await count(`SELECT count(*)::int AS n FROM events WHERE tag = 't39' AND id = 39`), 1);
      await sink.close();
    });
  });

  Deno.test(`postgres sink records a write's runs in the commit of its rows, on every path, on ${backend}`, async () => {
    await withDatabase(async ({ db }) => {
      await migrate(db as unknown as SqlExecutor);
      const schema: PipelineSchema = { key: ["id"], fields: [{ name: "id", type: "int64" }] };
      const runsOf = (ids: string[]): FinishedRun[] =>
        ids.map((id) => ({ id, pipeline: "p", startedAt: new Date(), status: "committed", accepted: 1 }));
      const stored = async () =>
        (await db.query<{ id: string }>(`SELECT id FROM weir.runs ORDER BY id`)).map((r) => r.id);
      const rows = (n: number, from = 0) =>
        batchFromRows(schema.fields, Array.from({ length: n }, (_, i) => [BigInt(from + i)]));
      const append = await postgresSink.build(
        parse({ table: "a" }),
        sinkTestContext(schema, { database: db }),
      );
      assert.equal(append.recordsRuns, true);
      await db.exec(`ALTER TABLE a ADD CONSTRAINT small CHECK (id < 1000)`);
      // A failed write records no run: they roll back with its rows, on the one-statement path and on COPY.
      await assert.rejects(
        append.write(rows(5, 998), { runId: "r_1", sequence: 0, signal, fresh: true, runs: runsOf(["r_a"]) }),
      );
      await assert.rejects(
        append.write(rows(5, 998), { runId: "r_1", sequence: 0, signal, runs: runsOf(["r_a"]) }),
      );
      assert.deepEqual(await stored(), []);
      await append.write(rows(5), {
        runId: "r_1",
        sequence: 0,
        signal,
        fresh: true,
        runs: runsOf(["r_a", "r_b"]),
      });
      await append.write(rows(5, 5), { runId: "r_1", sequence: 1, signal, runs: runsOf(["r_c"]) });
      // A retry of a committed write commits nothing, and so records nothing again.
      await append.write(rows(5, 5), { runId: "r_1", sequence: 1, signal, runs: runsOf(["r_c"]) });
      const upsert = await postgresSink.build(
        parse({ table: "u", mode: "upsert" }),
        sinkTestContext(schema, { database: db }),
      );
      await upsert.write(rows(3), { runId: "r_2", sequence: 0, signal, runs: runsOf(["r_d"]) });
      assert.deepEqual(await stored(), ["r_a", "r_b", "r_c", "r_d"]);
      assert.equal(Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM a`))[0].n), 10);
    });
  });
}

Deno.test("postgres sink splits a large append over parallel streams and a retry adds only the missing parts", async () => {
  await withPostgresDatabase(async ({ db }) => {
    const schema: PipelineSchema = { key: [], fields: [{ name: "id", type: "int64" }] };
    const sink = await postgresSink.build(
      parse({ table: "big", streams: 3, minRowsPerStream: 100 }),
      sinkTestContext(schema, { database: db }),
    );
    // The last third holds the bad row: its part fails, the first two commit with their own markers.
    await db.exec(`ALTER TABLE big ADD CONSTRAINT small CHECK (id < 100000)`);
    const rows = Array.from({ length: 900 }, (_, i) => [i === 850 ? 999_999n : BigInt(i)]);
    const batch: Batch = batchFromRows(schema.fields, rows);
    const write = { runId: "r_par", sequence: 0, signal };
    await assert.rejects(sink.write(batch, write));
    const parts = await db.query<{ part: number; parts: number; rows: string }>(
      `SELECT part, parts, rows::int AS rows FROM weir.sink_commits ORDER BY part`,
    );
    assert.deepEqual(parts.map((p) => [p.part, p.parts, Number(p.rows)]), [[0, 3, 300], [1, 3, 300]]);
    assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM big`))[0].n, 600);

    await db.exec(`ALTER TABLE big DROP CONSTRAINT small`);
    await sink.write(batch, write);
    const ids = await db.query<{ n: number; d: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM big`,
    );
    assert.deepEqual({ ...ids[0] }, { n: 900, d: 900 });
    await sink.close();
  }, { max: 4 });
});

Deno.test("postgres sink writes a concurrent duplicate once", async () => {
  await withPostgresDatabase(async ({ db }) => {
    const schema: PipelineSchema = { key: [], fields: [{ name: "id", type: "int64" }] };
    const sink = await postgresSink.build(parse({ table: "dup" }), sinkTestContext(schema, { database: db }));
    const batch = batchFromRows(schema.fields, Array.from({ length: 1000 }, (_, i) => [BigInt(i)]));
    await Promise.all([1, 2, 3].map(() => sink.write(batch, { runId: "r_dup", sequence: 0, signal })));
    assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM dup`))[0].n, 1000);
    await sink.close();
  });
});

Deno.test("postgres sink isRetriable accepts outages and conflicts but not bad data", async (t) => {
  const sqlError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });
  const cases: [string, unknown, boolean][] = [
    ["serialization failure", sqlError("40001"), true],
    ["deadlock", sqlError("40P01"), true],
    ["too many connections", sqlError("53300"), true],
    ["admin shutdown", sqlError("57P01"), true],
    ["connection refused", Object.assign(new Error("refused"), { code: "ECONNREFUSED" }), true],
    ["connection failure class 08", sqlError("08006"), true],
    ["unique violation", sqlError("23505"), false],
    ["bad integer text", sqlError("22P02"), false],
    [
      "wrapped outage",
      new PipelineError("x", { component: "sink.postgres", retriable: false, cause: sqlError("40001") }),
      true,
    ],
    ["store outage", new StoreError("x", { component: "s", code: "unavailable", retriable: true }), true],
    ["config error", new ConfigError("x", { path: "p" }), false],
  ];
  for (const [what, error, expected] of cases) {
    await t.step(what, () => assert.equal(postgresSink.isRetriable(error), expected));
  }
});

Deno.test("postgres sink type check accepts wider and rejects narrower columns", () => {
  assert.equal(
    isCompatibleType({ name: "a", type: "decimal", precision: 10, scale: 2 }, "numeric(12,2)"),
    true,
  );
  assert.equal(
    isCompatibleType({ name: "a", type: "decimal", precision: 10, scale: 2 }, "numeric(10,1)"),
    false,
  );
  assert.equal(isCompatibleType({ name: "a", type: "timestamp" }, "timestamp with time zone"), true);
  assert.equal(isCompatibleType({ name: "a", type: "string" }, "integer"), false);
});
