import assert from "node:assert/strict";
import { type Batch, batchFromRows, type Field } from "../../batch.ts";
import type { SinkDatabase } from "../../component.ts";
import { encodeCsvBytes } from "../csv_encoder.ts";
import { withPostgresDatabase } from "../testing.ts";
import { seededRandom } from "../../../cli/seeded_random.ts";
import { binaryFormat, encodeCopyBinary } from "./copy_binary.ts";
import { smallInsert } from "./insert_small.ts";
import { ensureSinkCommits } from "./mod.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const LONG = "long ✓ ".repeat(400);

/** Edge values of every type, one column per (field type, PostgreSQL column type) pair the sink accepts. */
const COLUMNS: { field: Field; sqlType: string; values: unknown[] }[] = [
  {
    field: { name: "i", type: "int64" },
    sqlType: "bigint",
    values: [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 32n, -(2n ** 32n), INT64_MIN, INT64_MAX],
  },
  {
    field: { name: "i_num", type: "int64" },
    sqlType: "numeric",
    values: [0n, 1n, -1n, 10000n, -99990000n, 2n ** 53n + 1n, INT64_MIN, INT64_MAX],
  },
  ...[0, 1, 2, 4, 5, 8, 15, 16, 17, 18].map((scale) => ({
    field: { name: `d${scale}`, type: "decimal", precision: 18, scale } as Field,
    sqlType: `numeric(18,${scale})`,
    // Unscaled values: zero, ±1 ulp, round base-10000 boundaries, the largest of 18 digits and int64's ends.
    values: [
      0n,
      1n,
      -1n,
      5n,
      -7n,
      10000n,
      99990000n,
      -100000000n,
      12345678n,
      10n ** 18n - 1n,
      -(10n ** 18n - 1n),
    ],
  })),
  {
    field: { name: "d_num", type: "decimal", precision: 12, scale: 2 },
    sqlType: "numeric",
    values: ["12.30", "-0.07", "0.00", "9999999999.99", "-9999999999.99", "100.00", "0.01"],
  },
  {
    field: { name: "d_wide", type: "decimal", precision: 12, scale: 2 },
    sqlType: "numeric(20,4)",
    values: ["12.30", "-0.07", "0.00", "9999999999.99"],
  },
  {
    field: { name: "f", type: "float64" },
    sqlType: "double precision",
    values: [
      0,
      0.5,
      -1.25,
      0.1,
      1e-300,
      1e300,
      5e-324,
      Number.MAX_VALUE,
      -123456789.125,
      NaN,
      Infinity,
      -Infinity,
    ],
  },
  {
    field: { name: "f_num", type: "float64" },
    sqlType: "numeric",
    values: [
      0,
      0.5,
      -1.25,
      0.1,
      1e-7,
      1.5e-7,
      1e21,
      123456789012345680000,
      5e-324,
      Number.MAX_VALUE,
      NaN,
      Infinity,
    ],
  },
  { field: { name: "b", type: "boolean" }, sqlType: "boolean", values: [true, false] },
  {
    field: { name: "day", type: "date" },
    sqlType: "date",
    values: [
      "1970-01-01",
      "1969-12-31",
      "1999-12-31",
      "2000-01-01",
      "2000-01-02",
      "1900-03-01",
      "0001-01-01",
      "9999-12-31",
      "2400-02-29",
    ],
  },
  {
    field: { name: "day_ts", type: "date" },
    sqlType: "timestamp with time zone",
    values: ["1970-01-01", "1969-12-31", "1999-12-31", "2000-01-01", "0001-01-01", "9999-12-31"],
  },
  {
    field: { name: "day_tsz", type: "date" },
    sqlType: "timestamp without time zone",
    values: ["1970-01-01", "1999-12-31", "2000-01-01", "1583-10-15"],
  },
  ...["timestamp with time zone", "timestamp without time zone", "timestamp(3) with time zone"].map((
    sqlType,
    i,
  ) => ({
    field: { name: `ts${i}`, type: "timestamp" } as Field,
    sqlType,
    values: [
      0n, // the Unix epoch
      -1n,
      946684800000000n, // PostgreSQL's epoch, and around it
      946684799999999n,
      946684800000001n,
      2n ** 32n * 220417n, // low word 0: the subtraction borrows
      2n ** 32n * 220418n - 1n,
      "1969-07-20T20:17:40.123456Z",
      "1900-01-01T00:00:00Z",
      "0001-01-01T00:00:00Z",
      "9999-12-31T23:59:59.999999Z",
      "2262-04-11T23:47:16.854775Z",
      "2026-01-02T03:04:05.000500Z",
    ],
  })),
  {
    field: { name: "s", type: "string" },
    sqlType: "text",
    values: [
      "",
      "a",
      "ünïcødé ✓ 日本 🎉",
      'comma, "quotes"\nnewline\r\ttab \\ backslash',
      "NULL",
      "\\N",
      LONG,
    ],
  },
  {
    field: { name: "s_var", type: "string" },
    sqlType: "character varying(4000)",
    values: ["", "x", "ß", LONG],
  },
];

/** A batch with one column per entry of {@linkcode COLUMNS}: each column's values, then nulls, repeated. */
function edgeBatch(rows: number): Batch {
  const fields: Field[] = [{ name: "row", type: "int64" }, ...COLUMNS.map((c) => c.field)];
  const data = Array.from({ length: rows }, (_, r) => [
    BigInt(r),
    ...COLUMNS.map((
      { values },
    ) => (r % (values.length + 1) === values.length ? null : values[r % (values.length + 1)])),
  ]);
  return batchFromRows(fields, data);
}

const TABLE_DDL = (name: string) =>
  `CREATE TABLE ${name} ("row" bigint, ${COLUMNS.map((c) => `"${c.field.name}" ${c.sqlType}`).join(", ")})`;

async function copyBinary(db: SinkDatabase, table: string, batch: Batch, chunkBytes?: number) {
  const types = ["bigint", ...COLUMNS.map((c) => c.sqlType)];
  const formats = batch.schema.fields.map((f, i) => binaryFormat(f, types[i]));
  await db.copyFrom(
    `COPY ${table} FROM STDIN (FORMAT binary)`,
    encodeCopyBinary(batch, { formats, chunkBytes }),
  );
}

async function readAsText(db: SinkDatabase, table: string): Promise<Record<string, string | null>[]> {
  const columns = ['"row"', ...COLUMNS.map((c) => `"${c.field.name}"::text AS "${c.field.name}"`)];
  const rows = await db.query(`SELECT ${columns.join(", ")} FROM ${table} ORDER BY "row"`);
  return rows.map((r) => ({ ...r })) as Record<string, string | null>[];
}

Deno.test("binary COPY lands every edge value exactly as the CSV text path does", async () => {
  await withPostgresDatabase(async ({ db }) => {
    await db.exec(`${TABLE_DDL("via_binary")}; ${TABLE_DDL("via_csv")}`);
    // Enough rows to pass every value of every column, in small chunks (one row is larger than a chunk).
    const batch = edgeBatch(600);
    await copyBinary(db, "via_binary", batch, 1024);
    await db.copyFrom(`COPY via_csv FROM STDIN (FORMAT csv)`, encodeCsvBytes(batch));
    const binary = await readAsText(db, "via_binary");
    assert.equal(binary.length, 600);
    assert.deepEqual(binary, await readAsText(db, "via_csv"));
    // Spot checks that the comparison sees real values, not two identical mistakes.
    const byRow = (r: number) => binary[r];
    assert.equal(byRow(7).i, INT64_MIN.toString());
    assert.equal(byRow(9).i, null);
    assert.equal(byRow(9).d2, "9999999999999999.99"); // 10^18 - 1 at scale 2 is row 9 of the decimals
    assert.equal(byRow(10).d18, "-0.999999999999999999");
    assert.equal(byRow(3).s, 'comma, "quotes"\nnewline\r\ttab \\ backslash');
  });
});

Deno.test("the one-statement small-batch insert lands every edge value exactly as binary COPY does", async () => {
  await withPostgresDatabase(async ({ db }) => {
    await db.exec(`${TABLE_DDL("via_binary")}; ${TABLE_DDL("via_insert")}`);
    await ensureSinkCommits(db);
    const batch = edgeBatch(600);
    await copyBinary(db, "via_binary", batch);
    const types = ["bigint", ...COLUMNS.map((c) => c.sqlType)];
    const fields = batch.schema.fields;
    const insert = smallInsert("via_insert", fields, {
      names: fields.map((f) => `"${f.name}"`),
      types,
      formats: fields.map((f, i) => binaryFormat(f, types[i])),
    });
    const marker = ["sink", "pipe", "r_small", 0] as const;
    const [first] = await db.query<{ n: number }>(insert.sql, insert.params(batch, marker));
    assert.equal(first.n, 600);
    assert.deepEqual(await readAsText(db, "via_insert"), await readAsText(db, "via_binary"));
    // The marker is claimed: the same batch again lands nothing.
    const [again] = await db.query<{ n: number }>(insert.sql, insert.params(batch, marker));
    assert.equal(again.n, 0);
    assert.equal((await readAsText(db, "via_insert")).length, 600);
  });
});

Deno.test("binary COPY round-trips random int64, decimal and timestamp values", async () => {
  await withPostgresDatabase(async ({ db }) => {
    const rnd = seededRandom(7);
    const int64 = () =>
      BigInt.asIntN(64, (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32)));
    const fields: Field[] = [
      { name: "i", type: "int64" },
      { name: "d", type: "decimal", precision: 18, scale: 6 },
      { name: "ts", type: "timestamp" },
    ];
    // Timestamps within ±4000 years of 1970 (inside PostgreSQL's range); decimals of every magnitude.
    const rows = Array.from({ length: 5000 }, () => [
      int64(),
      int64() % 10n ** BigInt(1 + Math.floor(rnd() * 18)),
      BigInt(Math.floor((rnd() - 0.5) * 2 * 4000 * 365.25 * 86400)) * 1_000_000n +
      BigInt(Math.floor(rnd() * 1e6)),
    ]);
    const batch = batchFromRows(fields, rows);
    await db.exec(`CREATE TABLE t (i bigint, d numeric(18,6), ts timestamptz)`);
    await db.copyFrom(
      `COPY t FROM STDIN (FORMAT binary)`,
      encodeCopyBinary(batch, { formats: ["int8", "numeric", "timestamp"] }),
    );
    const back = await db.query<{ i: string; d: string; ts: string }>(
      `SELECT i::text AS i, (d * 1000000)::bigint::text AS d,
              ((extract(epoch FROM ts) * 1000000)::numeric(30,0))::text AS ts FROM t`,
    );
    assert.deepEqual(back.map((r) => [r.i, r.d, r.ts]), rows.map((r) => r.map(String)));
  });
});

Deno.test("binary COPY writes dates before PostgreSQL's and the Unix epoch, BC included", async () => {
  await withPostgresDatabase(async ({ db }) => {
    await db.exec(`CREATE TABLE t (d date, ts timestamptz)`);
    const fields: Field[] = [{ name: "d", type: "date" }, { name: "ts", type: "timestamp" }];
    const day = 86_400_000_000n;
    // 0001-01-01 is day -719162; the day before is 1 BC, which PostgreSQL prints as 0001-12-31 BC.
    const batch = batchFromRows(fields, [[-719163, -719163n * day], [-719162, -719162n * day + 1n]]);
    await db.copyFrom(
      `COPY t FROM STDIN (FORMAT binary)`,
      encodeCopyBinary(batch, { formats: ["date", "timestamp"] }),
    );
    const rows = await db.query<{ d: string; ts: string }>(
      `SELECT d::text AS d, (ts AT TIME ZONE 'UTC')::text AS ts FROM t ORDER BY t.d`,
    );
    assert.deepEqual(rows.map((r) => [r.d, r.ts]), [
      ["0001-12-31 BC", "0001-12-31 00:00:00 BC"],
      ["0001-01-01", "0001-01-01 00:00:00.000001"],
    ]);
  });
});

Deno.test("binary COPY values the server cannot hold are rejected, not wrapped into infinity", async (t) => {
  await withPostgresDatabase(async ({ db }) => {
    await db.exec(`CREATE TABLE t (d date, ts timestamptz, dts timestamptz, s text)`);
    const fields: Field[] = [
      { name: "d", type: "date" },
      { name: "ts", type: "timestamp" },
      { name: "dts", type: "date" },
      { name: "s", type: "string" },
    ];
    const formats = ["date", "timestamp", "timestamp", "text"] as const;
    const cases: [string, unknown[], RegExp][] = [
      ["a date before int32 days", [-(2 ** 31), null, null, null], /date out of range/],
      ["a date before 4713 BC", [-2_500_000, null, null, null], /date out of range/],
      ["int64's smallest timestamp", [null, INT64_MIN, null, null], /timestamp out of range/],
      [
        "a timestamp that lands on -infinity",
        [null, INT64_MIN + 946684800000000n, null, null],
        /timestamp out of range/,
      ],
      ["a date far beyond timestamps", [null, null, 2 ** 31 - 1, null], /timestamp out of range/],
      ["a NUL in text", [null, null, null, "a\0b"], /invalid byte sequence/],
    ];
    for (const [what, row, message] of cases) {
      await t.step(what, async () => {
        await assert.rejects(
          db.copyFrom(
            `COPY t FROM STDIN (FORMAT binary)`,
            encodeCopyBinary(batchFromRows(fields, [row]), { formats: [...formats] }),
          ),
          (error: unknown) => message.test(String((error as Error).message)),
        );
      });
    }
    assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM t`))[0].n, 0);
  });
});

Deno.test("binary COPY refuses a field and column type it has no format for", () => {
  assert.equal(binaryFormat({ name: "a", type: "timestamp" }, "timestamp(3) with time zone"), "timestamp");
  assert.equal(binaryFormat({ name: "a", type: "string" }, "character varying(20)"), "text");
  assert.throws(() => binaryFormat({ name: "a", type: "string" }, "bigint"), TypeError);
  assert.throws(() => binaryFormat({ name: "a", type: "int64" }, "integer"), TypeError);
});
