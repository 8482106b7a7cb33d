/**
 * The narrow waist between weir's SQL and a PostgreSQL driver. Both postgres.js and PGlite are
 * adapted to this, so every query is written once with `$1` placeholders.
 *
 * @module
 */

/** A bound parameter. JSON goes in as text and is cast in SQL (`$1::text::jsonb`), because the two drivers serialize JSON parameters differently. */
export type SqlParam = string | number | boolean | null | Date | Uint8Array | readonly string[] | readonly number[];

/** A result row as the driver returns it; the store normalizes the values. */
export type SqlRow = Record<string, unknown>;

/** Runs SQL on one PostgreSQL-compatible database. Driver errors come out as `StoreError`. */
export interface SqlExecutor {
  /** Runs one statement with `$n` parameters and returns its rows. */
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly SqlParam[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** Runs `fn` in a transaction; a transaction started inside `fn` joins this one. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}
