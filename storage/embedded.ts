/**
 * The embedded store: PGlite (PostgreSQL compiled to WASM) persisted in a directory, so
 * `deno task start` needs no services. Same SQL and migrations as the PostgreSQL store.
 *
 * @module
 */

import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { Logger } from "../observability/logger.ts";
import { migrate } from "./migrate.ts";
import { type SqlExecutor, type SqlParam, type SqlRow, storeErrorFromSqlState } from "./sql.ts";
import { SqlStore } from "./sql_store.ts";
import { type Store, StoreError } from "./store.ts";

const COMPONENT = "storage.embedded";
const MEMORY = "memory://";

/** Options for {@linkcode createEmbeddedStore}. */
export interface EmbeddedStoreOptions {
  /** Where the database lives; created if missing. `memory://` keeps it in memory. Default `./data/pglite`. */
  dataDir?: string;
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
  /** Receives migration lines. */
  logger?: Logger;
}

/** The embedded store, with its PGlite instance: the embedded default lands sink tables in the same database. */
export interface EmbeddedStore extends Store {
  /** The database itself; it has one connection, shared by the store and the sinks. */
  readonly pglite: PGlite;
}

/**
 * Opens (creating if needed) the embedded database, applies migrations and returns the store.
 * One process at a time: a second open of the same directory fails with a {@linkcode StoreError}
 * (`unavailable`) instead of corrupting it, because PGlite has no locking of its own.
 *
 * @example
 * ```ts ignore
 * import { createEmbeddedStore } from "./embedded.ts";
 * const store = await createEmbeddedStore({ dataDir: "memory://" });
 * await store.audit.append({ actor: "system", action: "demo" });
 * await store.close();
 * ```
 */
export async function createEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  const dataDir = options.dataDir ?? "./data/pglite";
  const target = dataDir === MEMORY ? "embedded database in memory" : `embedded database at ${dataDir}`;
  let lock: Deno.FsFile | undefined;
  if (dataDir !== MEMORY) {
    try {
      await Deno.mkdir(dataDir, { recursive: true });
      lock = await Deno.open(`${dataDir}/weir.lock`, { create: true, write: true });
    } catch (error) {
      throw new StoreError(`Cannot open ${target}: ${error instanceof Error ? error.message : error}`, {
        component: COMPONENT,
        code: "unavailable",
        cause: error,
      });
    }
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new StoreError(`Cannot open ${target}: another weir process is using it`, {
        component: COMPONENT,
        code: "unavailable",
        retriable: true,
      });
    }
  }
  let db: PGlite | undefined;
  const release = async () => {
    await db?.close();
    lock?.close(); // closing the file releases the lock
  };
  try {
    db = await PGlite.create({ dataDir });
    const executor = new PGliteExecutor(db, target);
    if (options.migrate ?? true) await migrate(executor, { logger: options.logger, component: COMPONENT });
    const store = new SqlStore(executor, { kind: "pglite", component: COMPONENT, close: release });
    return Object.assign(store, { pglite: db });
  } catch (error) {
    await release().catch(() => {});
    if (error instanceof StoreError) throw error;
    throw new StoreError(`Cannot open ${target}: ${error instanceof Error ? error.message : error}`, {
      component: COMPONENT,
      code: "unavailable",
      cause: error,
    });
  }
}

/** {@linkcode SqlExecutor} over PGlite or one of its transactions. */
class PGliteExecutor implements SqlExecutor {
  #db: PGlite | Transaction;
  #target: string;
  #inTransaction: boolean;

  constructor(db: PGlite | Transaction, target: string, inTransaction = false) {
    this.#db = db;
    this.#target = target;
    this.#inTransaction = inTransaction;
  }

  async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
    try {
      const result = await this.#db.query<R>(text, [...params]);
      return result.rows;
    } catch (error) {
      throw this.#error(error);
    }
  }

  async exec(script: string): Promise<void> {
    try {
      await this.#db.exec(script);
    } catch (error) {
      throw this.#error(error);
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // PGlite has one connection, so a nested transaction() would wait for itself: join instead.
    if (this.#inTransaction) return fn(this);
    try {
      return await (this.#db as PGlite).transaction((tx) => fn(new PGliteExecutor(tx, this.#target, true)));
    } catch (error) {
      throw this.#error(error);
    }
  }

  #error(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    const closed = this.#db instanceof PGlite && this.#db.closed;
    if (closed) {
      return new StoreError(`Cannot use ${this.#target}: store is closed`, {
        component: COMPONENT,
        code: "unavailable",
        cause: error,
      });
    }
    return storeErrorFromSqlState(error, { component: COMPONENT, target: this.#target }) ??
      new StoreError(`Storage query failed: ${error instanceof Error ? error.message : String(error)}`, {
        component: COMPONENT,
        code: "query",
        cause: error,
      });
  }
}
