/**
 * One statement that lands a small batch and claims its commit marker: `INSERT … SELECT … FROM unnest(…)` with
 * the marker's `INSERT … ON CONFLICT DO NOTHING` in a CTE, atomic as any single statement. A COPY needs five
 * round trips (BEGIN, the claim, COPY, its data, COMMIT); this needs one, which is what a group commit of a few
 * dozen events waits on. Values travel as one text array per column and are cast to the column's own type
 * server-side, so the rows land exactly as binary COPY lands them (`copy_binary.test.ts` checks both paths).
 *
 * @module
 */

import { type Batch, type Column, type Field, formatDecimal, isNull } from "../../batch.ts";
import type { SqlParam } from "../../../storage/sql.ts";
import type { BinaryFormat } from "./copy_binary.ts";
import { recordRunsSql } from "../../../storage/sql_store.ts";

/** Largest batch sent this way; a bigger one goes through COPY, which costs less per row. */
export const SMALL_BATCH_ROWS = 1000;

const MICROS_PER_DAY = 86_400_000_000n;

/** A prepared small-batch statement for one table and its columns. */
export interface SmallInsert {
  /** The statement: `$1`..`$5` the marker (sink, pipeline, run, sequence, rows), then one array per column. */
  sql: string;
  /** The same, also recording finished runs (one more parameter, their JSON) when the marker is claimed. */
  sqlWithRuns: string;
  /** The parameters for `batch`, its marker's first five; `runs` (JSON) for {@linkcode sqlWithRuns}. */
  params(batch: Batch, marker: readonly [string, string, string, number], runs?: string): SqlParam[];
}

/**
 * The statement for `fields` landing in `qualified`, whose columns have the types `columnTypes` (as `format_type`
 * prints them) and take the binary formats `formats`. It answers one row: `n`, the rows inserted (0 when the
 * marker was already claimed: the batch is already there).
 */
export function smallInsert(
  qualified: string,
  fields: readonly Field[],
  columns: { names: readonly string[]; types: readonly string[]; formats: readonly BinaryFormat[] },
): SmallInsert {
  const values = fields.map((_, i) => `v.c${i}`);
  const casts = fields.map((f, i) => {
    const type = columns.types[i];
    const v = values[i];
    if (columns.formats[i] === "timestamp") {
      // Microseconds since the epoch added to the epoch of the column's own type: exact, and no time zone in it.
      const epoch = type.includes("with time zone") ? "TIMESTAMPTZ 'epoch'" : "TIMESTAMP 'epoch'";
      return `(${epoch} + (${v} || ' microseconds')::interval)::${type}`;
    }
    if (f.type === "date") return `(DATE '1970-01-01' + ${v}::int)::${type}`;
    return `${v}::${type}`;
  });
  const statement = (runs: string) =>
    `WITH claim AS (
      INSERT INTO weir.sink_commits (sink, pipeline, run_id, sequence, part, parts, rows)
      VALUES ($1, $2, $3, $4, 0, 1, $5) ON CONFLICT DO NOTHING RETURNING 1
    ), landed AS (
      INSERT INTO ${qualified} (${columns.names.join(", ")})
      SELECT ${casts.join(", ")}
        FROM unnest(${fields.map((_, i) => `$${i + 6}::text[]`).join(", ")}) AS v(${
      fields.map((_, i) => `c${i}`).join(", ")
    })
       WHERE EXISTS (SELECT 1 FROM claim)
      RETURNING 1
    )${runs}
    SELECT count(*)::int AS n FROM landed`;
  const recorded = `, recorded AS (${
    recordRunsSql(fields.length + 6, "WHERE EXISTS (SELECT 1 FROM claim)")
  })`;
  return {
    sql: statement(""),
    sqlWithRuns: statement(recorded),
    params(batch, marker, runs) {
      return [
        ...marker,
        batch.length,
        ...fields.map((f, i) => columnTexts(batch.columns[f.name], columns.formats[i])),
        ...(runs === undefined ? [] : [runs]),
      ];
    },
  };
}

/** A column's values as the text the casts above read, null for a null. */
function columnTexts(column: Column, format: BinaryFormat): (string | null)[] {
  const out = new Array<string | null>(column.length);
  for (let row = 0; row < column.length; row++) {
    out[row] = isNull(column, row) ? null : text(column, row, format);
  }
  return out;
}

function text(column: Column, row: number, format: BinaryFormat): string {
  switch (column.type) {
    case "int64":
    case "timestamp":
      return String(column.values[row]);
    case "float64": {
      const v = column.values[row];
      return Object.is(v, -0) ? "-0" : String(v);
    }
    case "decimal":
      return formatDecimal(column.values[row], column.scale);
    case "boolean":
      return ((column.values[row >> 3] >> (row & 7)) & 1) === 1 ? "t" : "f";
    case "date":
      // A date landing in a timestamp column: midnight UTC, in microseconds.
      return format === "timestamp"
        ? String(BigInt(column.values[row]) * MICROS_PER_DAY)
        : String(column.values[row]);
    case "string":
      return decoder.decode(column.data.subarray(column.offsets[row], column.offsets[row + 1]));
  }
}

const decoder = new TextDecoder();
