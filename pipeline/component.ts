/**
 * The contract every pipeline component follows: a component is data (`name`, `summary`, a valibot config
 * schema) plus `build(config, ctx)`. The registry (pipeline/registry.ts) lists every spec explicitly; nothing
 * registers itself by side effect. Reference docs are generated from these schemas.
 *
 * @module
 */
import type * as v from "valibot";
import type { Redis } from "@upstash/redis";
import type { Kafka } from "kafkajs";
import type { Batch, Field, Schema } from "./batch.ts";
import type { Logger } from "../observability/logger.ts";
import type { Telemetry } from "../observability/metrics.ts";
import type { FinishedRun, Store } from "../storage/store.ts";
import type { SqlExecutor } from "../storage/sql.ts";
import type { KernelPool } from "../workers/pool.ts";

/** A config schema: a valibot `strictObject` with defaults and a `description` on every field. */
// deno-lint-ignore no-explicit-any -- valibot's schema type needs its issue type open here
export type ConfigSchema<C> = v.GenericSchema<unknown, C, any>;

/** What `COPY … FROM STDIN` reads: one buffer, or chunks produced as it goes. */
export type CopyData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** The database sinks land rows in: PostgreSQL from `DATABASE_URL`, or the embedded PGlite. */
export interface SinkDatabase extends SqlExecutor {
  readonly kind: "postgres" | "pglite";
  /** Streams `data` (bytes in the statement's format) into `statement`, a `COPY … FROM STDIN (…)`. */
  copyFrom(statement: string, data: CopyData): Promise<void>;
  /** Runs `fn` in one transaction; COPY inside it commits or rolls back with everything else. */
  transaction<T>(fn: (tx: SinkDatabase) => Promise<T>): Promise<T>;
}

/** What every component is built with. Components create no globals: all they use comes from here. */
export interface ComponentContext {
  /** The pipeline this component belongs to. */
  pipeline: string;
  logger: Logger;
  telemetry: Telemetry;
  pool: KernelPool;
  store: Store;
  database: SinkDatabase;
  /** Present when `UPSTASH_REDIS_REST_URL` is configured. */
  redis?: Redis;
  /** Present when `KAFKA_BROKERS` is configured. */
  kafka?: Kafka;
}

/** A pipeline's declared schema: the typed fields in order plus the key that makes writes idempotent. */
export interface PipelineSchema extends Schema {
  /** Column names of the key (may be empty: append-only pipelines). */
  readonly key: readonly string[];
}

/** Where one write belongs: sinks make writes idempotent per `(runId, sequence)`. */
export interface WriteContext {
  /** The run this batch belongs to. */
  runId: string;
  /** The batch's 0-based position in its run. */
  sequence: number;
  signal: AbortSignal;
  /**
   * True when no earlier attempt can have written this `(runId, sequence)`: the run was made for this write and
   * this is its first attempt. A sink may then skip looking for what an earlier attempt committed.
   */
  fresh?: boolean;
  /**
   * Finished runs to record in weir's run table in the same commit as this write's rows (a group commit's
   * requests), so that answering them needs no second commit. Only given to a sink whose `recordsRuns` is true;
   * a write that commits nothing (its chunk was already committed) records nothing.
   */
  runs?: readonly FinishedRun[];
}

/** A destination for batches. */
export interface Sink {
  /**
   * Writes `batch` and resolves once it is committed (durable in the destination). Writing the same
   * `(runId, sequence)` twice leaves one copy: a retry after a crash duplicates nothing.
   */
  write(batch: Batch, context: WriteContext): Promise<void>;
  /** True when the sink commits into weir's own database and records `WriteContext.runs` with its rows. */
  readonly recordsRuns?: boolean;
  /** Resolves when the destination is usable. */
  healthcheck(signal: AbortSignal): Promise<void>;
  /** Flushes and releases connections. */
  close(): Promise<void>;
}

/** A sink type: config schema, build, and the one function that says whether its errors may be retried. */
export interface SinkSpec<C = unknown> {
  readonly kind: "sink";
  /** The protocol noun, e.g. `postgres`; the key under `sinks:` in weir.yaml. */
  readonly name: string;
  readonly summary: string;
  readonly config: ConfigSchema<C>;
  build(config: C, ctx: ComponentContext & { schema: PipelineSchema }): Promise<Sink>;
  /** Whether `error`, raised by this sink's `write`, may succeed when retried (the runner retries). */
  isRetriable(error: unknown): boolean;
  /**
   * True when a built sink keeps nothing of a batch once `write` resolved (it encodes what it sends and awaits
   * it): the runner may then reuse the batch's memory for later chunks. Unset means it may keep batches.
   */
  readonly keepsNoBatch?: boolean;
}

/** A built transform: its output schema is known before any data flows. */
export interface Transform {
  /** The schema of the batches `apply` returns. */
  readonly schema: Schema;
  /** Transforms one batch; `lines` are carried for the rows that remain. */
  apply(batch: Batch, signal: AbortSignal): Batch | Promise<Batch>;
}

/** A transform type. `build` checks the config against the input schema and fails with a `ConfigError`. */
export interface TransformSpec<C = unknown> {
  readonly kind: "transform";
  /** A verb, e.g. `derive`; the key in a `transforms:` entry. */
  readonly name: string;
  readonly summary: string;
  readonly config: ConfigSchema<C>;
  build(config: C, ctx: ComponentContext & { input: Schema }): Transform | Promise<Transform>;
  /**
   * True when a built transform keeps nothing of the batches it was given between calls (its output may share
   * their arrays: the runner is done with both before it reuses them). Unset means it may keep batches.
   */
  readonly keepsNoBatch?: boolean;
}

/** A named field, for specs that add columns. */
export type { Field };
