/**
 * The production store: PostgreSQL through postgres.js (`DATABASE_URL`).
 *
 * @module
 */

import { connectNoDelay } from "./pg_socket.ts";
import postgres from "postgres";
import { ConfigError } from "../pipeline/errors.ts";
import type { Logger } from "../observability/logger.ts";
import { migrate } from "./migrate.ts";
import { driverErrorCode, PostgresJsSession, unreachableReason } from "./postgres_js.ts";
import {
  type SqlExecutor,
  type SqlParam,
  type SqlQueryOptions,
  type SqlRow,
  storeErrorFromSqlState,
} from "./sql.ts";
import { SqlStore } from "./sql_store.ts";
import { type Store, StoreError } from "./store.ts";

const COMPONENT = "storage.postgres";

/** Options for {@linkcode createPostgresStore}. */
export interface PostgresStoreOptions {
  /** A `postgres://user:password@host:port/database` URL, usually `DATABASE_URL`. */
  url: string;
  /** Most pooled connections. Default 10. */
  max?: number;
  /** Give up connecting after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Close a connection idle this long; 0 keeps them. Default 60 s. */
  idleTimeoutMs?: number;
  /** Cache prepared statements per connection. Default true; false behind PgBouncer in transaction mode. */
  prepare?: boolean;
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
  /** Receives migration lines and server notices. */
  logger?: Logger;
}

/**
 * Connects to PostgreSQL, applies migrations and returns the store. Fails fast with a
 * {@linkcode StoreError} naming the host when the database cannot be reached, and with a
 * {@linkcode ConfigError} when the URL is malformed; the password never appears in messages.
 *
 * @example
 * ```ts ignore
 * import { createPostgresStore } from "./postgres.ts";
 * const store = await createPostgresStore({ url: Deno.env.get("DATABASE_URL")! });
 * const run = await store.runs.create({ pipeline: "orders" });
 * await store.close();
 * ```
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const target = describeUrl(options.url);
  const client = postgres(options.url, {
    max: options.max ?? 10,
    connect_timeout: (options.connectTimeoutMs ?? 10_000) / 1000,
    idle_timeout: (options.idleTimeoutMs ?? 60_000) / 1000,
    connection: { application_name: "weir" },
    prepare: options.prepare ?? true,
    // Notices are chatter such as "schema weir already exists, skipping".
    onnotice: (notice) => options.logger?.debug("PostgreSQL notice", { message: notice.message }),
    // TCP_NODELAY: see pg_socket.ts (small writes otherwise wait for delayed ACKs).
    socket: connectNoDelay,
  } as postgres.Options<Record<string, never>>);
  const executor = new PostgresExecutor(
    new PostgresJsSession(client, (error) => toStoreError(error, target)),
  );
  const close = () => client.end({ timeout: 5 });
  try {
    if (options.migrate ?? true) {
      await migrate(executor, { logger: options.logger, component: COMPONENT });
    } else {
      await executor.query("SELECT 1 AS ok");
    }
  } catch (error) {
    // Without this a failed start leaves a pool retrying in the background.
    await client.end({ timeout: 0 }).catch(() => {});
    throw error;
  }
  return new SqlStore(executor, { kind: "postgres", component: COMPONENT, close });
}

/** {@linkcode SqlExecutor} over a postgres.js pool or one of its transactions. */
class PostgresExecutor implements SqlExecutor {
  #pg: PostgresJsSession;
  #inTransaction: boolean;

  constructor(pg: PostgresJsSession, inTransaction = false) {
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

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return fn(this);
    return this.#pg.begin((tx) => fn(new PostgresExecutor(tx, true)));
  }
}

function toStoreError(error: unknown, target: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = driverErrorCode(error);
  // A client ended on purpose is not coming back: not retriable.
  const reason = code === "CONNECTION_ENDED" ? "store is closed" : unreachableReason(code);
  if (reason !== undefined) {
    return new StoreError(`Cannot reach ${target}: ${reason}`, {
      component: COMPONENT,
      code: "unavailable",
      retriable: code !== "CONNECTION_ENDED",
      cause: error,
    });
  }
  return storeErrorFromSqlState(error, { component: COMPONENT, target }) ??
    new StoreError(`Storage query failed: ${error instanceof Error ? error.message : String(error)}`, {
      component: COMPONENT,
      code: "query",
      cause: error,
    });
}

/** `PostgreSQL at host:port/database`, without credentials. */
function describeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: the URL parser's message repeats the URL, password included.
    throw new ConfigError(
      "Database URL is not a valid URL: expected postgres://user:password@host:port/database",
      {
        path: "DATABASE_URL",
      },
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new ConfigError(`Database URL must start with postgres://: got ${parsed.protocol}//`, {
      path: "DATABASE_URL",
    });
  }
  const database = decodeURIComponent(parsed.pathname.slice(1)) || "(default database)";
  return `PostgreSQL at ${parsed.hostname || "localhost"}:${parsed.port || "5432"}/${database}`;
}
