/**
 * What the store (`postgres.ts`) and the sink database (`sink_database.ts`) both need from postgres.js:
 * running statements and transactions on a pool or one of its transactions with every driver error mapped
 * by the caller, and recognising the error codes of a database that cannot be reached.
 *
 * @module
 */

import type postgres from "postgres";
import type { SqlParam, SqlQueryOptions, SqlRow } from "./sql.ts";
import type { StoreError } from "./store.ts";

/** A postgres.js pool or one of its transactions. */
export type PgClient = postgres.Sql | postgres.TransactionSql;

/** Statements on a postgres.js client; every driver error goes through the caller's mapping. */
export class PostgresJsSession {
  #client: PgClient;
  #toError: (error: unknown) => StoreError;

  /** Wraps `client`; `toError` turns what the driver throws into the caller's {@linkcode StoreError}. */
  constructor(client: PgClient, toError: (error: unknown) => StoreError) {
    this.#client = client;
    this.#toError = toError;
  }

  /** The wrapped pool or transaction. */
  get client(): PgClient {
    return this.#client;
  }

  /** Maps an error the driver threw while this session's client was in use, as its statements do. */
  toError(error: unknown): StoreError {
    return this.#toError(error);
  }

  /** Runs one statement with parameters on the extended protocol (prepared unless `prepare` is false). */
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
      throw this.#toError(error);
    }
  }

  /** Runs a script of statements without parameters. */
  async exec(script: string): Promise<void> {
    try {
      // Without parameters postgres.js uses the simple protocol, which runs several statements.
      await this.#client.unsafe(script);
    } catch (error) {
      throw this.#toError(error);
    }
  }

  /** Runs `fn` in a transaction on a connection of the pool; `fn` gets a session on that transaction. */
  async begin<T>(fn: (tx: PostgresJsSession) => Promise<T>): Promise<T> {
    try {
      const result = await (this.#client as postgres.Sql).begin((tx) =>
        fn(new PostgresJsSession(tx, this.#toError))
      );
      return result as T;
    } catch (error) {
      throw this.#toError(error);
    }
  }
}

// Error codes postgres.js and Deno's node:net use for a database that is not there.
const UNREACHABLE = new Map([
  ["ECONNREFUSED", "connection refused"],
  ["ENOTFOUND", "host not found"],
  ["EAI_AGAIN", "host lookup failed"],
  ["ETIMEDOUT", "connection timed out"],
  ["CONNECT_TIMEOUT", "connection timed out"],
  ["ECONNRESET", "connection reset"],
  ["EHOSTUNREACH", "host unreachable"],
  ["ENETUNREACH", "network unreachable"],
  ["EPIPE", "connection closed"],
  ["CONNECTION_CLOSED", "connection closed"],
  ["CONNECTION_DESTROYED", "connection destroyed"],
]);

/** The `code` of a driver or socket error, if it has a string one. */
export function driverErrorCode(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/**
 * Why the database could not be reached (`connection refused`, `host not found`, …) when `code` says so;
 * undefined for any other code, `CONNECTION_ENDED` (a client closed on purpose) included.
 */
export function unreachableReason(code: string | undefined): string | undefined {
  return code === undefined ? undefined : UNREACHABLE.get(code);
}
