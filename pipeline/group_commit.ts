/**
 * Group commit for small ingests: many concurrent small requests (a single event each, say) share one sink
 * write, instead of each paying for its own run row, sink transaction and bookkeeping transaction.
 *
 * How: every request is parsed and validated on its own (its rejects are its own), its valid rows wait a
 * moment in the pipeline's {@linkcode GroupCommitter}, and a group — the rows of every request that arrived
 * while the previous group was committing, or within `lingerMs` — is concatenated into one batch, transformed
 * once and written to every sink as one `(run, sequence)`. Then one store transaction records the group's
 * dead letters (each request's rejects, with their original bytes) and the run's counts, and only then is
 * every request of the group answered.
 *
 * **Guarantee.** A request is answered 2xx only after every sink committed the group holding its rows and its
 * rejects are in the dead-letter queue: acknowledged means durable, as on the chunked path. A group is one
 * `(run, sequence)`, which each sink commits at most once (retries of a failed write reuse it), so weir never
 * writes a group twice. A request that no sink could take is answered 502 (its body is dead-lettered whole); a
 * group that fails outright (e.g. a transform throws) fails every request in it, and none is acknowledged. A
 * crash before the answer loses only unacknowledged requests, exactly like the chunked path without an
 * idempotency key: a client that retries such a request may land it twice. Requests with an `Idempotency-Key`
 * therefore never take this path — they go through the spooled, chunked path, whose run id is derived from the
 * key and which is exactly-once across retries.
 *
 * Runs: the groups of a committer share one run (`GET /v1/runs/:id` shows its running totals), which is
 * finished and replaced after `groupsPerRun` groups or `runMaxAgeMs`, and finished on close.
 *
 * @module
 */
import { errorChain, type JsonValue, type NewDeadLetter } from "../storage/store.ts";
import { parseChunk } from "../workers/parse.ts";
import type { Batch } from "./batch.ts";
import { concatBatches } from "./batch_concat.ts";
import { type Chunk, csvHeader } from "./chunker.ts";
import { PipelineError } from "./errors.ts";
import type { PipelinePlan, PlannedSink } from "./plan.ts";
import { newRunId } from "./run_ids.ts";
import {
  type IngestContext,
  type IngestCounts,
  type IngestResult,
  parseParams,
  recordSlicer,
  writeWithRetry,
} from "./runner.ts";
import type { Reject } from "./validate.ts";

/** Knobs of a {@linkcode GroupCommitter}. */
export interface GroupCommitOptions {
  /** How long the first request of a group waits for company when a commit slot is free. Default 1 ms. */
  lingerMs?: number;
  /** Most rows in one group. Default 10 000. */
  maxRows?: number;
  /** Groups being committed at once (each holds a sink connection). Default 4. */
  maxInFlight?: number;
  /** Requests waiting for a group before more are turned away (see {@linkcode GroupCommitter.full}). Default 4096. */
  maxQueued?: number;
  /** Groups per run before the run is finished and a new one started. Default 10 000. */
  groupsPerRun?: number;
  /** Age of a run after which the next group starts a new one. Default 60 s. */
  runMaxAgeMs?: number;
  /** Bodies up to this size are parsed on the main thread (a worker round trip costs more). Default 16 KiB. */
  inlineParseBytes?: number;
  /** How often a run's running totals are written while it is open. Default 1 s. */
  runUpdateMs?: number;
  /** Sink attempts for a retriable failure. Default 5. */
  sinkAttempts?: number;
  /** First retry delay, doubling with full jitter. Default 100 ms. */
  retryBaseMs?: number;
}

/** One small request: its whole (decoded) body. JSON arrays are turned into NDJSON by the caller. */
export interface SmallIngest {
  format: "csv" | "ndjson";
  bytes: Uint8Array;
}

interface Waiting {
  bytes: Uint8Array;
  batch: Batch;
  rejects: Reject[];
  header: { bytes: Uint8Array; lines: number } | null;
  enqueuedAt: number;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

interface GroupRun {
  id: string;
  created: Promise<unknown>;
  startedAt: number;
  updatedAt: number;
  next: number;
  inFlight: number;
  retired: boolean;
  failedGroups: number;
  totals: IngestCounts;
  timings: Record<string, number>;
}

/** The small-request batcher of one pipeline. */
export class GroupCommitter {
  readonly #plan: PipelinePlan;
  readonly #context: IngestContext;
  readonly #options: Required<GroupCommitOptions>;
  readonly #abort = new AbortController();
  #waiting: Waiting[] = [];
  #waitingRows = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight = 0;
  #run: GroupRun | undefined;
  #closed = false;
  #idle = Promise.withResolvers<void>();
  /** Store bookkeeping runs one at a time, so absolute run counts are written in order. */
  #books: Promise<unknown> = Promise.resolve();

  /** A committer for `plan`; nothing is written before the first request. */
  constructor(plan: PipelinePlan, context: IngestContext, options: GroupCommitOptions = {}) {
    this.#plan = plan;
    this.#context = context;
    this.#options = {
      lingerMs: options.lingerMs ?? 1,
      maxRows: options.maxRows ?? 10_000,
      maxInFlight: options.maxInFlight ?? 4,
      maxQueued: options.maxQueued ?? 4096,
      groupsPerRun: options.groupsPerRun ?? 10_000,
      runMaxAgeMs: options.runMaxAgeMs ?? 60_000,
      inlineParseBytes: options.inlineParseBytes ?? 16 * 1024,
      runUpdateMs: options.runUpdateMs ?? 1_000,
      sinkAttempts: options.sinkAttempts ?? 5,
      retryBaseMs: options.retryBaseMs ?? 100,
    };
    this.#idle.resolve();
  }

  /** Whether the queue of waiting requests is full: the caller should answer 503 with `Retry-After`. */
  get full(): boolean {
    return this.#waiting.length >= this.#options.maxQueued;
  }

  /**
   * Parses and validates `input`, then resolves once the group holding its rows committed (or failed). Throws a
   * `CsvSyntaxError` for a body that cannot be read at all (no header), before it joins a group.
   */
  async submit(input: SmallIngest): Promise<IngestResult> {
    if (this.#closed) {
      throw new PipelineError("Group commit is closed", { component: "group_commit", retriable: true });
    }
    const parsed = await this.#parse(input);
    const { promise, resolve, reject } = Promise.withResolvers<IngestResult>();
    this.#waiting.push({ ...parsed, enqueuedAt: performance.now(), resolve, reject });
    this.#waitingRows += parsed.batch.length;
    if (this.#waitingRows >= this.#options.maxRows) this.#flush();
    else {this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, this.#options.lingerMs);}
    return promise;
  }

  /** Commits what is waiting, waits for groups in flight, then finishes the current run. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#waiting.length > 0 || this.#inFlight > 0) {
      this.#flush();
      await this.#idle.promise;
    }
    const run = this.#run;
    this.#run = undefined;
    if (run && !run.retired) {
      run.retired = true;
      await this.#finishRun(run);
    }
    await this.#books;
  }

  async #parse(input: SmallIngest) {
    const plan = this.#plan;
    const header = input.format === "csv" && plan.csv.header ? csvHeader(input.bytes, plan.csv.quote) : null;
    // A small request is one chunk: the first of its input, starting on line 1.
    const params = parseParams(plan, input.format, { sequence: 0, firstLine: 1 }, header);
    const buffer = input.bytes.byteOffset === 0 && input.bytes.byteLength === input.bytes.buffer.byteLength &&
        input.bytes.buffer instanceof ArrayBuffer
      ? input.bytes.buffer
      : input.bytes.slice().buffer;
    if (input.bytes.length <= this.#options.inlineParseBytes) {
      const { value, output } = parseChunk(this.#context.kernels, buffer, params);
      return { ...value, bytes: new Uint8Array(output ?? buffer), header };
    }
    const { value, output } = await this.#context.pool.run("parse.chunk", { input: buffer, params });
    return { ...value, bytes: new Uint8Array(output!), header };
  }

  /** Starts a group when a commit slot is free; otherwise the group forms until one frees up. */
  #flush(): void {
    if (this.#waiting.length === 0 || this.#inFlight >= this.#options.maxInFlight) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let rows = 0;
    let take = 0;
    // Whole requests only; at least one, even if it alone is over maxRows.
    while (
      take < this.#waiting.length &&
      (take === 0 || rows + this.#waiting[take].batch.length <= this.#options.maxRows)
    ) {
      rows += this.#waiting[take].batch.length;
      take++;
    }
    const group = this.#waiting.splice(0, take);
    this.#waitingRows -= rows;
    if (this.#inFlight === 0) this.#idle = Promise.withResolvers<void>();
    this.#inFlight++;
    this.#commit(group).finally(() => {
      this.#inFlight--;
      if (this.#waiting.length > 0) this.#flush();
      if (this.#inFlight === 0) this.#idle.resolve();
    });
  }

  /** The run the next group belongs to, with its sequence; rotates an old or full run. */
  #nextSlot(): { run: GroupRun; sequence: number } {
    const now = performance.now();
    let run = this.#run;
    if (run && (run.next >= this.#options.groupsPerRun || now - run.startedAt > this.#options.runMaxAgeMs)) {
      run.retired = true;
      if (run.inFlight === 0) this.#finishRun(run).catch(() => {});
      run = undefined;
    }
    if (!run) {
      const id = newRunId();
      run = {
        id,
        created: this.#context.store.runs.create({ id, pipeline: this.#plan.name, idempotencyKey: null }),
        startedAt: now,
        updatedAt: now,
        next: 0,
        inFlight: 0,
        retired: false,
        failedGroups: 0,
        totals: { received: 0, accepted: 0, rejected: 0, bytes: 0 },
        timings: {},
      };
      run.created.catch(() => {});
      this.#run = run;
    }
    run.inFlight++;
    return { run, sequence: run.next++ };
  }

  async #commit(group: Waiting[]): Promise<void> {
    const { run, sequence } = this.#nextSlot();
    const log = this.#context.logger.child({ pipeline: this.#plan.name, run: run.id, sequence });
    const timings: Record<string, number> = {};
    const time = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await fn();
      } finally {
        timings[stage] = (timings[stage] ?? 0) + performance.now() - started;
      }
    };
    try {
      try {
        await run.created;
      } catch (error) {
        // The next group tries a new run rather than inheriting a run row that does not exist.
        if (this.#run === run) this.#run = undefined;
        run.retired = true;
        throw error;
      }
      const signal = this.#abort.signal;
      const failures: { sink: PlannedSink; error: unknown; attempts: number }[] = [];
      const nonEmpty = group.map((w) => w.batch).filter((b) => b.length > 0);
      if (nonEmpty.length > 0) {
        let out = concatBatches(nonEmpty);
        await time("transform", async () => {
          for (const transform of this.#plan.transforms) out = await transform.apply(out, signal);
        });
        for (const planned of this.#plan.sinks) {
          const outcome = await time(
            planned.component,
            () => writeWithRetry(planned, out, { runId: run.id, sequence, signal }, this.#options, log),
          );
          if (outcome.error !== undefined) {
            failures.push({ sink: planned, error: outcome.error, attempts: outcome.attempts });
          }
        }
      }
      const failed = failures.length > 0;
      const letters = group.flatMap((w) => this.#letters(w, run.id, failures));
      const counts = group.map((w) => ({
        received: w.batch.length + w.rejects.length,
        accepted: failed ? 0 : w.batch.length,
        rejected: w.rejects.length,
        bytes: w.bytes.length,
      }));
      await time("dead_letters", () =>
        this.#book(async () => {
          for (const c of counts) {
            run.totals.received += c.received;
            run.totals.accepted += c.accepted;
            run.totals.rejected += c.rejected;
            run.totals.bytes += c.bytes;
          }
          if (failed) run.failedGroups++;
          for (const [stage, ms] of Object.entries(timings)) {
            run.timings[stage] = (run.timings[stage] ?? 0) + ms;
          }
          // Dead letters must be durable before the answer; the run's running totals need not be (they are
          // written with the final ones when the run finishes), so they are refreshed at most every
          // `runUpdateMs`, sparing most groups a transaction.
          const now = performance.now();
          const refresh = now - run.updatedAt >= this.#options.runUpdateMs;
          if (refresh) run.updatedAt = now;
          const totals = { ...run.totals };
          if (letters.length > 0 || refresh) {
            await this.#context.store.transaction(async (tx) => {
              if (letters.length > 0) await tx.deadLetters.add(letters);
              if (refresh) await tx.runs.update(run.id, totals);
            });
          }
        }));
      const limit = this.#plan.spec.limits.responseRejects;
      const now = performance.now();
      group.forEach((w, i) =>
        w.resolve({
          run: run.id,
          ...counts[i],
          rejects: w.rejects.slice(0, limit),
          committed: !failed,
          failedChunks: failed ? 1 : 0,
          timings: { ...rounded(timings), wait: Math.round((now - w.enqueuedAt) * 10) / 10 },
        })
      );
    } catch (error) {
      log.warn("Group commit failed", { error, requests: group.length });
      run.failedGroups++;
      for (const w of group) w.reject(error);
    } finally {
      run.inFlight--;
      if (run.retired && run.inFlight === 0 && this.#run !== run) {
        await this.#finishRun(run).catch((error) => log.warn("Finishing a group run failed", { error }));
      }
    }
  }

  /** One request's dead letters: its rejected rows, and its whole body when a sink failed the group. */
  #letters(
    w: Waiting,
    runId: string,
    failures: readonly { sink: PlannedSink; error: unknown; attempts: number }[],
  ): NewDeadLetter[] {
    const pipeline = this.#plan.name;
    const letters: NewDeadLetter[] = [];
    if (w.rejects.length > 0) {
      const chunk: Chunk = { sequence: 0, bytes: w.bytes, firstLine: 1, offset: 0 };
      const rowOf = recordSlicer(w.bytes, chunk, w.batch.lines, w.rejects, w.header);
      for (const reject of w.rejects) {
        letters.push({
          pipeline,
          runId,
          stage: reject.rule === "json" || reject.rule === "ragged" || reject.rule === "utf8"
            ? "parse"
            : "validate",
          original: rowOf(reject.line),
          line: reject.line,
          errors: [{
            name: "RejectedRow",
            message: `${reject.rule}: ${reject.column || "row"}: ${reject.value ?? "null"}`,
          }],
        });
      }
    }
    if (w.batch.length > 0) {
      for (const { sink, error, attempts } of failures) {
        letters.push({
          pipeline,
          runId,
          stage: sink.component,
          original: w.bytes,
          line: 1,
          errors: errorChain(error),
          attempts,
        });
      }
    }
    return letters;
  }

  #book<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#books.then(fn, fn);
    this.#books = next.catch(() => {});
    return next;
  }

  #finishRun(run: GroupRun): Promise<unknown> {
    return this.#book(async () => {
      if (!(await run.created.then(() => true, () => false))) return;
      await this.#context.store.runs.finish(run.id, {
        ...run.totals,
        timings: rounded(run.timings),
        status: run.failedGroups > 0 ? "failed" : "committed",
        ...(run.failedGroups > 0 ? { error: { failedGroups: run.failedGroups } as JsonValue } : {}),
      });
    });
  }
}

function rounded(timings: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}
