/**
 * The narrow waist between weir's SQL and a PostgreSQL driver. Both postgres.js and PGlite are
 * adapted to this, so every query is written once with `$1` placeholders.
 *
 * @module
 */

import { StoreError, type StoreErrorCode } from "./store.ts";

/**
 * A bound parameter. JSON goes in as text and is cast in SQL (`$1::text::jsonb`), because
 * postgres.js stringifies every value bound to a jsonb parameter (strings included) and PGlite
 * passes strings through.
 */
export type SqlParam =
  | string
  | number
  | boolean
  | null
  | Date
  | Uint8Array
  | readonly (string | null)[]
  | readonly number[];

/** A result row as the driver returns it; the store normalizes the values. */
export type SqlRow = Record<string, unknown>;

/** Per-query hints for the driver. */
export interface SqlQueryOptions {
  /**
   * Cache the statement on the connection. Default true; false for generated text (multi-row
   * VALUES), which would otherwise fill the cache with one statement per row count.
   */
  prepare?: boolean;
}

/** Runs SQL on one PostgreSQL-compatible database. Driver errors come out as `StoreError`. */
export interface SqlExecutor {
  /** Runs one statement with `$n` parameters and returns its rows. */
  query<R extends SqlRow = SqlRow>(
    text: string,
    params?: readonly SqlParam[],
    options?: SqlQueryOptions,
  ): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** Runs `fn` in a transaction; a transaction started inside `fn` joins this one. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** Options for {@linkcode storeErrorFromSqlState}. */
export interface SqlStateErrorOptions {
  /** Names the store, e.g. `storage.postgres`. */
  component: string;
  /** Where the database is, for outage messages, e.g. `PostgreSQL at db:5432`. */
  target: string;
}

/**
 * Maps a database error that carries a SQLSTATE `code` to a {@linkcode StoreError}; returns
 * `undefined` for anything else. Shared by both drivers, which report server errors alike.
 */
export function storeErrorFromSqlState(
  error: unknown,
  options: SqlStateErrorOptions,
): StoreError | undefined {
  if (!(error instanceof Error)) return undefined;
  const state = (error as Error & { code?: unknown }).code;
  if (typeof state !== "string" || !/^[0-9A-Z]{5}$/.test(state)) return undefined;
  const { component, target } = options;
  const make = (message: string, code: StoreErrorCode, retriable: boolean) =>
    new StoreError(message, { component, code, retriable, cause: error });
  const cls = state.slice(0, 2);
  if (cls === "08" || cls === "53" || state === "57P01" || state === "57P02" || state === "57P03") {
    return make(`Lost ${target}: ${error.message}`, "unavailable", true);
  }
  if (cls === "28") return make(`${target} rejected the login: ${error.message}`, "unavailable", false);
  if (state === "3D000") return make(`Cannot open ${target}: ${error.message}`, "unavailable", false);
  if (state === "57014") return make(`Storage query was cancelled: ${error.message}`, "unavailable", true);
  if (state === "40001" || state === "40P01") {
    return make(`Storage conflict: ${error.message}`, "conflict", true);
  }
  if (cls === "23" || cls === "22" || state === "42501") {
    return make(`Storage rejected the data: ${error.message}`, "invalid", false);
  }
  return make(`Storage query failed: ${error.message}`, "query", false);
}
