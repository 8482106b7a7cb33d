/**
 * The drainer of `ack: accepted` ingests. An accepted request left its body fsync'd in the spool and, in one
 * store transaction, a `pending` run and a job in its pipeline's lane (kind `ingest.spool:<pipeline>`). The
 * drainer runs one loop per pipeline that takes the head of the lane (oldest first, one at a time, see
 * storage/job_lanes.ts), runs the body through {@linkcode runIngest} under the run id fixed at accept time, and
 * finishes the run and the job.
 *
 * **Guarantees.** Bodies of one pipeline reach the sinks in the order they were accepted. A crash or a stop
 * mid-drain leaves the run open and the job at the head of its lane; the next drain continues the same run
 * (same id, same bytes, so the same chunks), skipping checkpointed chunks, and the sinks deduplicate the rest:
 * nothing is lost and nothing lands twice. Retriable failures (the store or a worker being unavailable) are
 * retried with capped backoff for as long as it takes; others are retried a few times, then the run is failed
 * and the body moved to `spool/failed/` for an operator.
 *
 * @module
 */
import type { Logger } from "../observability/logger.ts";
import type { JsonValue } from "../storage/store.ts";
import { errorChain } from "../storage/store.ts";
import { JobLane, type LaneJob } from "../storage/job_lanes.ts";
import { jsonArrayToNdjson } from "./json_array.ts";
import { isRetriable, PipelineError } from "./errors.ts";
import type { PipelinePlan } from "./plan.ts";
import { type IngestContext, type IngestCounts, runIngest } from "./runner.ts";
import { quarantineSpooled } from "./spool.ts";

/** The job kind of a pipeline's spooled bodies. */
export function spoolJobKind(pipeline: string): string {
  return `ingest.spool:${pipeline}`;
}

/** What a spooled-ingest job carries. */
export interface SpoolJobPayload {
  /** The run, fixed at accept time. */
  run: string;
  pipeline: string;
  /** Absolute path of the spooled (decoded) body. */
  path: string;
  format: "csv" | "ndjson" | "json";
  bytes: number;
  /** The request's idempotency key, if any. */
  key: string | null;
}

/** Knobs of a {@linkcode SpoolDrainer}. */
export interface SpoolDrainerOptions {
  /** Lease of a job while it drains; renewed every third of it. Default 30 s. */
  leaseMs?: number;
  /** How often an idle lane looks for work (another process may have accepted some). Default 1 s. */
  pollMs?: number;
  /** Attempts for a failure that is not retriable before the run is failed. Default 3. */
  maxAttempts?: number;
  /** First retry delay; doubles up to 30 s. Default 250 ms. */
  retryBaseMs?: number;
}

type Outcome = "done" | "stopped";

/** Drains spooled bodies into their pipelines. */
export class SpoolDrainer {
  readonly #context: IngestContext;
  readonly #plans: ReadonlyMap<string, PipelinePlan>;
  readonly #options: Required<SpoolDrainerOptions>;
  readonly #workerId = `drainer-${crypto.randomUUID().slice(0, 8)}`;
  readonly #stop = new AbortController();
  readonly #wakers = new Map<string, () => void>();
  /** Lanes woken while not asleep (their claim was under way): their next sleep is skipped. */
  readonly #woken = new Set<string>();
  readonly #loops: Promise<void>[] = [];

  /** A drainer for the pipelines in `plans` that take HTTP ingestion; nothing runs before {@linkcode start}. */
  constructor(
    context: IngestContext,
    plans: ReadonlyMap<string, PipelinePlan>,
    options: SpoolDrainerOptions = {},
  ) {
    this.#context = context;
    this.#plans = plans;
    this.#options = {
      leaseMs: options.leaseMs ?? 30_000,
      pollMs: options.pollMs ?? 1_000,
      maxAttempts: options.maxAttempts ?? 3,
      retryBaseMs: options.retryBaseMs ?? 250,
    };
  }

  /** Starts one loop per pipeline; pending jobs from before a restart are picked up first. */
  start(): void {
    if (this.#loops.length > 0 || this.#stop.signal.aborted) return;
    for (const plan of this.#plans.values()) {
      if (!plan.http) continue;
      this.#loops.push(this.#loop(plan));
    }
  }

  /**
   * Removes the files under `spoolDir` that no unfinished spool job references: bodies left by a crash (a keyed
   * request's copy, an accepted body whose transaction never committed, a drained body not yet deleted). Kept:
   * every file a queued or running job of any pipeline names, and `failed/` folders (kept for an operator).
   * Call it at startup, before {@linkcode start} and before serving: the spool belongs to this process, and a
   * request spooling meanwhile would have an unreferenced file too. Resolves to the removed paths.
   */
  async sweepOrphans(spoolDir: string): Promise<string[]> {
    const root = await Deno.realPath(spoolDir).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    });
    if (root === null) return [];
    const rows = await this.#context.store.transaction((tx) =>
      tx.sql.query(
        `SELECT payload->>'path' AS path FROM weir.jobs
          WHERE starts_with(kind, $1) AND status IN ('queued', 'running')`,
        [spoolJobKind("")],
      )
    );
    const referenced = new Set(rows.map((row) => String(row.path)));
    const removed: string[] = [];
    const sweep = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory && entry.name !== "failed") await sweep(path);
        else if (entry.isFile && !referenced.has(path)) {
          await Deno.remove(path).catch(() => {});
          removed.push(path);
        }
      }
    };
    await sweep(root);
    if (removed.length > 0) {
      this.#context.logger.warn("Removed orphaned spool files: no pending job referenced them", {
        component: "spool_drainer",
        count: removed.length,
        files: removed.slice(0, 20),
      });
    }
    return removed;
  }

  /** Tells the loop of `pipeline` that a job was just enqueued, so it does not wait for its next poll. */
  wake(pipeline: string): void {
    this.#woken.add(pipeline);
    this.#wakers.get(pipeline)?.();
  }

  /**
   * Stops: a drain in progress is aborted and its job released (its run stays open, to be continued by the next
   * start), then every loop ends. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stop.abort(
      new PipelineError("The spool drainer is stopping", { component: "spool", retriable: true }),
    );
    for (const wake of this.#wakers.values()) wake();
    await Promise.allSettled(this.#loops);
  }

  async #loop(plan: PipelinePlan): Promise<void> {
    const lane = new JobLane(this.#context.store, spoolJobKind(plan.name));
    const log = this.#context.logger.child({ component: "spool_drainer", pipeline: plan.name });
    const signal = this.#stop.signal;
    let idleFailures = 0;
    while (!signal.aborted) {
      let job: LaneJob | null = null;
      this.#woken.delete(plan.name);
      try {
        job = await lane.claimHead(this.#workerId, this.#options.leaseMs);
        idleFailures = 0;
      } catch (error) {
        idleFailures++;
        log.warn("Claiming a spooled body failed", { error });
      }
      if (job === null) {
        await this.#sleep(plan.name, idleFailures > 0 ? this.#backoff(idleFailures) : this.#options.pollMs);
        continue;
      }
      const outcome = await this.#drain(plan, lane, job, log);
      if (outcome === "stopped") {
        await lane.release(job.id, this.#workerId).catch((error) =>
          log.warn("Releasing a spooled body failed: its lease will run out", { error, job: job.id })
        );
      }
    }
  }

  /** Drains one job until it is done or the drainer stops. */
  async #drain(
    plan: PipelinePlan,
    lane: JobLane,
    job: LaneJob,
    log: Logger,
  ): Promise<Outcome> {
    const { store } = this.#context;
    const payload = job.payload as unknown as SpoolJobPayload;
    const signal = this.#stop.signal;
    const renew = setInterval(() => {
      store.jobs.renew(job.id, this.#workerId, { leaseMs: this.#options.leaseMs }).catch(() => {});
    }, this.#options.leaseMs / 3);
    try {
      for (let attempt = 1;; attempt++) {
        if (signal.aborted) return "stopped";
        let progress: IngestCounts = { received: 0, accepted: 0, rejected: 0, bytes: 0 };
        try {
          const run = await store.runs.get(payload.run);
          if (run === null) {
            await store.runs.create({ id: payload.run, pipeline: plan.name, idempotencyKey: payload.key });
          } else if (run.finishedAt !== null) {
            // Finished before a crash stopped us from completing the job.
            await this.#complete(lane, job, payload, log);
            return "done";
          } else if (run.status === "pending") {
            await store.runs.update(payload.run, { status: "running" });
          }
          using file = await Deno.open(payload.path, { read: true });
          const body: AsyncIterable<Uint8Array> = payload.format === "json"
            ? jsonArrayToNdjson(file.readable)
            : file.readable;
          const result = await runIngest(plan, {
            format: payload.format === "json" ? "ndjson" : payload.format,
            body,
          }, {
            ...this.#context,
            runId: payload.run,
            idempotencyKey: payload.key,
            signal,
            finishRun: false,
            onProgress: (counts) => (progress = counts),
          });
          await store.runs.finish(payload.run, {
            received: result.received,
            accepted: result.accepted,
            rejected: result.rejected,
            bytes: result.bytes,
            timings: result.timings,
            status: result.committed ? "committed" : "failed",
            ...(result.failedChunks > 0 ? { error: { failedChunks: result.failedChunks } } : {}),
          });
          await this.#complete(lane, job, payload, log);
          return "done";
        } catch (error) {
          if (signal.aborted) return "stopped";
          const retriable = isRetriable(error);
          if (retriable || attempt < this.#options.maxAttempts) {
            const delay = this.#backoff(attempt);
            log.warn("Draining a spooled body failed: retrying", {
              error,
              run: payload.run,
              attempt,
              retriable,
              delayMs: Math.round(delay),
            });
            await this.#sleep(null, delay);
            continue;
          }
          log.error("Draining a spooled body failed: the run fails and the body is kept in spool/failed", {
            error,
            run: payload.run,
            attempts: attempt,
          });
          const kept = await quarantineSpooled(payload.path).catch(() => null);
          await store.runs.finish(payload.run, {
            ...progress,
            status: "failed",
            error: { errors: errorChain(error), spooledBody: kept } as unknown as JsonValue,
          }).catch((finishError) => log.warn("Failing the run failed", { error: finishError }));
          await store.jobs.complete(job.id, this.#workerId).catch(() => {});
          return "done";
        }
      }
    } finally {
      clearInterval(renew);
    }
  }

  async #complete(lane: JobLane, job: LaneJob, payload: SpoolJobPayload, log: Logger): Promise<void> {
    if (!(await this.#context.store.jobs.complete(job.id, this.#workerId))) {
      log.warn("A spooled body's job was taken over before it completed", { job: job.id, lane: lane.kind });
    }
    // The body is no longer needed once the run is final; a crash before this leaves a file the next
    // completion of the same job removes.
    await Deno.remove(payload.path).catch(() => {});
  }

  #backoff(attempt: number): number {
    return Math.min(30_000, this.#options.retryBaseMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
  }

  /** Sleeps `ms`, or less when woken (for `pipeline`) or stopped. */
  #sleep(pipeline: string | null, ms: number): Promise<void> {
    if (pipeline !== null && this.#woken.delete(pipeline)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (pipeline !== null && this.#wakers.get(pipeline) === done) this.#wakers.delete(pipeline);
        this.#stop.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (pipeline !== null) this.#wakers.set(pipeline, done);
      this.#stop.signal.addEventListener("abort", done);
    });
  }
}
