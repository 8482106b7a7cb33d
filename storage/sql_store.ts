/**
 * The one implementation of {@linkcode Store}, written against {@linkcode SqlExecutor}. Every query
 * lives here, once; postgres.ts and embedded.ts only adapt a driver.
 *
 * Conventions: JSON goes in as text and is cast (`$1::text::jsonb`); optional filters are
 * `($n::type IS NULL OR column = $n)` so each query is one static string; values coming back are
 * normalized because the drivers differ (postgres.js returns int8 as string and bytea as Buffer,
 * PGlite returns int8 as number or bigint).
 *
 * @module
 */

import { newId } from "./ids.ts";
import type { SqlExecutor, SqlParam, SqlRow } from "./sql.ts";
import {
  type AuditEntry,
  type AuditFilter,
  type AuditLog,
  type Checkpoint,
  type CheckpointInput,
  type CheckpointStore,
  type ClaimOptions,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterInfo,
  type DeadLetterPurge,
  type DeadLetterStore,
  errorChain,
  type ErrorLink,
  type FailOptions,
  type FinishedRun,
  type IdempotencyBegin,
  type IdempotencyBeginInput,
  type IdempotencyRef,
  type IdempotencyStore,
  type Job,
  type JobQueue,
  type JobStatus,
  type JsonValue,
  type NewAuditEntry,
  type NewDeadLetter,
  type NewJob,
  type NewRun,
  type Page,
  type Run,
  type RunFilter,
  type RunFinish,
  type RunPatch,
  type RunStatus,
  type RunStore,
  type Store,
  StoreError,
  type StoreTx,
  type TransactionOptions,
} from "./store.ts";

const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;
const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const DEFAULT_IDEMPOTENCY_LEASE_MS = 10 * 60 * 1000;
// Rows per multi-row INSERT: 8 parameters each stays far below PostgreSQL's 65535-parameter limit.
const INSERT_CHUNK = 1000;
// Ids are `<prefix>_<ULID>`; a cursor is the last id of a page.
const ID_CURSOR = /^[a-z]{1,4}_[0-9A-HJKMNP-TV-Z]{26}$/;
// Run ids may also be derived (a key's or a file's hash) or given by the caller.
const RUN_CURSOR = /^r_[0-9A-Za-z_]{1,64}$/;

/** How the driver adapters describe themselves to {@linkcode SqlStore}. */
export interface SqlStoreOptions {
  /** `postgres` or `pglite`. */
  kind: Store["kind"];
  /** Names the store in errors, e.g. `storage.postgres`. */
  component: string;
  /** Releases the driver's resources. */
  close: () => Promise<void>;
}

/** The store bound to one executor: the whole store, or one transaction of it. */
class SqlStoreTx implements StoreTx {
  readonly runs: RunStore;
  readonly deadLetters: DeadLetterStore;
  readonly checkpoints: CheckpointStore;
  readonly jobs: JobQueue;
  readonly audit: AuditLog;
  readonly idempotency: IdempotencyStore;
  readonly sql: SqlExecutor;

  constructor(sql: SqlExecutor, component: string) {
    this.sql = sql;
    this.runs = new SqlRuns(sql, component);
    this.deadLetters = new SqlDeadLetters(sql, component);
    this.checkpoints = new SqlCheckpoints(sql, component);
    this.jobs = new SqlJobs(sql, component);
    this.audit = new SqlAudit(sql, component);
    this.idempotency = new SqlIdempotency(sql);
  }
}

/** {@linkcode Store} over any {@linkcode SqlExecutor}; the database must already be migrated. */
export class SqlStore extends SqlStoreTx implements Store {
  readonly kind: Store["kind"];
  #options: SqlStoreOptions;
  #closing: Promise<void> | undefined;

  constructor(sql: SqlExecutor, options: SqlStoreOptions) {
    super(sql, options.component);
    this.kind = options.kind;
    this.#options = options;
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.sql.transaction(async (tx) => {
      if (options.flush === false) await tx.query("SET LOCAL synchronous_commit = off");
      return fn(new SqlStoreTx(tx, this.#options.component));
    });
  }

  /** Resolves when `SELECT 1` answers before `signal` aborts. */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    const component = this.#options.component;
    if (signal?.aborted) throw aborted(component, signal);
    let onAbort = () => {};
    const abort = new Promise<never>((_, reject) => {
      onAbort = () => reject(aborted(component, signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([this.sql.query("SELECT 1 AS ok"), abort]);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Closes the driver once; later calls wait for the same close. */
  close(): Promise<void> {
    this.#closing ??= this.#options.close();
    return this.#closing;
  }
}

function aborted(component: string, signal: AbortSignal): StoreError {
  return new StoreError("Storage health check aborted", {
    component,
    code: "unavailable",
    retriable: true,
    cause: signal.reason,
  });
}

// ---------------------------------------------------------------------------------------------- runs

const RUN_UPDATE = `
UPDATE weir.runs SET
  status        = COALESCE($2, status),
  finished_at   = CASE WHEN $2 IN ('committed', 'failed') THEN now() ELSE finished_at END,
  received_rows = COALESCE($3, received_rows),
  accepted_rows = COALESCE($4, accepted_rows),
  rejected_rows = COALESCE($5, rejected_rows),
  bytes         = COALESCE($6, bytes),
  timings       = timings || COALESCE($7::text::jsonb, '{}'),
  quality       = COALESCE($8::text::jsonb, quality),
  -- A run that runs again (a resumed interrupted one) has no error until it gets a new one.
  error         = CASE WHEN $2 = 'running' THEN NULL ELSE COALESCE($9::text::jsonb, error) END
WHERE id = $1 AND finished_at IS NULL
RETURNING *`;

/**
 * The statement recording finished runs from the JSON parameter `$param` (see {@linkcode recordedRunsJson}),
 * with `where` appended to its SELECT: one statement for any number of runs, passed as one JSON array (cheaper
 * to build and to bind than an array per column), so the statement text (and its cached plan) is fixed. A sink
 * writing into weir's own database uses it too, to record a group commit's runs in the commit of their rows.
 */
export function recordRunsSql(param: number, where = ""): string {
  return `INSERT INTO weir.runs (id, pipeline, status, started_at, finished_at, received_rows, accepted_rows,
                       rejected_rows, bytes, timings, quality, error)
SELECT id, pipeline, status, started_at, now(), received, accepted, rejected, bytes, timings, quality, error
FROM jsonb_to_recordset($${param}::text::jsonb) AS r(id text, pipeline text, status text, started_at timestamptz,
  received bigint, accepted bigint, rejected bigint, bytes bigint, timings jsonb, quality jsonb, error jsonb)
${where}`;
}

/** The parameter of {@linkcode recordRunsSql} for `runs`. */
export function recordedRunsJson(runs: readonly FinishedRun[]): string {
  return JSON.stringify(runs.map((r) => ({
    id: r.id,
    pipeline: r.pipeline,
    status: r.status,
    started_at: r.startedAt.toISOString(),
    received: r.received ?? 0,
    accepted: r.accepted ?? 0,
    rejected: r.rejected ?? 0,
    bytes: r.bytes ?? 0,
    timings: r.timings ?? {},
    quality: r.quality ?? null,
    error: r.error ?? null,
  })));
}

/** {@linkcode recordRunsSql} with the runs as `$1`: `RunStore.record`, or a sink recording them with its rows. */
export const RECORD_RUNS = recordRunsSql(1);

class SqlRuns implements RunStore {
  #sql: SqlExecutor;
  #component: string;

  constructor(sql: SqlExecutor, component: string) {
    this.#sql = sql;
    this.#component = component;
  }

  async create(input: NewRun): Promise<Run> {
    const [row] = await this.#sql.query(
      "INSERT INTO weir.runs (id, pipeline, status, idempotency_key) VALUES ($1, $2, $3, $4) RETURNING *",
      [input.id ?? newId("r"), input.pipeline, input.status ?? "running", input.idempotencyKey ?? null],
    );
    return toRun(row);
  }

  update(id: string, patch: RunPatch): Promise<Run> {
    return this.#change(id, patch.status ?? null, patch, patch.error);
  }

  finish(id: string, result: RunFinish): Promise<Run> {
    return this.#change(id, result.status, result, result.error);
  }

  async record(runs: readonly FinishedRun[]): Promise<void> {
    if (runs.length === 0) return;
    await this.#sql.query(RECORD_RUNS, [recordedRunsJson(runs)]);
  }

  async #change(
    id: string,
    status: string | null,
    patch: Omit<RunPatch, "status">,
    error: JsonValue | undefined,
  ) {
    const [row] = await this.#sql.query(RUN_UPDATE, [
      id,
      status,
      patch.received ?? null,
      patch.accepted ?? null,
      patch.rejected ?? null,
      patch.bytes ?? null,
      jsonOrNull(patch.timings),
      jsonOrNull(patch.quality),
      jsonOrNull(error),
    ]);
    if (row) return toRun(row);
    const exists = await this.#sql.query("SELECT status FROM weir.runs WHERE id = $1", [id]);
    if (exists.length === 0) {
      throw new StoreError(`Run not found: ${id}`, { component: this.#component, code: "not_found" });
    }
    throw new StoreError(`Run already finished: ${id} is ${exists[0].status}`, {
      component: this.#component,
      code: "conflict",
    });
  }

  async get(id: string): Promise<Run | null> {
    const [row] = await this.#sql.query("SELECT * FROM weir.runs WHERE id = $1", [id]);
    return row ? toRun(row) : null;
  }

  async list(filter: RunFilter = {}): Promise<Page<Run>> {
    const limit = pageLimit(filter.limit, this.#component);
    const statuses = filter.status === undefined ? null : [filter.status].flat();
    const rows = await this.#sql.query(
      `SELECT * FROM weir.runs
       WHERE ($1::text IS NULL OR pipeline = $1)
         AND ($2::text[] IS NULL OR status = ANY($2::text[]))
         AND ($3::text IS NULL OR idempotency_key = $3)
         AND ($4::text IS NULL OR (started_at, id) < (SELECT started_at, id FROM weir.runs WHERE id = $4))
       ORDER BY started_at DESC, id DESC
       LIMIT $5`,
      [
        filter.pipeline ?? null,
        statuses,
        filter.idempotencyKey ?? null,
        idCursor(filter.cursor, this.#component, RUN_CURSOR),
        limit + 1,
      ],
    );
    return page(rows.map(toRun), limit, (run) => run.id);
  }
}

function toRun(row: SqlRow): Run {
  return {
    id: String(row.id),
    pipeline: String(row.pipeline),
    status: row.status as RunStatus,
    idempotencyKey: stringOrNull(row.idempotency_key),
    startedAt: toDate(row.started_at),
    finishedAt: dateOrNull(row.finished_at),
    received: toNumber(row.received_rows),
    accepted: toNumber(row.accepted_rows),
    rejected: toNumber(row.rejected_rows),
    bytes: toNumber(row.bytes),
    timings: row.timings as Run["timings"],
    quality: (row.quality ?? null) as JsonValue | null,
    error: (row.error ?? null) as JsonValue | null,
  };
}

// -------------------------------------------------------------------------------------- dead letters

const DEAD_LETTER_INFO =
  "id, pipeline, run_id, stage, octet_length(original) AS size, line, errors, attempts, created_at, replayed_at";

class SqlDeadLetters implements DeadLetterStore {
  #sql: SqlExecutor;
  #component: string;

  constructor(sql: SqlExecutor, component: string) {
    this.#sql = sql;
    this.#component = component;
  }

  async add(items: readonly NewDeadLetter[]): Promise<string[]> {
    if (items.length === 0) return [];
    const ids = items.map(() => newId("dl"));
    await this.#sql.transaction(async (tx) => {
      for (let start = 0; start < items.length; start += INSERT_CHUNK) {
        const chunk = items.slice(start, start + INSERT_CHUNK);
        const params: SqlParam[] = [];
        for (const [i, item] of chunk.entries()) {
          params.push(
            ids[start + i],
            item.pipeline,
            item.runId ?? null,
            item.stage,
            item.original,
            item.line ?? null,
            JSON.stringify(item.errors),
            item.attempts ?? 1,
          );
        }
        await tx.query(
          `INSERT INTO weir.dead_letters (id, pipeline, run_id, stage, original, line, errors, attempts)
           VALUES ${placeholders(chunk.length, 8, { 6: "::text::jsonb" })}`,
          params,
          { prepare: false },
        );
      }
    });
    return ids;
  }

  async list(filter: DeadLetterFilter = {}): Promise<Page<DeadLetterInfo>> {
    const limit = pageLimit(filter.limit, this.#component);
    const rows = await this.#sql.query(
      `SELECT ${DEAD_LETTER_INFO} FROM weir.dead_letters
       WHERE ($1::text IS NULL OR pipeline = $1)
         AND ($2::text IS NULL OR run_id = $2)
         AND ($3::text IS NULL OR stage = $3)
         AND ($4::boolean IS NULL OR (replayed_at IS NOT NULL) = $4)
         AND ($5::text IS NULL OR id < $5)
       ORDER BY id DESC
       LIMIT $6`,
      [
        filter.pipeline ?? null,
        filter.runId ?? null,
        filter.stage ?? null,
        filter.replayed ?? null,
        idCursor(filter.cursor, this.#component),
        limit + 1,
      ],
    );
    return page(rows.map(toDeadLetterInfo), limit, (d) => d.id);
  }

  async get(id: string): Promise<DeadLetter | null> {
    const [row] = await this.#sql.query(
      `SELECT ${DEAD_LETTER_INFO}, original FROM weir.dead_letters WHERE id = $1`,
      [id],
    );
    return row ? { ...toDeadLetterInfo(row), original: toBytes(row.original) } : null;
  }

  async markReplayed(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const [row] = await this.#sql.query(
      `WITH changed AS (
         UPDATE weir.dead_letters SET replayed_at = now() WHERE id = ANY($1::text[]) RETURNING 1
       ) SELECT count(*) AS n FROM changed`,
      [ids],
    );
    return toNumber(row.n);
  }

  async purge(options: DeadLetterPurge): Promise<number> {
    const [row] = await this.#sql.query(
      `WITH gone AS (
         DELETE FROM weir.dead_letters
         WHERE created_at < $1
           AND ($2::text IS NULL OR pipeline = $2)
           AND (NOT $3 OR replayed_at IS NOT NULL)
         RETURNING 1
       ) SELECT count(*) AS n FROM gone`,
      [options.before, options.pipeline ?? null, options.replayedOnly ?? false],
    );
    return toNumber(row.n);
  }
}

function toDeadLetterInfo(row: SqlRow): DeadLetterInfo {
  return {
    id: String(row.id),
    pipeline: String(row.pipeline),
    runId: stringOrNull(row.run_id),
    stage: String(row.stage),
    size: toNumber(row.size),
    line: row.line === null ? null : toNumber(row.line),
    errors: row.errors as ErrorLink[],
    attempts: toNumber(row.attempts),
    createdAt: toDate(row.created_at),
    replayedAt: dateOrNull(row.replayed_at),
  };
}

// --------------------------------------------------------------------------------------- checkpoints

class SqlCheckpoints implements CheckpointStore {
  #sql: SqlExecutor;
  #component: string;

  constructor(sql: SqlExecutor, component: string) {
    this.#sql = sql;
    this.#component = component;
  }

  async save(consumer: string, checkpoints: readonly CheckpointInput[]): Promise<void> {
    if (checkpoints.length === 0) return;
    // One statement cannot upsert the same row twice, and a repeated partition is a caller bug.
    if (new Set(checkpoints.map((c) => c.partition)).size !== checkpoints.length) {
      throw new StoreError(`Checkpoint names a partition twice: ${consumer}`, {
        component: this.#component,
        code: "invalid",
      });
    }
    const params: SqlParam[] = [];
    for (const c of checkpoints) params.push(consumer, c.partition, c.offset, c.state ?? null);
    await this.#sql.query(
      `INSERT INTO weir.checkpoints (consumer, partition, next_offset, state)
       VALUES ${placeholders(checkpoints.length, 4)}
       ON CONFLICT (consumer, partition) DO UPDATE
         SET next_offset = excluded.next_offset, state = excluded.state, updated_at = now()`,
      params,
      { prepare: checkpoints.length === 1 },
    );
  }

  async load(consumer: string, partitions?: readonly number[]): Promise<Checkpoint[]> {
    const rows = await this.#sql.query(
      `SELECT partition, next_offset, state, updated_at FROM weir.checkpoints
       WHERE consumer = $1 AND ($2::int[] IS NULL OR partition = ANY($2::int[]))
       ORDER BY partition`,
      [consumer, partitions ?? null],
    );
    return rows.map((row) => ({
      partition: toNumber(row.partition),
      offset: String(row.next_offset),
      state: row.state === null ? null : toBytes(row.state),
      updatedAt: toDate(row.updated_at),
    }));
  }
}

// ---------------------------------------------------------------------------------------------- jobs

const LEASE_EXPIRED = JSON.stringify([{
  name: "LeaseExpired",
  message: "Job lease expired before it finished",
}]);

class SqlJobs implements JobQueue {
  #sql: SqlExecutor;
  #component: string;

  constructor(sql: SqlExecutor, component: string) {
    this.#sql = sql;
    this.#component = component;
  }

  async enqueue(job: NewJob): Promise<Job> {
    const [row] = await this.#sql.query(
      `INSERT INTO weir.jobs (id, kind, payload, run_at, max_attempts, dedupe_key)
       VALUES ($1, $2, $3::text::jsonb, COALESCE($4::timestamptz, now()), $5, $6)
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING *`,
      [
        newId("j"),
        job.kind,
        JSON.stringify(job.payload ?? {}),
        job.runAt ?? null,
        job.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        job.dedupeKey ?? null,
      ],
    );
    if (row) return toJob(row);
    // The insert waited for any concurrent insert of this key to commit, so it is visible now.
    const [existing] = await this.#sql.query("SELECT * FROM weir.jobs WHERE dedupe_key = $1", [
      job.dedupeKey!,
    ]);
    if (!existing) {
      throw new StoreError(`Job with this dedupe key vanished: ${job.dedupeKey}`, {
        component: this.#component,
        code: "conflict",
        retriable: true,
      });
    }
    return toJob(existing);
  }

  async claim(workerId: string, options: ClaimOptions = {}): Promise<Job[]> {
    const limit = options.limit ?? 1;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new StoreError(`Claim limit must be 1 to ${MAX_PAGE}: ${limit}`, {
        component: this.#component,
        code: "invalid",
      });
    }
    // Leases that ran out belong to crashed or stalled workers: requeue those with attempts left,
    // bury the rest. Separate from the claim so the claim itself walks one ordered index.
    await this.#sql.query(
      `UPDATE weir.jobs SET
         status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
         last_error = $1::text::jsonb, locked_by = NULL, locked_until = NULL, updated_at = now()
       WHERE id IN (
         SELECT id FROM weir.jobs WHERE status = 'running' AND locked_until < now() FOR UPDATE SKIP LOCKED
       )`,
      [LEASE_EXPIRED],
    );
    const rows = await this.#sql.query(
      `WITH due AS (
         SELECT id FROM weir.jobs
         WHERE status = 'queued' AND run_at <= now() AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
         ORDER BY run_at, id
         LIMIT $3
         FOR UPDATE SKIP LOCKED
       )
       UPDATE weir.jobs AS j SET
         status = 'running', locked_by = $1, attempts = j.attempts + 1, updated_at = now(),
         locked_until = now() + $4::float8 * interval '1 millisecond'
       FROM due WHERE j.id = due.id
       RETURNING j.*`,
      [workerId, options.kinds ?? null, limit, options.leaseMs ?? DEFAULT_LEASE_MS],
    );
    return rows.map(toJob).sort((a, b) => a.runAt.getTime() - b.runAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  async renew(id: string, workerId: string, options: { leaseMs: number }): Promise<boolean> {
    const rows = await this.#sql.query(
      `UPDATE weir.jobs SET locked_until = now() + $3::float8 * interval '1 millisecond', updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND status = 'running'
       RETURNING id`,
      [id, workerId, options.leaseMs],
    );
    return rows.length > 0;
  }

  async complete(id: string, workerId: string): Promise<boolean> {
    // locked_by stays, as the record of who finished it.
    const rows = await this.#sql.query(
      `UPDATE weir.jobs SET status = 'succeeded', locked_until = NULL, updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND status = 'running'
       RETURNING id`,
      [id, workerId],
    );
    return rows.length > 0;
  }

  async fail(
    id: string,
    workerId: string,
    error: unknown,
    options: FailOptions = {},
  ): Promise<"queued" | "dead" | null> {
    // Default backoff 1 s, 2 s, 4 s … capped at 1 h; the exponent is capped so power() cannot overflow.
    const rows = await this.#sql.query(
      `UPDATE weir.jobs SET
         status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
         run_at = CASE WHEN attempts >= max_attempts THEN run_at
                  ELSE now() + COALESCE($4::float8, least(1000 * power(2, least(attempts - 1, 30)), 3600000))
                               * interval '1 millisecond' END,
         last_error = $3::text::jsonb, locked_until = NULL, updated_at = now()
       WHERE id = $1 AND locked_by = $2 AND status = 'running'
       RETURNING status`,
      [id, workerId, JSON.stringify(errorChain(error)), options.retryInMs ?? null],
    );
    return rows.length > 0 ? rows[0].status as "queued" | "dead" : null;
  }

  async get(id: string): Promise<Job | null> {
    const [row] = await this.#sql.query("SELECT * FROM weir.jobs WHERE id = $1", [id]);
    return row ? toJob(row) : null;
  }
}

function toJob(row: SqlRow): Job {
  return {
    id: String(row.id),
    kind: String(row.kind),
    payload: row.payload as JsonValue,
    status: row.status as JobStatus,
    runAt: toDate(row.run_at),
    attempts: toNumber(row.attempts),
    maxAttempts: toNumber(row.max_attempts),
    lockedBy: stringOrNull(row.locked_by),
    lockedUntil: dateOrNull(row.locked_until),
    lastError: (row.last_error ?? null) as ErrorLink[] | null,
    dedupeKey: stringOrNull(row.dedupe_key),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

// --------------------------------------------------------------------------------------------- audit

class SqlAudit implements AuditLog {
  #sql: SqlExecutor;
  #component: string;

  constructor(sql: SqlExecutor, component: string) {
    this.#sql = sql;
    this.#component = component;
  }

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    const [row] = await this.#sql.query(
      `INSERT INTO weir.audit (actor, action, target, details) VALUES ($1, $2, $3, $4::text::jsonb) RETURNING *`,
      [entry.actor, entry.action, entry.target ?? null, JSON.stringify(entry.details ?? {})],
    );
    return toAuditEntry(row);
  }

  async list(filter: AuditFilter = {}): Promise<Page<AuditEntry>> {
    const limit = pageLimit(filter.limit, this.#component);
    const cursor = filter.cursor ?? null;
    if (cursor !== null && !/^[1-9][0-9]{0,17}$/.test(cursor)) throw badCursor(cursor, this.#component);
    const rows = await this.#sql.query(
      `SELECT * FROM weir.audit
       WHERE ($1::text IS NULL OR actor = $1)
         AND ($2::text IS NULL OR action = $2)
         AND ($3::text IS NULL OR target = $3)
         AND ($4::timestamptz IS NULL OR at >= $4)
         AND ($5::bigint IS NULL OR id < $5)
       ORDER BY id DESC
       LIMIT $6`,
      [
        filter.actor ?? null,
        filter.action ?? null,
        filter.target ?? null,
        filter.since ?? null,
        cursor,
        limit + 1,
      ],
    );
    return page(rows.map(toAuditEntry), limit, (e) => String(e.id));
  }
}

function toAuditEntry(row: SqlRow): AuditEntry {
  return {
    id: toNumber(row.id),
    at: toDate(row.at),
    actor: String(row.actor),
    action: String(row.action),
    target: stringOrNull(row.target),
    details: row.details as AuditEntry["details"],
  };
}

// --------------------------------------------------------------------------------------- idempotency

// Claims the key when it is new, expired, or in progress with a lapsed lease and the same body
// (the first request's process died). Otherwise the row is left alone and nothing is returned.
const IDEMPOTENCY_CLAIM = `
INSERT INTO weir.idempotency AS i (pipeline, key, body_hash, status, locked_until, expires_at)
VALUES ($1, $2, $3, 'in_progress',
        now() + $4::float8 * interval '1 millisecond', now() + $5::float8 * interval '1 millisecond')
ON CONFLICT (pipeline, key) DO UPDATE SET
  body_hash = excluded.body_hash, status = 'in_progress', response = NULL, created_at = now(),
  locked_until = excluded.locked_until, expires_at = excluded.expires_at
WHERE i.expires_at <= now()
   OR (i.status = 'in_progress' AND i.locked_until <= now() AND i.body_hash = excluded.body_hash)
RETURNING 1 AS claimed`;

class SqlIdempotency implements IdempotencyStore {
  #sql: SqlExecutor;

  constructor(sql: SqlExecutor) {
    this.#sql = sql;
  }

  async begin(input: IdempotencyBeginInput): Promise<IdempotencyBegin> {
    const ttl = input.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    const lease = Math.min(input.leaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS, ttl);
    // The claim and the read are two statements; if the row vanishes in between (abandoned or
    // purged), claiming again is right, and three rounds of that only happen under abuse.
    for (let round = 0;; round++) {
      const claimed = await this.#sql.query(IDEMPOTENCY_CLAIM, [
        input.pipeline,
        input.key,
        input.bodyHash,
        lease,
        ttl,
      ]);
      if (claimed.length > 0) return { state: "new" };
      const [row] = await this.#sql.query(
        "SELECT body_hash, status, response FROM weir.idempotency WHERE pipeline = $1 AND key = $2",
        [input.pipeline, input.key],
      );
      if (row) {
        if (row.body_hash !== input.bodyHash) return { state: "conflict" };
        if (row.status === "done") return { state: "done", response: row.response as JsonValue };
        return { state: "in_progress" };
      }
      if (round >= 2) return { state: "in_progress" };
    }
  }

  async complete(ref: IdempotencyRef, response: JsonValue): Promise<boolean> {
    const rows = await this.#sql.query(
      `UPDATE weir.idempotency SET status = 'done', response = $3::text::jsonb, locked_until = NULL
       WHERE pipeline = $1 AND key = $2 AND status = 'in_progress'
       RETURNING 1 AS done`,
      [ref.pipeline, ref.key, JSON.stringify(response)],
    );
    return rows.length > 0;
  }

  async renew(ref: IdempotencyRef, leaseMs: number): Promise<boolean> {
    const rows = await this.#sql.query(
      `UPDATE weir.idempotency SET locked_until = now() + $3::float8 * interval '1 millisecond'
       WHERE pipeline = $1 AND key = $2 AND status = 'in_progress'
       RETURNING 1 AS renewed`,
      [ref.pipeline, ref.key, leaseMs],
    );
    return rows.length > 0;
  }

  async abandon(ref: IdempotencyRef): Promise<boolean> {
    const rows = await this.#sql.query(
      "DELETE FROM weir.idempotency WHERE pipeline = $1 AND key = $2 AND status = 'in_progress' RETURNING 1 AS gone",
      [ref.pipeline, ref.key],
    );
    return rows.length > 0;
  }

  async purgeExpired(): Promise<number> {
    const [row] = await this.#sql.query(
      "WITH gone AS (DELETE FROM weir.idempotency WHERE expires_at <= now() RETURNING 1) SELECT count(*) AS n FROM gone",
    );
    return toNumber(row.n);
  }
}

// ------------------------------------------------------------------------------------------- helpers

/** `($1, $2, …), ($n+1, …)` for a multi-row VALUES; `casts` appends a cast to a 0-based column. */
function placeholders(rows: number, columns: number, casts: Record<number, string> = {}): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < columns; c++) cells.push(`$${r * columns + c + 1}${casts[c] ?? ""}`);
    out.push(`(${cells.join(", ")})`);
  }
  return out.join(", ");
}

function pageLimit(limit: number | undefined, component: string): number {
  const n = limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new StoreError(`Page limit must be 1 to ${MAX_PAGE}: ${limit}`, { component, code: "invalid" });
  }
  return n;
}

function idCursor(cursor: string | null | undefined, component: string, form = ID_CURSOR): string | null {
  if (cursor === undefined || cursor === null) return null;
  if (!form.test(cursor)) throw badCursor(cursor, component);
  return cursor;
}

function badCursor(cursor: string, component: string): StoreError {
  return new StoreError(`Invalid page cursor: ${cursor.slice(0, 64)}`, { component, code: "invalid" });
}

// Rows were fetched with limit + 1: the extra row only says that another page exists.
function page<T>(items: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items, next: null };
  const kept = items.slice(0, limit);
  return { items: kept, next: cursorOf(kept[kept.length - 1]) };
}

function jsonOrNull(value: JsonValue | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function toNumber(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

function dateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

function stringOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function toBytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError("Expected bytea as Uint8Array");
  // postgres.js returns a Node Buffer; hand out a plain view so callers see one type.
  return value.constructor === Uint8Array
    ? value
    : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}
