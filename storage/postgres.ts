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
  const executor = new PostgresExecutor(client, target);
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

type Client = postgres.Sql | postgres.TransactionSql;

/** {@linkcode SqlExecutor} over a postgres.js pool or one of its transactions. */
class PostgresExecutor implements SqlExecutor {
  #client: Client;
  #target: string;
  #inTransaction: boolean;

  constructor(client: Client, target: string, inTransaction = false) {
    this.#client = client;
    this.#target = target;
    this.#inTransaction = inTransaction;
  }

  async query<R extends SqlRow = SqlRow>(
    text: string,
    params: readonly SqlParam[] = [],
    options: SqlQueryOptions = {},
  ): Promise<R[]> {
    try {
      const rows = await this.#client.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
        prepare: options.prepare ?? true,
      });
      return rows as unknown as R[];
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }

  async exec(script: string): Promise<void> {
    try {
      // Without parameters postgres.js uses the simple protocol, which runs several statements.
      await this.#client.unsafe(script);
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return fn(this);
    try {
      const result = await (this.#client as postgres.Sql).begin((tx) =>
        fn(new PostgresExecutor(tx, this.#target, true))
      );
      return result as T;
    } catch (error) {
      throw toStoreError(error, this.#target);
    }
  }
}

// Error codes postgres.js and Deno's node:net use for a database that is not there.
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host lookup failed",
  ETIMEDOUT: "connection timed out",
  CONNECT_TIMEOUT: "connection timed out",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed",
  CONNECTION_CLOSED: "connection closed",
  CONNECTION_DESTROYED: "connection destroyed",
  CONNECTION_ENDED: "store is closed",
};

function toStoreError(error: unknown, target: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  if (typeof code === "string" && code in UNREACHABLE) {
    return new StoreError(`Cannot reach ${target}: ${UNREACHABLE[code]}`, {
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
