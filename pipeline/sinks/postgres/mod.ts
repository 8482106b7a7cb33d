/**
 * The `postgres` sink: lands batches in a PostgreSQL table (or the embedded PGlite one) through `COPY`.
 *
 * - `append` streams the batch into the table in binary COPY format (see `copy_binary.ts`), split over several
 *   connections when it is large; a small batch written for the first time goes in one statement instead
 *   (see `insert_small.ts`), one round trip where COPY takes five.
 * - `upsert` copies it into a temporary table, then `INSERT … ON CONFLICT (key) DO UPDATE`, the last row of the
 *   batch winning for a repeated key.
 *
 * **Exactly once.** Every write claims `(sink, pipeline, run_id, sequence, part)` in `weir.sink_commits` of the
 * same database, in the same transaction as its rows, before it copies them. A retry (after an error, a crash
 * or from another process) finds the claim and writes nothing; a write that fails midway rolls back rows and
 * claim together, so its retry writes everything. A concurrent duplicate waits on the claim's primary key
 * and then skips. An append split into N parallel parts commits each part with its own claim (and records N,
 * which a retry reuses), so a crash between parts leaves some parts committed and the retry adds only the
 * rest: never a duplicate, though a reader may see a split batch half landed until the retry finishes.
 *
 * @module
 */

import type { Batch, Field } from "../../batch.ts";
import type { Sink, SinkDatabase, WriteContext } from "../../component.ts";
import { ConfigError, PipelineError } from "../../errors.ts";
import { StoreError } from "../../../storage/store.ts";
import { configPath, type SinkContext, type SinkDefinition, sinkError, splitRows } from "../context.ts";
import { sinkInstruments } from "../instruments.ts";
import { PostgresSinkConfig } from "./config.ts";
import { binaryFormat, type CopyBinaryOptions, encodeCopyBinary } from "./copy_binary.ts";
import { SMALL_BATCH_ROWS, smallInsert } from "./insert_small.ts";
import { RECORD_RUNS, recordedRunsJson } from "../../../storage/sql_store.ts";

export { PostgresSinkConfig } from "./config.ts";

const NAME = "postgres";
const COMPONENT = "sink.postgres";

/** Quotes a PostgreSQL identifier: always, so reserved words, capitals and quotes in names are safe. */
export function quoteIdent(name: string): string {
  if (name.includes("\0")) {
    throw new ConfigError(`Identifier contains a NUL byte: ${JSON.stringify(name)}`, {
      path: "sinks.postgres",
    });
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** The PostgreSQL column type weir creates for a field. */
export function postgresType(field: Field): string {
  switch (field.type) {
    case "int64":
      return "bigint";
    case "float64":
      return "double precision";
    case "decimal":
      return `numeric(${field.precision},${field.scale})`;
    case "boolean":
      return "boolean";
    case "date":
      return "date";
    case "timestamp":
      return "timestamptz";
    case "string":
      return "text";
  }
}

/**
 * Whether an existing column of type `actual` (as `format_type` prints it) holds every value of `field`
 * without loss: wider is fine, narrower (integer for int64, numeric(5,2) for decimal(10,2)) is not.
 */
export function isCompatibleType(field: Field, actual: string): boolean {
  const numeric = /^numeric(?:\((\d+),(\d+)\))?$/.exec(actual);
  const wholeDigits = (m: RegExpExecArray) => Number(m[1]) - Number(m[2]);
  switch (field.type) {
    case "int64":
      return actual === "bigint" ||
        (numeric !== null && (numeric[1] === undefined || wholeDigits(numeric) >= 19));
    case "float64":
      return actual === "double precision" || (numeric !== null && numeric[1] === undefined);
    case "decimal":
      return numeric !== null &&
        (numeric[1] === undefined ||
          (Number(numeric[2]) >= field.scale && wholeDigits(numeric) >= field.precision - field.scale));
    case "boolean":
      return actual === "boolean";
    case "date":
      return actual === "date" || /^timestamp(\(\d\))? with(out)? time zone$/.test(actual);
    case "timestamp":
      return /^timestamp(\(\d\))? with(out)? time zone$/.test(actual);
    case "string":
      return actual === "text" || actual.startsWith("character varying");
  }
}

const COMMITS_DDL = `
CREATE SCHEMA IF NOT EXISTS weir;
CREATE TABLE IF NOT EXISTS weir.sink_commits (
  sink         text NOT NULL,
  pipeline     text NOT NULL,
  run_id       text COLLATE "C" NOT NULL,
  sequence     bigint NOT NULL CHECK (sequence >= 0),
  part         integer NOT NULL DEFAULT 0 CHECK (part >= 0),
  parts        integer NOT NULL DEFAULT 1 CHECK (parts >= 1),
  rows         bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, pipeline, run_id, sequence, part)
);`;

/**
 * Creates `weir.sink_commits` when missing. Under an advisory lock: two processes running `CREATE … IF NOT
 * EXISTS` at once can still collide on the catalog's unique index.
 */
export async function ensureSinkCommits(db: SinkDatabase): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('weir.sink_commits'))`);
    await tx.exec(COMMITS_DDL);
  });
}

type ColumnInfo = {
  name: string;
  num: number;
  type: string;
  not_null: boolean;
  has_default: boolean;
};

/**
 * Creates the table, or checks the existing one against the schema; throws a `ConfigError` on a mismatch.
 * Returns the column type (as `format_type` prints it) of each field, which decides its binary COPY format.
 */
async function prepareTable(
  db: SinkDatabase,
  options: { qualified: string; config: PostgresSinkConfig; ctx: SinkContext },
): Promise<Map<string, string>> {
  const { qualified, config, ctx } = options;
  const { fields, key } = ctx.schema;
  const readColumns = () =>
    db.query<ColumnInfo>(
      `SELECT a.attname AS name, a.attnum::int AS num, format_type(a.atttypid, a.atttypmod) AS type,
              a.attnotnull AS not_null, (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
         FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [qualified],
    );
  let columns = await readColumns();
  const path = configPath(NAME, "table");
  if (columns.length === 0) {
    if (!config.create) {
      throw new ConfigError(`Sink table does not exist and create is false: ${qualified}`, { path });
    }
    const defs = fields.map((f) =>
      `${quoteIdent(f.name)} ${postgresType(f)}${key.includes(f.name) ? " NOT NULL" : ""}`
    );
    if (key.length > 0) defs.push(`PRIMARY KEY (${key.map(quoteIdent).join(", ")})`);
    await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [qualified]);
      await tx.exec(`CREATE TABLE IF NOT EXISTS ${qualified} (${defs.join(", ")})`);
    });
    // Read back rather than assumed: another process may have created it first, and it is checked like any.
    columns = await readColumns();
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const problems: string[] = [];
  for (const f of fields) {
    const column = byName.get(f.name);
    if (!column) problems.push(`missing column ${f.name}`);
    else if (!isCompatibleType(f, column.type)) {
      problems.push(
        `column ${f.name} is ${column.type}, which cannot hold ${f.type} (expected ${postgresType(f)})`,
      );
    }
  }
  const names = new Set(fields.map((f) => f.name));
  for (const c of columns) {
    if (!names.has(c.name) && c.not_null && !c.has_default) {
      problems.push(`column ${c.name} is NOT NULL without a default and not in the schema`);
    }
  }
  if (config.mode === "upsert") {
    const indexes = await db.query<{ keys: number[] | string }>(
      `SELECT i.indkey::int2[] AS keys FROM pg_index i
        WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [qualified],
    );
    const wanted = [...key].sort().join("\0");
    const byNum = new Map(columns.map((c) => [c.num, c.name]));
    const found = indexes.some((i) => {
      const nums = typeof i.keys === "string" ? i.keys.replace(/[{}]/g, "").split(",").map(Number) : i.keys;
      return nums.map((n) => byNum.get(Number(n)) ?? "").sort().join("\0") === wanted;
    });
    if (!found) {
      problems.push(`no primary key or unique index on exactly the key (${key.join(", ")}) for upsert`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `Sink table does not match the pipeline schema: ${qualified}: ${problems.join("; ")}`,
      {
        path,
      },
    );
  }
  return new Map(fields.map((f) => [f.name, byName.get(f.name)!.type]));
}

function* chunksOf(batch: Batch, options: CopyBinaryOptions, count: (n: number) => void) {
  for (const chunk of encodeCopyBinary(batch, options)) {
    count(chunk.length);
    yield chunk;
  }
}

// Driver codes that mean the connection, not the statement, failed.
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
]);
const RETRIABLE_STATES = new Set(["40001", "40P01", "53300", "57P01", "57P02", "57P03", "57014"]);

function isRetriable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (RETRIABLE_STATES.has(code) || CONNECTION_CODES.has(code) || code.startsWith("08")) return true;
      if (/^[0-9A-Z]{5}$/.test(code)) return false; // a SQLSTATE, e.g. 23505 or 22P02: the data is wrong
    }
    if (e instanceof StoreError) return e.retriable;
    if (e instanceof ConfigError) return false;
    e = (e as { cause?: unknown }).cause;
  }
  return error instanceof PipelineError ? error.retriable : false;
}

/** The `postgres` sink. */
export const postgresSink: SinkDefinition<PostgresSinkConfig> = {
  kind: "sink",
  name: NAME,
  summary:
    "Lands rows in a PostgreSQL table through COPY: append or upsert by the key, exactly once per batch",
  config: PostgresSinkConfig,
  isRetriable,
  keepsNoBatch: true,
  async build(config, ctx) {
    const db = ctx.database;
    if (!db) {
      throw new ConfigError("The postgres sink needs a database: set DATABASE_URL or use the embedded one", {
        path: configPath(NAME),
      });
    }
    const { fields, key } = ctx.schema;
    if (config.mode === "upsert" && key.length === 0) {
      throw new ConfigError("Upsert needs a key: declare schema.key or use mode append", {
        path: configPath(NAME, "mode"),
      });
    }
    const qualified = `${quoteIdent(config.schema)}.${quoteIdent(config.table)}`;
    await ensureSinkCommits(db);
    const columnTypes = await prepareTable(db, { qualified, config, ctx });
    const formats = fields.map((f) => binaryFormat(f, columnTypes.get(f.name)!));

    const sinkId = `postgres:${config.schema}.${config.table}`;
    const meters = sinkInstruments(ctx.telemetry, NAME);
    const columnList = fields.map((f) => quoteIdent(f.name)).join(", ");
    const copyAppend = `COPY ${qualified} (${columnList}) FROM STDIN (FORMAT binary)`;
    const small = smallInsert(qualified, fields, {
      names: fields.map((f) => quoteIdent(f.name)),
      types: fields.map((f) => columnTypes.get(f.name)!),
      formats,
    });
    const streams = db.kind === "pglite" ? 1 : config.streams;
    let closed = false;

    /** Records the write's finished runs (a group commit's) in the transaction of its first part. */
    const recordRuns = async (tx: SinkDatabase, w: WriteContext) => {
      if (w.runs && w.runs.length > 0) await tx.query(RECORD_RUNS, [recordedRunsJson(w.runs)]);
    };

    /** Claims the marker for one part; false when it was already committed (or is being, elsewhere). */
    const claim = async (
      tx: SinkDatabase,
      w: WriteContext,
      part: { part: number; parts: number; rows: number },
    ) => {
      const rows = await tx.query(
        `INSERT INTO weir.sink_commits (sink, pipeline, run_id, sequence, part, parts, rows)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING part`,
        [sinkId, ctx.pipeline, w.runId, w.sequence, part.part, part.parts, part.rows],
      );
      return rows.length === 1;
    };

    const append = async (batch: Batch, w: WriteContext): Promise<number> => {
      // A fresh write has nothing committed before it; otherwise a retry splits exactly as the first attempt
      // did, so that its committed parts line up with ours.
      const existing = w.fresh ? [] : await db.query<{ part: number; parts: number }>(
        `SELECT part, parts FROM weir.sink_commits WHERE sink = $1 AND pipeline = $2 AND run_id = $3 AND sequence = $4`,
        [sinkId, ctx.pipeline, w.runId, w.sequence],
      );
      const parts = existing.length > 0
        ? existing[0].parts
        : Math.max(1, Math.min(streams, Math.floor(batch.length / config.minRowsPerStream)));
      if (w.fresh && parts === 1 && batch.length <= SMALL_BATCH_ROWS) {
        // Rows, marker (and runs) in one statement, one round trip; its marker is the one part a retry's COPY
        // expects.
        const runs = w.runs && w.runs.length > 0 ? recordedRunsJson(w.runs) : undefined;
        const [{ n }] = await db.query<{ n: number }>(
          runs === undefined ? small.sql : small.sqlWithRuns,
          small.params(batch, [sinkId, ctx.pipeline, w.runId, w.sequence], runs),
        );
        return n;
      }
      const done = new Set(existing.map((e) => e.part));
      const ranges = splitRows(batch.length, parts);
      // allSettled: a failed part must not report before its siblings have committed or rolled back.
      const settled = await Promise.allSettled(ranges.map(async (range, part) => {
        if (done.has(part)) return 0;
        return await db.transaction(async (tx) => {
          const claimed = claim(tx, w, { part, parts, rows: range.to - range.from });
          if (w.fresh) {
            // Nothing can hold the claim: the COPY goes out right behind it, one round trip saved.
            claimed.catch(() => {});
          } else if (!(await claimed)) {
            return 0;
          }
          if (range.to > range.from) {
            await tx.copyFrom(copyAppend, chunksOf(batch, { ...range, formats }, meters.bytes));
          }
          if (!(await claimed)) {
            throw new PipelineError(`A fresh write of run ${w.runId} found its chunk already committed`, {
              component: NAME,
              retriable: false,
            });
          }
          if (part === 0) await recordRuns(tx, w);
          return range.to - range.from;
        });
      }));
      const failed = settled.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      return settled.reduce((n, r) => n + (r.status === "fulfilled" ? r.value : 0), 0);
    };

    const nonKey = fields.filter((f) => !key.includes(f.name));
    const keyList = key.map(quoteIdent).join(", ");
    const onConflict = nonKey.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${
        nonKey.map((f) => `${quoteIdent(f.name)} = EXCLUDED.${quoteIdent(f.name)}`).join(", ")
      }`;

    const upsert = (batch: Batch, w: WriteContext): Promise<number> =>
      db.transaction(async (tx) => {
        if (!(await claim(tx, w, { part: 0, parts: 1, rows: batch.length }))) return 0;
        await recordRuns(tx, w);
        if (batch.length === 0) return 0;
        const stage = quoteIdent(`weir_stage_${crypto.randomUUID().replaceAll("-", "")}`);
        // The stage takes the target's own column types, so the final INSERT needs no casts.
        await tx.exec(
          `CREATE TEMP TABLE ${stage} ON COMMIT DROP AS
             SELECT NULL::bigint AS "__weir_row", ${columnList} FROM ${qualified} WITH NO DATA`,
        );
        await tx.copyFrom(
          `COPY ${stage} ("__weir_row", ${columnList}) FROM STDIN (FORMAT binary)`,
          chunksOf(batch, { formats, rowNumber: true }, meters.bytes),
        );
        // DISTINCT ON keeps the batch's last row per key: ON CONFLICT cannot touch one row twice.
        await tx.exec(
          `INSERT INTO ${qualified} (${columnList})
             SELECT DISTINCT ON (${keyList}) ${columnList} FROM ${stage} ORDER BY ${keyList}, "__weir_row" DESC
             ON CONFLICT (${keyList}) ${onConflict}`,
        );
        return batch.length;
      });

    const sink: Sink = {
      // Its database is weir's own (the runtime's, or PGlite's in the embedded default).
      recordsRuns: true,
      async write(batch, w) {
        if (closed) throw new PipelineError("Sink is closed", { component: COMPONENT, retriable: false });
        w.signal.throwIfAborted();
        meters.received(batch.length);
        try {
          const sent = config.mode === "append" ? await append(batch, w) : await upsert(batch, w);
          meters.sent(sent);
        } catch (error) {
          meters.error();
          throw sinkError(error, {
            component: COMPONENT,
            message: `Writing to ${qualified} failed`,
            retriable: isRetriable(error),
          });
        }
      },
      async healthcheck(signal) {
        signal.throwIfAborted();
        await db.query("SELECT 1 AS ok");
      },
      close() {
        // The database belongs to the context (shared with other sinks); there is nothing of ours to release.
        closed = true;
        return Promise.resolve();
      },
    };
    return sink;
  },
};
