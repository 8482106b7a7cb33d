/**
 * weir's own storage: runs, dead letters, checkpoints, the durable job queue, the audit log and
 * idempotency keys. One interface, two backends (PostgreSQL via postgres.js, PGlite embedded) that
 * share one body of SQL and one set of migrations.
 *
 * @module
 */

import { PipelineError, type WeirErrorOptions } from "../pipeline/errors.ts";
import type { SqlExecutor } from "./sql.ts";

/** A value that survives a round trip through `jsonb`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What a caller may do about a {@linkcode StoreError}. */
export type StoreErrorCode =
  /** The database cannot be reached or is shutting down; try again later. */
  | "unavailable"
  /** The row does not exist. */
  | "not_found"
  /** The row is in a state that forbids the change (e.g. updating a finished run). */
  | "conflict"
  /** The input was rejected (bad cursor, constraint violation). */
  | "invalid"
  /** Applied migrations do not match the migrations this build carries. */
  | "migration"
  /** Any other database error. */
  | "query";

/** A storage failure. `retriable` is true for outages, serialization failures and deadlocks. */
export class StoreError extends PipelineError {
  override name = "StoreError";
  /** What went wrong, for callers that branch on it (HTTP status, retry). */
  readonly code: StoreErrorCode;

  constructor(
    message: string,
    options: WeirErrorOptions & { component: string; code: StoreErrorCode; retriable?: boolean },
  ) {
    super(message, {
      cause: options.cause,
      component: options.component,
      retriable: options.retriable ?? false,
    });
    this.code = options.code;
  }
}

/** One link of an error chain, outermost first: what a dead letter or a failed job records. */
export interface ErrorLink {
  /** The error class name, e.g. `CsvSyntaxError`. */
  name: string;
  /** The error message. */
  message: string;
  /** Extra fields worth keeping (code, line, column, component), when the error had them. */
  details?: { [key: string]: JsonValue };
}

/** A page of results and the cursor for the next page (`null` on the last page). */
export interface Page<T> {
  /** The rows on this page, newest first. */
  items: T[];
  /** Pass as `cursor` to get the next page; `null` when there is none. */
  next: string | null;
}

/** Paging options shared by every `list`. */
export interface PageOptions {
  /** Rows per page, 1..1000. Default 50. */
  limit?: number;
  /** The `next` value of the previous page. */
  cursor?: string | null;
}

// ---------------------------------------------------------------------------------------------- runs

/**
 * Lifecycle of a run. `committed` and `failed` are final. `interrupted`: stopped before its end (a client
 * disconnected, a transient failure, Ctrl-C) but resumable, since a later attempt derives the same run id (an
 * idempotency key, a file's content) and continues it (back to `running`).
 */
export type RunStatus = "pending" | "running" | "interrupted" | "committed" | "failed";

/** One execution of a pipeline over one input (a request body, a file, a Kafka batch). */
export interface Run {
  /** `r_` followed by a time-ordered ULID. */
  id: string;
  /** The pipeline name from weir.yaml. */
  pipeline: string;
  /** Where the run is in its lifecycle. */
  status: RunStatus;
  /** The client's idempotency key, when the request carried one. */
  idempotencyKey: string | null;
  /** When the run was created. */
  startedAt: Date;
  /** When it committed or failed; `null` while it is active. */
  finishedAt: Date | null;
  /** Rows read from the source. */
  received: number;
  /** Rows that passed validation and reached the sinks. */
  accepted: number;
  /** Rows sent to the dead-letter queue. */
  rejected: number;
  /** Bytes read from the source (after decompression). */
  bytes: number;
  /** Milliseconds spent per stage, e.g. `{ parse: 12.5, sink_postgres: 40 }`. */
  timings: { [stage: string]: number };
  /** The quality report, when checks ran. */
  quality: JsonValue | null;
  /** Why the run failed, when it did. */
  error: JsonValue | null;
}

/** Input for {@linkcode RunStore.create}. */
export interface NewRun {
  /**
   * The run's id; default a new `r_` ULID. Ingests with an idempotency key derive it from the key, so that a
   * retry after a crash continues the same run and sinks recognise the chunks they already committed.
   */
  id?: string;
  /** The pipeline name. */
  pipeline: string;
  /** Initial status. Default `running`. */
  status?: "pending" | "running";
  /** The client's idempotency key. */
  idempotencyKey?: string | null;
}

/** Fields of an active run that may change; counts are absolute, `timings` are merged. */
export interface RunPatch {
  /** Move a pending or interrupted run to running (which clears its error), or a running one to interrupted. */
  status?: "running" | "interrupted";
  /** Rows read so far. */
  received?: number;
  /** Rows accepted so far. */
  accepted?: number;
  /** Rows rejected so far. */
  rejected?: number;
  /** Bytes read so far. */
  bytes?: number;
  /** Stage timings to merge into the stored ones. */
  timings?: { [stage: string]: number };
  /** The quality report (replaces the stored one). */
  quality?: JsonValue;
  /** Why it stopped (with `interrupted`) or failed. */
  error?: JsonValue;
}

/** Input for {@linkcode RunStore.finish}. */
export interface RunFinish extends Omit<RunPatch, "status"> {
  /** The final status. */
  status: "committed" | "failed";
}

/** Input for {@linkcode RunStore.record}: a run that was over before it was stored. */
export interface FinishedRun extends RunFinish {
  /** The run's id (`r_` ULID). */
  id: string;
  /** The pipeline name. */
  pipeline: string;
  /** When it started; it finished when it is recorded. */
  startedAt: Date;
}

/** Filter for {@linkcode RunStore.list}. */
export interface RunFilter extends PageOptions {
  /** Only this pipeline. */
  pipeline?: string;
  /** Only these statuses. */
  status?: RunStatus | RunStatus[];
  /** Only runs that carried this idempotency key. */
  idempotencyKey?: string;
}

/** Runs: one row per pipeline execution. */
export interface RunStore {
  /** Creates a run and returns it. */
  create(input: NewRun): Promise<Run>;
  /** Changes an active run; throws `not_found`, or `conflict` when the run already finished. */
  update(id: string, patch: RunPatch): Promise<Run>;
  /** Marks a run committed or failed and stamps `finishedAt`; throws `conflict` when already finished. */
  finish(id: string, result: RunFinish): Promise<Run>;
  /**
   * Stores runs that are already over, in one statement: the requests of a group commit, each its own run,
   * recorded in the transaction that acknowledges them.
   */
  record(runs: readonly FinishedRun[]): Promise<void>;
  /** The run, or `null`. */
  get(id: string): Promise<Run | null>;
  /** Runs newest first. */
  list(filter?: RunFilter): Promise<Page<Run>>;
}

// -------------------------------------------------------------------------------------- dead letters

/** Input for {@linkcode DeadLetterStore.add}: a rejected row or a failed batch. */
export interface NewDeadLetter {
  /** The pipeline name. */
  pipeline: string;
  /** The run it came from, when there is one. */
  runId?: string | null;
  /** The stage that rejected it, e.g. `validate`, `sink.postgres`. */
  stage: string;
  /** The original bytes, exactly as received. */
  original: Uint8Array;
  /** 1-based line of the row in the source, when it is a single row. */
  line?: number | null;
  /** Why it was rejected, outermost first. */
  errors: ErrorLink[];
  /** How many times it was tried. Default 1. */
  attempts?: number;
}

/** A dead letter without its bytes, as lists return it. */
export interface DeadLetterInfo {
  /** `dl_` followed by a time-ordered ULID. */
  id: string;
  /** The pipeline name. */
  pipeline: string;
  /** The run it came from. */
  runId: string | null;
  /** The stage that rejected it. */
  stage: string;
  /** Size of the original bytes. */
  size: number;
  /** 1-based line in the source. */
  line: number | null;
  /** Why it was rejected, outermost first. */
  errors: ErrorLink[];
  /** How many times it was tried. */
  attempts: number;
  /** When it was dead-lettered. */
  createdAt: Date;
  /** When it was last replayed; `null` if never. */
  replayedAt: Date | null;
}

/** A dead letter with its original bytes. */
export interface DeadLetter extends DeadLetterInfo {
  /** The original bytes, exactly as received. */
  original: Uint8Array;
}

/** Filter for {@linkcode DeadLetterStore.list}. */
export interface DeadLetterFilter extends PageOptions {
  /** Only this pipeline. */
  pipeline?: string;
  /** Only this run. */
  runId?: string;
  /** Only this stage. */
  stage?: string;
  /** `true`: only replayed ones; `false`: only those never replayed. */
  replayed?: boolean;
}

/** Options for {@linkcode DeadLetterStore.purge}. */
export interface DeadLetterPurge {
  /** Delete dead letters created before this instant. */
  before: Date;
  /** Only this pipeline. */
  pipeline?: string;
  /** Only those already replayed. */
  replayedOnly?: boolean;
}

/** The dead-letter queue: rejected rows and failed batches with their original bytes. */
export interface DeadLetterStore {
  /** Adds many in one transaction and returns their ids in input order. */
  add(items: readonly NewDeadLetter[]): Promise<string[]>;
  /** Dead letters newest first, without their bytes. */
  list(filter?: DeadLetterFilter): Promise<Page<DeadLetterInfo>>;
  /** One dead letter with its bytes, or `null`. */
  get(id: string): Promise<DeadLetter | null>;
  /** Stamps `replayedAt` and returns how many existed. */
  markReplayed(ids: readonly string[]): Promise<number>;
  /** Deletes old dead letters and returns how many. */
  purge(options: DeadLetterPurge): Promise<number>;
}

// --------------------------------------------------------------------------------------- checkpoints

/** Input for {@linkcode CheckpointStore.save}. */
export interface CheckpointInput {
  /** Source partition (a Kafka partition; 0 for unpartitioned sources). */
  partition: number;
  /** The next position to read, opaque to the store (Kafka: last processed offset + 1, as a string). */
  offset: string;
  /** Serialized window state that belongs with this offset. */
  state?: Uint8Array | null;
}

/** A stored checkpoint. */
export interface Checkpoint {
  /** The partition. */
  partition: number;
  /** The next position to read. */
  offset: string;
  /** The window state saved with it. */
  state: Uint8Array | null;
  /** When it was last saved. */
  updatedAt: Date;
}

/** Source positions and window state per consumer (e.g. `orders` or `orders/kafka-group`). */
export interface CheckpointStore {
  /** Upserts several partitions of one consumer atomically. */
  save(consumer: string, checkpoints: readonly CheckpointInput[]): Promise<void>;
  /** The consumer's checkpoints by partition ascending; all partitions unless some are named. */
  load(consumer: string, partitions?: readonly number[]): Promise<Checkpoint[]>;
}

// ---------------------------------------------------------------------------------------------- jobs

/** Lifecycle of a job. `succeeded` and `dead` are final. */
export type JobStatus = "queued" | "running" | "succeeded" | "dead";

/** A unit of background work. */
export interface Job {
  /** `j_` followed by a time-ordered ULID. */
  id: string;
  /** What to do, e.g. `dlq.replay`; workers dispatch on it. */
  kind: string;
  /** Arguments for the worker. */
  payload: JsonValue;
  /** Where the job is in its lifecycle. */
  status: JobStatus;
  /** Not claimed before this instant. */
  runAt: Date;
  /** Claims so far, including the current one. */
  attempts: number;
  /** After this many failed attempts the job is dead. */
  maxAttempts: number;
  /** The worker holding the lease. */
  lockedBy: string | null;
  /** When the lease ends; another worker may claim the job after it. */
  lockedUntil: Date | null;
  /** The last failure, outermost first. */
  lastError: ErrorLink[] | null;
  /** Enqueueing the same key again returns the existing job (e.g. one cron tick). */
  dedupeKey: string | null;
  /** When it was enqueued. */
  createdAt: Date;
  /** When it last changed. */
  updatedAt: Date;
}

/** Input for {@linkcode JobQueue.enqueue}. */
export interface NewJob {
  /** What to do. */
  kind: string;
  /** Arguments for the worker. Default `{}`. */
  payload?: JsonValue;
  /** Not before this instant. Default now. */
  runAt?: Date;
  /** Failed attempts before the job is dead. Default 5. */
  maxAttempts?: number;
  /** Makes enqueueing idempotent: the existing job with this key is returned instead. */
  dedupeKey?: string;
}

/** Options for {@linkcode JobQueue.claim}. */
export interface ClaimOptions {
  /** Most jobs to claim. Default 1. */
  limit?: number;
  /** How long the claimer owns each job. Default 30 s. */
  leaseMs?: number;
  /** Only these kinds. */
  kinds?: readonly string[];
}

/** Options for {@linkcode JobQueue.fail}. */
export interface FailOptions {
  /** Retry after this long instead of the default backoff (1 s doubling per attempt, at most 1 h). */
  retryInMs?: number;
}

/** A durable job queue with leases: a crashed worker's jobs are claimed again when their lease ends. */
export interface JobQueue {
  /** Adds a job, or returns the existing one with the same `dedupeKey`. */
  enqueue(job: NewJob): Promise<Job>;
  /** Leases up to `limit` due jobs to `workerId`; no job goes to two claimers. */
  claim(workerId: string, options?: ClaimOptions): Promise<Job[]>;
  /** Extends the lease; `false` when the worker no longer holds it. */
  renew(id: string, workerId: string, options: { leaseMs: number }): Promise<boolean>;
  /** Marks the job succeeded; `false` when the worker no longer holds it. */
  complete(id: string, workerId: string): Promise<boolean>;
  /** Records a failure and requeues with backoff, or marks it dead after `maxAttempts`; `null` when the worker no longer holds it. */
  fail(
    id: string,
    workerId: string,
    error: unknown,
    options?: FailOptions,
  ): Promise<"queued" | "dead" | null>;
  /** The job, or `null`. */
  get(id: string): Promise<Job | null>;
}

// --------------------------------------------------------------------------------------------- audit

/** Input for {@linkcode AuditLog.append}. */
export interface NewAuditEntry {
  /** Who did it (an API key id, `system`, a user). */
  actor: string;
  /** What they did, e.g. `dlq.replay`, `pipeline.update`. */
  action: string;
  /** What they did it to, e.g. `pipeline:orders`. */
  target?: string | null;
  /** Anything else worth keeping. */
  details?: { [key: string]: JsonValue };
}

/** A stored audit entry. */
export interface AuditEntry {
  /** Increasing sequence number. */
  id: number;
  /** When it happened. */
  at: Date;
  /** Who did it. */
  actor: string;
  /** What they did. */
  action: string;
  /** What they did it to. */
  target: string | null;
  /** Anything else worth keeping. */
  details: { [key: string]: JsonValue };
}

/** Filter for {@linkcode AuditLog.list}. */
export interface AuditFilter extends PageOptions {
  /** Only this actor. */
  actor?: string;
  /** Only this action. */
  action?: string;
  /** Only this target. */
  target?: string;
  /** Only entries at or after this instant. */
  since?: Date;
}

/** An append-only log of who did what; the database rejects updates and deletes. */
export interface AuditLog {
  /** Appends an entry and returns it. */
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Entries newest first. */
  list(filter?: AuditFilter): Promise<Page<AuditEntry>>;
}

// --------------------------------------------------------------------------------------- idempotency

/** Names one idempotency key; keys are scoped to a pipeline. */
export interface IdempotencyRef {
  /** The pipeline name. */
  pipeline: string;
  /** The client's `idempotency-key`. */
  key: string;
}

/** Input for {@linkcode IdempotencyStore.begin}. */
export interface IdempotencyBeginInput extends IdempotencyRef {
  /** A hash of the request body; the same key with another body is a conflict. */
  bodyHash: string;
  /** How long a finished key is remembered. Default 24 h. */
  ttlMs?: number;
  /** How long an unfinished key blocks retries before a retry may take it over (the first request crashed). Default 10 min. */
  leaseMs?: number;
}

/** What {@linkcode IdempotencyStore.begin} decided. */
export type IdempotencyBegin =
  /** First time (or the earlier attempt expired or was abandoned): process the request. */
  | { state: "new" }
  /** Another request with this key is being processed: answer 409 and let the client retry. */
  | { state: "in_progress" }
  /** Already processed: answer with the stored response. */
  | { state: "done"; response: JsonValue }
  /** The key was used with a different body: answer 422. */
  | { state: "conflict" };

/** Idempotency keys: makes a retried request a no-op. */
export interface IdempotencyStore {
  /** Claims the key atomically; exactly one of several concurrent callers gets `new`. */
  begin(input: IdempotencyBeginInput): Promise<IdempotencyBegin>;
  /** Stores the response of a processed request; `false` when the key is not in progress. */
  complete(ref: IdempotencyRef, response: JsonValue): Promise<boolean>;
  /** Extends the lease of a key in progress by `leaseMs` from now; `false` when it is not in progress. */
  renew(ref: IdempotencyRef, leaseMs: number): Promise<boolean>;
  /** Releases an unfinished key so the client's retry is processed; `false` when it was not in progress. */
  abandon(ref: IdempotencyRef): Promise<boolean>;
  /** Deletes expired keys and returns how many. */
  purgeExpired(): Promise<number>;
}

// --------------------------------------------------------------------------------------------- store

/** The store bound to one transaction, plus raw SQL for sinks that commit in the same transaction. */
export interface StoreTx {
  /** Runs, bound to the transaction. */
  readonly runs: RunStore;
  /** Dead letters, bound to the transaction. */
  readonly deadLetters: DeadLetterStore;
  /** Checkpoints, bound to the transaction. */
  readonly checkpoints: CheckpointStore;
  /** Jobs, bound to the transaction. */
  readonly jobs: JobQueue;
  /** The audit log, bound to the transaction. */
  readonly audit: AuditLog;
  /** Idempotency keys, bound to the transaction. */
  readonly idempotency: IdempotencyStore;
  /** Raw SQL in the same transaction. */
  readonly sql: SqlExecutor;
}

/** Options for {@linkcode Store.transaction}. */
export interface TransactionOptions {
  /**
   * Wait for the commit to reach disk. Default true. False (`synchronous_commit = off`) saves an fsync for
   * bookkeeping that only speeds up a retry, like a chunk's checkpoint: a crash may lose the last such commits,
   * never a flushed commit after them (the log is written in order), and losing one only repeats work that the
   * sinks recognise. Anything acknowledged to a client must be followed by a flushed commit before the answer.
   */
  flush?: boolean;
}

/** weir's own storage. */
export interface Store extends Omit<StoreTx, "sql"> {
  /** The driver behind it, for logs and `/readyz` (matches `Dependency.kind`). */
  readonly kind: "postgres" | "pglite";
  /**
   * Runs `fn` in one transaction: it commits when `fn` resolves and rolls back when it throws.
   * A transaction inside `fn` joins this one. Use only `tx` inside `fn`: PGlite has a single
   * connection, so a call on the outer store would wait for the transaction to end, forever.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Resolves when the database answers; throws a {@linkcode StoreError} otherwise. */
  healthcheck(signal?: AbortSignal): Promise<void>;
  /** Closes connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * Flattens an error and its `cause` chain into JSON, outermost first, for dead letters and jobs.
 *
 * @example
 * ```ts
 * import { errorChain } from "./store.ts";
 * const chain = errorChain(new Error("Sink failed", { cause: new TypeError("Bad row") }));
 * if (chain.length !== 2 || chain[1].name !== "TypeError") throw new Error("expected two links");
 * ```
 */
export function errorChain(error: unknown): ErrorLink[] {
  const chain: ErrorLink[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  // Bounded because causes can be cyclic or absurdly deep.
  while (current !== undefined && current !== null && !seen.has(current) && chain.length < 16) {
    seen.add(current);
    if (current instanceof Error) {
      const details: { [key: string]: JsonValue } = {};
      for (const field of ["code", "component", "retriable", "line", "column", "reason", "status", "path"]) {
        const value = (current as unknown as Record<string, unknown>)[field];
        if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
          details[field] = value;
        }
      }
      chain.push({
        name: current.name,
        message: current.message,
        ...(Object.keys(details).length > 0 ? { details } : {}),
      });
      current = current.cause;
    } else {
      chain.push({ name: "Error", message: typeof current === "string" ? current : describe(current) });
      break;
    }
  }
  return chain;
}

// Thrown non-errors can be anything, including values JSON.stringify rejects (bigint, cycles).
function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
