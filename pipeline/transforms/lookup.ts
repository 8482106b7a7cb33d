/**
 * `lookup`: enriches rows with columns of a PostgreSQL table, matched by key, through a cache (cache-aside:
 * read the cache, query the database for the misses only, write them back with a TTL). The cache is Redis when
 * the context has a client and an in-process map otherwise.
 *
 * ```yaml
 * transforms:
 *   - lookup: { table: countries, key: code, on: country, columns: [name, region], prefix: country_, ttl: 300 }
 * ```
 *
 * Each batch asks the cache for its distinct keys in one round trip and the database for the missing ones in
 * one query: the keys go in as one array parameter, joined through `unnest($1::text[]) WITH ORDINALITY`, which
 * is `key = ANY($1)` plus the position of each key, so results map back without re-parsing the key's text.
 * Keys without a row give nulls (a left join) and are cached as such, so a missing key does not hit the
 * database on every batch. Identifiers are always quoted; the table's column types are read from the catalog
 * at load, so a misspelt column fails there, not on the first batch.
 *
 * @module
 */

import * as v from "valibot";
import type { Batch, Column, ColumnType, Field } from "../batch.ts";
import { batchFromRows, cellValue } from "../batch.ts";
import type { Transform, TransformSpec } from "../component.ts";
import { ConfigError, PipelineError } from "../errors.ts";
import { typeName } from "../expr/mod.ts";
import type { SqlExecutor } from "../../storage/sql.ts";
import type { Labels } from "../../observability/metrics.ts";
import { configPath, type TransformContext, transformMeters } from "./context.ts";
import { type CachedRow, type LookupCache, MemoryLookupCache, RedisLookupCache } from "./lookup_cache.ts";
import { takeColumn } from "./take.ts";

const describe = <S extends v.GenericSchema>(schema: S, text: string) => v.pipe(schema, v.description(text));
const Name = v.pipe(v.string(), v.minLength(1));

/** `lookup`'s config. */
export const LookupConfig = v.strictObject({
  table: describe(Name, "The PostgreSQL table to read, e.g. `countries`"),
  schema: describe(v.optional(Name, "public"), "The table's PostgreSQL schema"),
  key: describe(Name, "The table column to match"),
  on: describe(
    v.optional(Name),
    "The input column whose value is looked up; default: the column named like `key`",
  ),
  columns: describe(v.pipe(v.array(Name), v.minLength(1)), "Table columns to add to each row"),
  prefix: describe(v.optional(v.string(), ""), "Prepended to the added columns' names, e.g. `country_`"),
  ttl: describe(
    v.optional(v.pipe(v.number(), v.minValue(0.001)), 300),
    "Seconds a looked-up row (or its absence) stays cached",
  ),
  cache: describe(
    v.optional(v.picklist(["auto", "redis", "memory"]), "auto"),
    "Where to cache: `auto` is Redis when configured and this process otherwise",
  ),
  maxEntries: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 100_000),
    "Most entries the in-process cache holds; the oldest go first",
  ),
});

/** The parsed config. */
export type LookupConfig = v.InferOutput<typeof LookupConfig>;

/** Lookup instruments, defined once. */
export const LOOKUP_INSTRUMENTS = {
  hits: { name: "weir.lookup.cache.hits", description: "Lookup keys found in the cache", unit: "{key}" },
  misses: { name: "weir.lookup.cache.misses", description: "Lookup keys not in the cache", unit: "{key}" },
  queries: {
    name: "weir.lookup.queries",
    description: "Queries lookups sent to the database",
    unit: "{query}",
  },
} as const;

const LOOKUP_LABELS = ["pipeline", "lookup.table", "lookup.cache"] as const;

/** Keys per database query: bounds the parameter size for very large batches. */
const QUERY_CHUNK = 10_000;

interface TableColumn {
  name: string;
  /** Type as the catalog spells it, for casts in SQL. */
  sqlType: string;
  /** weir's type for its values. */
  type: ColumnType;
  /** The expression that renders a value as text weir parses back exactly. */
  text: (ref: string) => string;
}

/** Builds a lookup: reads the table's column types, checks the config against them and the input schema. */
export async function buildLookup(config: LookupConfig, ctx: TransformContext): Promise<Transform> {
  const path = configPath("lookup");
  const database = ctx.database;
  if (database === undefined) throw new ConfigError("Lookup needs a database: none is configured", { path });
  const on = config.on ?? config.key;
  const input = ctx.input.fields.find((f) => f.name === on);
  if (input === undefined) {
    throw new ConfigError(`Unknown lookup column: ${on} is not in the input`, {
      path: configPath("lookup", "on"),
    });
  }
  const table = `${quote(config.schema)}.${quote(config.table)}`;
  const catalog = await tableColumns(database, table);
  if (catalog.size === 0) {
    throw new ConfigError(`Lookup table not found: ${config.schema}.${config.table}`, {
      path: configPath("lookup", "table"),
    });
  }
  const column = (name: string, field: string) => {
    const c = catalog.get(name);
    if (c === undefined) {
      throw new ConfigError(`Lookup table ${config.table} has no column ${name}`, {
        path: configPath("lookup", field),
      });
    }
    return c;
  };
  const key = column(config.key, "key");
  if (key.type.type !== input.type) {
    throw new ConfigError(
      `Lookup key types differ: input column ${on} is ${typeName(input)}, ${config.table}.${key.name} is ${
        typeName(key.type)
      }`,
      { path: configPath("lookup", "key") },
    );
  }
  const wanted = config.columns.map((name) => column(name, "columns"));
  const fields: Field[] = wanted.map((c) => ({ ...c.type, name: config.prefix + c.name }) as Field);
  for (const f of fields) {
    if (ctx.input.fields.some((g) => g.name === f.name)) {
      throw new ConfigError(`Lookup column already exists in the input: ${f.name} (set a prefix)`, {
        path: configPath("lookup", "columns"),
      });
    }
  }
  // Text-like keys compare directly (index-friendly); other types that weir sees as strings (uuid, …) as text,
  // so that a malformed value cannot fail the whole query.
  const direct = key.type.type !== "string" ||
    ["text", "varchar", "bpchar", "citext", "name"].includes(key.sqlType);
  const match = direct ? `t.${quote(key.name)} = k.v::${key.sqlType}` : `t.${quote(key.name)}::text = k.v`;
  const select = wanted.map((c, i) => `${c.text(`t.${quote(c.name)}`)} AS c${i}`).join(", ");
  const sql = `SELECT k.i::int4 AS i, ${select} FROM unnest($1::text[]) WITH ORDINALITY AS k(v, i) ` +
    `JOIN ${table} AS t ON ${match}`;

  const cache = chooseCache(config, ctx);
  // The key prefix changes with anything that changes the cached shape, so a new config never reads old rows.
  const fingerprint = hash(JSON.stringify([table, key.name, wanted.map((c) => [c.name, c.type])]));
  const cachePrefix = `weir:lookup:${ctx.pipeline}:${config.table}:${fingerprint}:`;
  const ttlMs = config.ttl * 1000;
  const schema = { fields: [...ctx.input.fields, ...fields] };
  const meters = transformMeters(ctx, "lookup");
  const labels: Labels = { pipeline: ctx.pipeline, "lookup.table": config.table, "lookup.cache": cache.kind };
  const counter = (spec: (typeof LOOKUP_INSTRUMENTS)[keyof typeof LOOKUP_INSTRUMENTS]) =>
    ctx.telemetry.counter({ ...spec, labels: LOOKUP_LABELS });
  const hits = counter(LOOKUP_INSTRUMENTS.hits);
  const misses = counter(LOOKUP_INSTRUMENTS.misses);
  const queries = counter(LOOKUP_INSTRUMENTS.queries);
  const logger = ctx.logger.child({ component: "transform.lookup", table: config.table });

  /** The rows of `keys` from the database, in order (undefined where none). */
  const query = async (keys: readonly string[], signal: AbortSignal): Promise<(CachedRow | undefined)[]> => {
    const out: (CachedRow | undefined)[] = new Array(keys.length);
    for (let from = 0; from < keys.length; from += QUERY_CHUNK) {
      signal.throwIfAborted();
      const chunk = keys.slice(from, from + QUERY_CHUNK);
      let rows: Record<string, unknown>[];
      try {
        rows = await database.query(sql, [chunk]);
      } catch (error) {
        throw new PipelineError(`Lookup in ${config.table} failed: ${(error as Error).message}`, {
          component: "transform.lookup",
          retriable: error instanceof PipelineError ? error.retriable : false,
          cause: error,
        });
      }
      queries.add(1, labels);
      for (const row of rows) {
        out[from + Number(row.i) - 1] = { v: wanted.map((_, c) => (row[`c${c}`] ?? null) as string | null) };
      }
    }
    return out;
  };

  return {
    schema,
    async apply(batch: Batch, signal: AbortSignal): Promise<Batch> {
      const { distinct, rowKey } = distinctKeys(batch.columns[on], batch.length);
      const cacheKeys = distinct.map((k) => cachePrefix + k);
      let cached: (CachedRow | undefined)[];
      let cacheUsable = true;
      try {
        cached = await cache.getMany(cacheKeys);
      } catch (error) {
        // Cache-aside degrades to the database: a cache outage slows lookups down, it does not stop them.
        logger.warn("Lookup cache unavailable: reading the database", { error });
        cached = new Array(distinct.length).fill(undefined);
        cacheUsable = false;
      }
      const missing: number[] = [];
      cached.forEach((row, i) => row === undefined && missing.push(i));
      hits.add(distinct.length - missing.length, labels);
      misses.add(missing.length, labels);
      if (missing.length > 0) {
        const found = await query(missing.map((i) => distinct[i]), signal);
        const fresh: [string, CachedRow][] = [];
        missing.forEach((i, j) => {
          cached[i] = found[j] ?? { v: null };
          fresh.push([cacheKeys[i], cached[i]!]);
        });
        if (cacheUsable) {
          await cache.setMany(fresh, ttlMs).catch((error) =>
            logger.warn("Lookup cache write failed: rows were still enriched", { error })
          );
        }
      }
      const dictionary = batchFromRows(
        fields,
        cached.map((row) => fields.map((f, c) => parseCell(row?.v?.[c] ?? null, f))),
      );
      const columns: Record<string, Column> = { ...batch.columns };
      for (const f of fields) columns[f.name] = takeColumn(dictionary.columns[f.name], rowKey);
      meters.batch(batch.length, batch.length);
      return { schema, length: batch.length, lines: batch.lines, columns };
    },
  };
}

/** The `lookup` transform. */
export const lookupSpec = {
  kind: "transform",
  name: "lookup",
  summary: "Adds columns from a PostgreSQL table matched by key, cached in Redis (or in process) with a TTL",
  config: LookupConfig,
  build: buildLookup,
  keepsNoBatch: true,
} satisfies TransformSpec<LookupConfig>;

function chooseCache(config: LookupConfig, ctx: TransformContext): LookupCache {
  if (config.cache === "redis" && ctx.redis === undefined) {
    throw new ConfigError("Lookup cache is redis but Redis is not configured: set UPSTASH_REDIS_REST_URL", {
      path: configPath("lookup", "cache"),
    });
  }
  if (config.cache !== "memory" && ctx.redis !== undefined) return new RedisLookupCache(ctx.redis);
  return new MemoryLookupCache({ maxEntries: config.maxEntries });
}

/** A PostgreSQL identifier, always quoted. */
export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function tableColumns(
  database: Pick<SqlExecutor, "query">,
  table: string,
): Promise<Map<string, TableColumn>> {
  const rows = await database.query<{ name: string; base: string; typmod: number; sql_type: string }>(
    `SELECT a.attname AS name, t.typname AS base, a.atttypmod AS typmod,
            format_type(a.atttypid, a.atttypmod) AS sql_type
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table],
  );
  return new Map(rows.map((r) => [r.name, tableColumn(r)]));
}

function tableColumn(r: { name: string; base: string; typmod: number; sql_type: string }): TableColumn {
  const plain = (type: ColumnType, cast = "") => ({ type, text: (ref: string) => `(${ref})${cast}::text` });
  const kind = (() => {
    switch (r.base) {
      case "int2":
      case "int4":
      case "int8":
        return plain({ type: "int64" }, "::int8");
      case "float4":
      case "float8":
        return plain({ type: "float64" }, "::float8");
      case "numeric": {
        const typmod = Number(r.typmod);
        const precision = typmod >= 4 ? ((typmod - 4) >> 16) & 0xffff : 0;
        const scale = typmod >= 4 ? (typmod - 4) & 0xffff : 0;
        // Unconstrained or wider than an int64 holds: read as float64 (documented).
        return precision >= 1 && precision <= 18
          ? plain({ type: "decimal", precision, scale })
          : plain({ type: "float64" }, "::float8");
      }
      case "bool":
        return plain({ type: "boolean" });
      case "date":
        return {
          type: { type: "date" } as ColumnType,
          text: (ref: string) => `((${ref}) - date '1970-01-01')::text`,
        };
      case "timestamp":
      case "timestamptz":
        return {
          type: { type: "timestamp" } as ColumnType,
          text: (ref: string) => `floor(extract(epoch from ${ref}) * 1000000)::int8::text`,
        };
      default:
        return plain({ type: "string" });
    }
  })();
  return {
    name: r.name,
    sqlType: r.base === "varchar" || r.base === "bpchar" ? r.base : r.sql_type,
    ...kind,
  };
}

/** A value rendered by the table column's `text` expression, as `batchFromRows` takes it. */
function parseCell(text: string | null, field: Field): unknown {
  if (text === null) return null;
  switch (field.type) {
    case "int64":
    case "timestamp":
      return BigInt(text);
    case "float64":
    case "date":
      return Number(text);
    case "boolean":
      return text === "true";
    default:
      return text;
  }
}

/** The distinct non-null key texts of `column`, and for each row the index of its key (−1 for null). */
function distinctKeys(column: Column, n: number): { distinct: string[]; rowKey: Int32Array } {
  const index = new Map<string, number>();
  const distinct: string[] = [];
  const rowKey = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const value = cellValue(column, i);
    if (value === null) {
      rowKey[i] = -1;
      continue;
    }
    const text = String(value);
    let k = index.get(text);
    if (k === undefined) {
      k = distinct.length;
      distinct.push(text);
      index.set(text, k);
    }
    rowKey[i] = k;
  }
  return { distinct, rowKey };
}

/** FNV-1a, hex: a short, stable fingerprint (not a security boundary). */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
