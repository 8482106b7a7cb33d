/**
 * Test helpers for sinks: a fresh PostgreSQL database or PGlite per test, and the sink context around them.
 *
 * @module
 */

import postgres from "postgres";
import { PGlite } from "@electric-sql/pglite";
import type { PipelineSchema, SinkDatabase } from "../component.ts";
import { createLogger } from "../../observability/logger.ts";
import { Telemetry } from "../../observability/metrics.ts";
import { createPgliteSinkDatabase, createPostgresSinkDatabase } from "../../storage/sink_database.ts";
import type { SinkContext } from "./context.ts";

/** The PostgreSQL the tests create their databases in (`WEIR_TEST_PG_URL`, default the local `test` database). */
export const TEST_PG_URL = Deno.env.get("WEIR_TEST_PG_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

/** A sink database for one test, and its raw driver for reading back. */
export interface TestDatabase {
  /** The database the sink gets. */
  db: SinkDatabase;
  /** The URL of the fresh PostgreSQL database (absent for PGlite). */
  url?: string;
}

/** Runs `fn` with a fresh PostgreSQL database (dropped afterwards) behind a pool of `max` connections. */
export async function withPostgresDatabase<T>(
  fn: (test: TestDatabase) => Promise<T>,
  options: { max?: number } = {},
): Promise<T> {
  const admin = postgres(TEST_PG_URL, { max: 1, onnotice: () => {} });
  const name = `weir_sink_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: options.max ?? 4, onnotice: () => {} });
  try {
    return await fn({ db: createPostgresSinkDatabase(sql, { target: `PostgreSQL ${name}` }), url: url.href });
  } finally {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** Runs `fn` with a fresh in-memory PGlite. */
export async function withPgliteDatabase<T>(fn: (test: TestDatabase) => Promise<T>): Promise<T> {
  const pg = await PGlite.create();
  try {
    return await fn({ db: createPgliteSinkDatabase(pg) });
  } finally {
    await pg.close();
  }
}

/** A sink context for tests: a quiet logger, the given telemetry and whatever clients the sink needs. */
export function sinkTestContext(
  schema: PipelineSchema,
  options: Partial<Omit<SinkContext, "schema">> = {},
): SinkContext {
  return {
    pipeline: options.pipeline ?? "orders",
    logger: options.logger ?? createLogger({ level: "error" }),
    telemetry: options.telemetry ?? new Telemetry(),
    schema,
    ...(options.database ? { database: options.database } : {}),
    ...(options.redis ? { redis: options.redis } : {}),
    ...(options.kafka ? { kafka: options.kafka } : {}),
    ...(options.store ? { store: options.store } : {}),
  };
}
