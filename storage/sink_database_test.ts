import assert from "node:assert/strict";
import postgres from "postgres";
import { PGlite } from "@electric-sql/pglite";
import type { SinkDatabase } from "../pipeline/component.ts";
import { createPgliteSinkDatabase, createPostgresSinkDatabase } from "./sink_database.ts";
import { StoreError } from "./store.ts";

const ADMIN_URL = Deno.env.get("WEIR_TEST_PG_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

/** Runs `fn` against a fresh PostgreSQL database and a fresh in-memory PGlite, dropping both after. */
async function eachDatabase(t: Deno.TestContext, fn: (db: SinkDatabase) => Promise<void>): Promise<void> {
  await t.step("postgres", async () => {
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
    const name = `weir_sinkdb_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    const sql = postgres(url.href, { max: 4, onnotice: () => {} });
    try {
      await fn(createPostgresSinkDatabase(sql));
    } finally {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
  await t.step("pglite", async () => {
    const pg = await PGlite.create();
    try {
      await fn(createPgliteSinkDatabase(pg));
    } finally {
      await pg.close();
    }
  });
}

const encode = (text: string) => new TextEncoder().encode(text);

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield encode(p);
}

Deno.test("sink database copies CSV bytes and chunk streams into a table", async (t) => {
  await eachDatabase(t, async (db) => {
    await db.exec(`CREATE TABLE t (id bigint, name text)`);
    await db.copyFrom(`COPY t (id, name) FROM STDIN (FORMAT csv)`, encode('1,"a,b"\n2,\n'));
    // A row split across chunks must arrive whole.
    await db.copyFrom(`COPY t (id, name) FROM STDIN (FORMAT csv)`, chunks("3,x", "y\n4,", '""\n'));
    const rows = await db.query<{ id: string; name: string | null }>(
      `SELECT id::text, name FROM t ORDER BY id`,
    );
    assert.deepEqual(rows.map((r) => [r.id, r.name]), [["1", "a,b"], ["2", null], ["3", "xy"], ["4", ""]]);
  });
});

Deno.test("sink database rolls a COPY back with its transaction", async (t) => {
  await eachDatabase(t, async (db) => {
    await db.exec(`CREATE TABLE t (id bigint PRIMARY KEY)`);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.copyFrom(`COPY t (id) FROM STDIN (FORMAT csv)`, encode("1\n2\n"));
        await tx.query(`INSERT INTO t VALUES (1)`);
      }),
      (error: unknown) => error instanceof StoreError && error.code === "invalid" && !error.retriable,
    );
    assert.deepEqual([...await db.query(`SELECT count(*)::int AS n FROM t`)], [{ n: 0 }]);
  });
});

Deno.test("sink database reports a bad COPY row as a non-retriable error", async (t) => {
  await eachDatabase(t, async (db) => {
    await db.exec(`CREATE TABLE t (id bigint)`);
    await assert.rejects(
      db.copyFrom(`COPY t (id) FROM STDIN (FORMAT csv)`, encode("1\nnot-a-number\n")),
      (error: unknown) =>
        error instanceof StoreError && !error.retriable && /not-a-number/.test(error.message),
    );
  });
});
