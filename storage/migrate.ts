/**
 * The migration runner: applies {@linkcode MIGRATIONS} in order, each in its own transaction, and
 * records them in `weir.weir_migrations`. Safe when several processes start at once: each step
 * takes a transaction-scoped advisory lock first, then re-checks what is applied. PGlite is
 * single-process, and the same lock is simply uncontended there, so there is one code path.
 *
 * @module
 */

import type { Logger } from "../observability/logger.ts";
import { type Migration, MIGRATIONS } from "./migrations/mod.ts";
import type { SqlExecutor } from "./sql.ts";
import { StoreError } from "./store.ts";

/** Options for {@linkcode migrate}. */
export interface MigrateOptions {
  /** The migrations to apply. Default: all of {@linkcode MIGRATIONS}. */
  migrations?: readonly Migration[];
  /** Receives one line per applied migration. */
  logger?: Logger;
  /** Names the store in errors, e.g. `storage.postgres`. Default `storage`. */
  component?: string;
}

/** What {@linkcode migrate} did. */
export interface MigrateResult {
  /** Versions this call applied, in order; empty when the schema was up to date. */
  applied: number[];
  /** The highest applied version afterwards. */
  version: number;
}

// Two-key advisory lock: 0x77656972 is "weir", 1 means "migrations". Transaction-scoped, so a
// crashed runner can never leave it held.
const LOCK = "SELECT pg_advisory_xact_lock(2003135858, 1)";

const BOOTSTRAP = `
CREATE SCHEMA IF NOT EXISTS weir;
CREATE TABLE IF NOT EXISTS weir.weir_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`;

/**
 * Brings the `weir` schema up to date. Running it again is a no-op.
 *
 * Throws a {@linkcode StoreError} with code `migration` when an applied migration's SQL differs from
 * this build's (a shipped migration was edited).
 */
export async function migrate(sql: SqlExecutor, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = [...(options.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  const component = options.component ?? "storage";
  const checksums = new Map<number, string>();
  for (const m of migrations) checksums.set(m.version, await sha256(m.sql));

  const recorded = await sql.transaction(async (tx) => {
    await tx.query(LOCK);
    await tx.exec(BOOTSTRAP);
    return await tx.query<{ version: number; checksum: string }>(
      "SELECT version, checksum FROM weir.weir_migrations ORDER BY version",
    );
  });
  const done = new Set<number>();
  for (const row of recorded) {
    const version = Number(row.version);
    done.add(version);
    const expected = checksums.get(version);
    if (expected === undefined) {
      // A newer build migrated this database (e.g. mid rolling deploy); older code keeps working
      // as long as migrations stay additive, so warn instead of refusing to start.
      options.logger?.warn("Database schema is newer than this build", { version });
    } else if (expected !== row.checksum) {
      throw new StoreError(`Migration ${version} was changed after it was applied: restore its SQL`, {
        component,
        code: "migration",
      });
    }
  }

  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const ran = await sql.transaction(async (tx) => {
      await tx.query(LOCK);
      // Another process may have applied it while we waited for the lock.
      const again = await tx.query("SELECT 1 FROM weir.weir_migrations WHERE version = $1", [m.version]);
      if (again.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query("INSERT INTO weir.weir_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
        m.version,
        m.name,
        checksums.get(m.version)!,
      ]);
      return true;
    });
    if (ran) {
      applied.push(m.version);
      options.logger?.info("Applied migration", { version: m.version, name: m.name });
    }
    done.add(m.version);
  }
  return { applied, version: Math.max(0, ...done) };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
