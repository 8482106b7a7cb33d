/**
 * {@linkcode SinkDatabase} over the two drivers the store uses: postgres.js (PostgreSQL) and PGlite (embedded).
 * Sinks land rows through `COPY … FROM STDIN`; on PGlite, which has no socket to stream into, the same COPY
 * reads `/dev/blob` instead, so a sink writes one statement and the adapter rewrites its source.
 *
 * @module
 */

import type { Writable } from "node:stream";
import type postgres from "postgres";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import type { CopyData, SinkDatabase } from "../pipeline/component.ts";
import { driverErrorCode, PostgresJsSession, unreachableReason } from "./postgres_js.ts";
import { type SqlParam, type SqlQueryOptions, type SqlRow, storeErrorFromSqlState } from "./sql.ts";
import { StoreError } from "./store.ts";

const COMPONENT = "storage.sink_database";

/** Options for {@linkcode createPostgresSinkDatabase}. */
export interface PostgresSinkDatabaseOptions {
  /** Names the database in error messages, without credentials. Default `PostgreSQL`. */
  target?: string;
}

/**
 * A sink database over a postgres.js pool. Each `transaction` reserves its own pooled connection, so
 * concurrent transactions run in parallel (parallel COPY streams need a pool `max` of at least the streams).
 *
 * @example
 * ```ts ignore
 * import postgres from "postgres";
 * import { createPostgresSinkDatabase } from "./sink_database.ts";
 * const db = createPostgresSinkDatabase(postgres("postgres://127.0.0.1/test"));
 * await db.copyFrom("COPY t (a) FROM STDIN (FORMAT csv)", new TextEncoder().encode("1\n"));
 * ```
 */
export function createPostgresSinkDatabase(
  sql: postgres.Sql,
  options: PostgresSinkDatabaseOptions = {},
): SinkDatabase {
  const target = options.target ?? "PostgreSQL";
  return new PostgresSinkDatabase(new PostgresJsSession(sql, (error) => toStoreError(error, target)), false);
}

/** Options for {@linkcode createPgliteSinkDatabase}. */
export interface PgliteSinkDatabaseOptions {
  /** Names the database in error messages. Default `embedded database`. */
  target?: string;
}

/**
 * A sink database over PGlite. PGlite has one connection: concurrent transactions queue rather than run in
 * parallel, which is still correct, only not faster.
 */
export function createPgliteSinkDatabase(pg: PGlite, options: PgliteSinkDatabaseOptions = {}): SinkDatabase {
  return new PgliteSinkDatabase(pg, options.target ?? "embedded database", false);
}

/** The parts of a postgres.js query that COPY FROM STDIN needs (`reject` is set per query by postgres.js). */
interface PendingCopy {
  writable(): Promise<Writable>;
  reject: (error: unknown) => void;
}

class PostgresSinkDatabase implements SinkDatabase {
  readonly kind = "postgres" as const;
  #pg: PostgresJsSession;
  #inTransaction: boolean;

  constructor(pg: PostgresJsSession, inTransaction: boolean) {
    this.#pg = pg;
    this.#inTransaction = inTransaction;
  }

  query<R extends SqlRow = SqlRow>(
    text: string,
    params?: readonly SqlParam[],
    options?: SqlQueryOptions,
  ): Promise<R[]> {
    return this.#pg.query<R>(text, params, options);
  }

  exec(script: string): Promise<void> {
    return this.#pg.exec(script);
  }

  async copyFrom(statement: string, data: CopyData): Promise<void> {
    // postgres.js resolves the query with the stream, and an error the server sends after the stream ended
    // goes to the (already settled) query's reject: the stream then neither finishes nor errors. Wrapping
    // that reject is the only way to see the server's message (e.g. the bad value) instead of hanging.
    const query = this.#pg.client.unsafe(statement) as unknown as PendingCopy;
    let failCopy: (error: unknown) => void = () => {};
    const failed = new Promise<never>((_, reject) => (failCopy = reject));
    failed.catch(() => {});
    const settle = query.reject;
    query.reject = (error: unknown) => {
      failCopy(error);
      settle(error);
    };
    let stream: Writable;
    try {
      stream = await query.writable();
    } catch (error) {
      throw this.#pg.toError(error);
    }
    try {
      await Promise.race([
        failed,
        new Promise<void>((resolve, reject) => {
          stream.once("error", reject);
          stream.once("finish", resolve);
          (async () => {
            if (data instanceof Uint8Array) {
              stream.end(data);
              return;
            }
            for await (const chunk of data) {
              // Honour backpressure: a slow server must not make us buffer the whole batch twice.
              if (!stream.write(chunk)) await new Promise((r) => stream.once("drain", r));
            }
            stream.end();
          })().catch((error) => {
            stream.destroy(error);
            reject(error);
          });
        }),
      ]);
    } catch (error) {
      throw this.#pg.toError(error);
    }
  }

  transaction<T>(fn: (tx: SinkDatabase) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return fn(this);
    return this.#pg.begin((tx) => fn(new PostgresSinkDatabase(tx, true)));
  }
}

class PgliteSinkDatabase implements SinkDatabase {
  readonly kind = "pglite" as const;
  #db: PGlite | Transaction;
  #target: string;
  #inTransaction: boolean;

  constructor(db: PGlite | Transaction, target: string, inTransaction: boolean) {
    this.#db = db;
    this.#target = target;
    this.#inTransaction = inTransaction;
  }

  async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
    try {
      return (await this.#db.query<R>(text, [...params])).rows;
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }

  async exec(script: string): Promise<void> {
    try {
      await this.#db.exec(script);
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }

  async copyFrom(statement: string, data: CopyData): Promise<void> {
    // PGlite reads COPY input from a Blob mounted at /dev/blob; it cannot stream, so chunks are gathered.
    const parts: Uint8Array[] = [];
    if (data instanceof Uint8Array) parts.push(data);
    else for await (const chunk of data) parts.push(chunk);
    const fromBlob = statement.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'");
    if (fromBlob === statement) {
      throw new TypeError(`Expected a COPY … FROM STDIN statement: got ${statement.slice(0, 80)}`);
    }
    try {
      await this.#db.query(fromBlob, [], { blob: new Blob(parts as BlobPart[]) });
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }

  async transaction<T>(fn: (tx: SinkDatabase) => Promise<T>): Promise<T> {
    // One connection: a nested transaction() would wait for itself, so it joins instead.
    if (this.#inTransaction) return fn(this);
    try {
      return await (this.#db as PGlite).transaction((tx) =>
        fn(new PgliteSinkDatabase(tx, this.#target, true))
      );
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }
}

function toStoreError(error: unknown, target: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = driverErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (unreachableReason(code) !== undefined) {
    return new StoreError(`Cannot reach ${target}: ${message}`, {
      component: COMPONENT,
      code: "unavailable",
      retriable: true,
      cause: error,
    });
  }
  if (code === "CONNECTION_ENDED") {
    return new StoreError(`Sink database is closed: ${message}`, {
      component: COMPONENT,
      code: "unavailable",
      cause: error,
    });
  }
  return storeErrorFromSqlState(error, { component: COMPONENT, target }) ??
    new StoreError(`Sink database query failed: ${message}`, {
      component: COMPONENT,
      code: "query",
      cause: error,
    });
}
