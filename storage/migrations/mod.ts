/**
 * Every migration, in order, listed explicitly. The SQL is imported as text so it is embedded by
 * `deno compile` and needs no read permission at run time.
 *
 * @module
 */

import init from "./0001_init.sql" with { type: "text" };
import runInterrupted from "./0002_run_interrupted.sql" with { type: "text" };
import runsByStart from "./0003_runs_by_start.sql" with { type: "text" };

/** One schema change. Never edit one that has shipped: add the next version instead. */
export interface Migration {
  /** Increasing integer; the order migrations apply in. */
  version: number;
  /** Short name, from the file name. */
  name: string;
  /** The SQL script. */
  sql: string;
}

/** All migrations, lowest version first. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "init", sql: init },
  { version: 2, name: "run_interrupted", sql: runInterrupted },
  { version: 3, name: "runs_by_start", sql: runsByStart },
];
