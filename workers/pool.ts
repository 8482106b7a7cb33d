/**
 * A pool of kernel workers: N module Web Workers, each with one instance of the kernel module, fed from
 * a bounded queue. Input buffers are transferred to the worker and outputs transferred back, never
 * copied. `submit()` waits while the queue is full, which is how a full pipeline stops reading its
 * source. A worker whose instance traps or that crashes is terminated and replaced, and its job retried
 * up to `maxAttempts`; a job that runs past its timeout fails and its worker is replaced. Nothing a
 * worker does can take the process down.
 *
 * ```ts ignore
 * await using pool = await KernelPool.create({ workers: 2 });
 * const { value, output } = await pool.run("echo", { input: new ArrayBuffer(1024), params: null });
 * ```
 *
 * @module
 */

import { compileKernels } from "../kernels/mod.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { type Batch, batchBuffers } from "../pipeline/batch.ts";
import { BufferFreeList } from "../pipeline/bytes.ts";
import { CsvSyntaxError, KernelError } from "../pipeline/errors.ts";
import type { OpName, OpParams, OpValue } from "./ops.ts";
import { type JobMessage, OUTPUT_REUSE_MIN_BYTES, type PoolMessage, type WorkerMessage } from "./protocol.ts";

const WORKER_URL = new URL("./kernel_worker.ts", import.meta.url);
/** Given-back buffers sent with one job (a job of a default-sized chunk uses about one). */
const SPARE_PER_JOB = 2;

/** Options for {@linkcode KernelPool}. */
export interface KernelPoolOptions {
  /** The compiled kernel module. {@linkcode KernelPool.create} compiles it when absent. */
  module?: WebAssembly.Module;
  /** Number of workers. Default `navigator.hardwareConcurrency`. */
  workers?: number;
  /** Jobs that may wait for a worker before `submit()` waits too. Default: the number of workers. */
  queueSize?: number;
  /** Default per-job timeout in milliseconds, counted from when a worker takes the job. Default 30 000. */
  timeoutMs?: number;
  /** Attempts per job when its worker traps or crashes (the first run counts). Default 3. */
  maxAttempts?: number;
  /** Where restarts and failures are logged. Default: a logger for component `kernel_pool`. */
  logger?: Logger;
}

/** One job for {@linkcode KernelPool.submit}. */
export interface JobRequest<N extends OpName> {
  /** The op's input. Ownership moves to the pool: the buffer is detached at once, never copied. */
  input?: ArrayBuffer;
  /** The op's parameters (structured-cloned; keep them small). */
  params: OpParams<N>;
  /** Aborts the job: waiting for room, queued, or running (a running job's result is then dropped). */
  signal?: AbortSignal;
  /** Timeout for this job in milliseconds, instead of the pool's. */
  timeoutMs?: number;
}

/** A finished job. */
export interface JobResult<N extends OpName> {
  /** The op's value. */
  value: OpValue<N>;
  /** The op's output buffer, transferred from the worker, if it produced one. */
  output: ArrayBuffer | null;
  /** How many attempts it took. */
  attempts: number;
}

/** A job the pool accepted. */
export interface SubmittedJob<N extends OpName> {
  /** The job's id, for logs. */
  readonly id: number;
  /** Settles when the job finishes or fails (with a `KernelError` or the abort reason). */
  readonly result: Promise<JobResult<N>>;
}

/** Counters from {@linkcode KernelPool.stats}. */
export interface KernelPoolStats {
  /** Live workers (starting or ready). */
  workers: number;
  /** Jobs waiting for a worker. */
  queued: number;
  /** Workers running a job. */
  busy: number;
  /** Jobs that finished. */
  completed: number;
  /** Jobs that failed, timed out, were aborted or were rejected by `close()`. */
  failed: number;
  /** Workers replaced after a trap, a crash or a timeout. */
  restarts: number;
  /** Jobs that timed out. */
  timeouts: number;
  /** Attempts repeated after a trap or a crash. */
  retries: number;
}

/** Options for {@linkcode KernelPool.close}. */
export interface ClosePoolOptions {
  /** Finish queued and running jobs first (default), or reject them with a `KernelError` (`closed`). */
  drain?: boolean;
}

interface Job {
  id: number;
  op: OpName;
  params: unknown;
  input: ArrayBuffer | null;
  hadInput: boolean;
  attempt: number;
  timeoutMs: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  timer?: ReturnType<typeof setTimeout>;
  settled: boolean;
  resolve(result: JobResult<OpName>): void;
  reject(error: unknown): void;
}

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  job: Job | null;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** A pool of kernel workers. */
export class KernelPool {
  /**
   * Buffers for job inputs, kept across jobs and across the pool's users (a server's ingests reuse each
   * other's): a chunk copied into one, moved to a worker and handed back with its result, is given back here
   * once done with, so that steady work copies into memory already mapped. It keeps three per worker (one
   * running, one queued, one whose result is being merged) and one being filled, of 8 MiB each at most on
   * average (default chunks are 4 MiB).
   */
  readonly buffers: BufferFreeList;
  /**
   * Output buffers given back (`giveBack`), moved to workers with their next jobs: two per worker, of 8 MiB
   * each at most on average (a batch of a default 4 MiB chunk takes about 4 MiB).
   */
  #spare: BufferFreeList;
  #module: WebAssembly.Module;
  #queueSize: number;
  #timeoutMs: number;
  #maxAttempts: number;
  #log: Logger;
  #slots: Slot[];
  #queue: Job[] = [];
  #waiters: Waiter[] = [];
  #reserved = 0;
  #nextId = 1;
  #closing: Promise<void> | null = null;
  #closed = false;
  // Set once no worker will be needed again; until then a closing pool still replaces workers to drain.
  #stopped = false;
  #fatal: KernelError | null = null;
  #drained: (() => void) | null = null;
  #startup: { pending: number; resolve(): void; reject(error: unknown): void } | null = null;
  #ready: Promise<void>;
  #stats = { completed: 0, failed: 0, restarts: 0, timeouts: 0, retries: 0 };

  /** Starts the workers; they become usable once they have instantiated the module (see `ready()`). */
  constructor(options: KernelPoolOptions & { module: WebAssembly.Module }) {
    const workers = options.workers ?? navigator.hardwareConcurrency;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`Kernel pool needs at least one worker: got ${workers}`);
    }
    this.#module = options.module;
    this.buffers = new BufferFreeList(3 * workers + 1, { maxBytes: (3 * workers + 1) * (8 << 20) });
    this.#spare = new BufferFreeList(2 * workers, {
      maxBytes: 2 * workers * (8 << 20),
      minBytes: OUTPUT_REUSE_MIN_BYTES,
    });
    this.#queueSize = Math.max(1, options.queueSize ?? workers);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.#log = options.logger ?? createLogger().child({ component: "kernel_pool" });
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#startup = { pending: workers, resolve, reject };
    });
    // Callers may never await ready(); a failed start is also reported through every job.
    this.#ready.catch(() => {});
    this.#slots = Array.from(
      { length: workers },
      (_, index) => ({ index, worker: null, ready: false, job: null }),
    );
    for (const slot of this.#slots) this.#spawn(slot);
  }

  /** Compiles the kernels when no module is given, starts the pool and waits until every worker is ready. */
  static async create(options: KernelPoolOptions = {}): Promise<KernelPool> {
    const module = options.module ?? await compileKernels();
    const pool = new KernelPool({ ...options, module });
    try {
      await pool.ready();
    } catch (error) {
      await pool.close({ drain: false });
      throw error;
    }
    return pool;
  }

  /** The compiled kernel module the workers run. */
  get module(): WebAssembly.Module {
    return this.#module;
  }

  /** Resolves when every initial worker has instantiated the module; rejects when one could not. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Queues a job and resolves once the pool accepted it, waiting while the queue is full. The input
   * buffer is detached at once: the pool owns it from here on.
   *
   * @throws {KernelError} with reason `closed` when the pool is closing; the abort reason when aborted.
   */
  async submit<N extends OpName>(op: N, request: JobRequest<N>): Promise<SubmittedJob<N>> {
    this.#assertOpen();
    request.signal?.throwIfAborted();
    const input = request.input ? request.input.transfer() : null;
    if (this.#queue.length + this.#reserved >= this.#queueSize || this.#waiters.length > 0) {
      await this.#waitForRoom(request.signal);
      this.#reserved--;
      if (this.#closed || request.signal?.aborted) {
        this.#wake();
        this.#assertOpen();
        request.signal?.throwIfAborted();
      }
    }
    let resolve!: (result: JobResult<OpName>) => void;
    let reject!: (error: unknown) => void;
    const result = new Promise<JobResult<OpName>>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that drops the result must not turn a failed job into an unhandled rejection.
    result.catch(() => {});
    const job: Job = {
      id: this.#nextId++,
      op,
      params: request.params,
      input,
      hadInput: input !== null,
      attempt: 0,
      timeoutMs: request.timeoutMs ?? this.#timeoutMs,
      signal: request.signal,
      settled: false,
      resolve,
      reject,
    };
    if (request.signal) {
      const signal = request.signal;
      job.onAbort = () => this.#abort(job, signal.reason);
      signal.addEventListener("abort", job.onAbort, { once: true });
    }
    this.#queue.push(job);
    this.#pump();
    return { id: job.id, result: result as Promise<JobResult<N>> };
  }

  /** Submits a job and waits for its result. */
  async run<N extends OpName>(op: N, request: JobRequest<N>): Promise<JobResult<N>> {
    return await (await this.submit(op, request)).result;
  }

  /**
   * Gives back the buffers of a job's result the caller is done with (e.g. a `parse.chunk` batch once written),
   * for workers to copy later results into instead of zeroing new memory. The caller must not hold the batch
   * any more: every array of it is detached at once (reads find it empty), so nothing here can ever see a
   * buffer that a worker refills. Giving back is optional; a result never given back is simply collected.
   * Buffers under 1 MiB are not worth it and are left to the collector, like those past what the workers use.
   */
  giveBack(batch: Batch): void {
    for (const buffer of batchBuffers(batch)) {
      if (buffer.detached) continue;
      // Detaching here, not when the buffer is sent, is what makes a reuse-while-held bug impossible.
      const moved = buffer.transfer();
      if (!this.#closed) this.#spare.give(moved);
    }
  }

  /** Current counters. */
  stats(): KernelPoolStats {
    return {
      workers: this.#slots.filter((slot) => slot.worker !== null).length,
      queued: this.#queue.length,
      busy: this.#slots.filter((slot) => slot.job !== null).length,
      ...this.#stats,
    };
  }

  /**
   * Stops accepting jobs, then either finishes the queued and running ones (`drain`, the default) or
   * rejects them, and terminates the workers. Callers still waiting in `submit()` are rejected either way.
   */
  close(options: ClosePoolOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const closed = () => new KernelError("Kernel pool is closed", { reason: "closed" });
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closed());
    if (options.drain === false) {
      for (const job of this.#queue.splice(0)) this.#fail(job, closed());
      for (const slot of this.#slots) {
        if (slot.job) this.#fail(slot.job, closed());
        clearTimeout(slot.job?.timer);
        slot.job = null;
      }
    }
    this.#closing = (async () => {
      if (this.#queue.length > 0 || this.#slots.some((slot) => slot.job !== null)) {
        await new Promise<void>((resolve) => this.#drained = resolve);
      }
      this.#stopped = true;
      for (const slot of this.#slots) this.#terminate(slot);
      this.#startup?.reject(closed());
      this.#startup = null;
    })();
    return this.#closing;
  }

  /** Closes the pool, draining it. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#fatal) throw this.#fatal;
    if (this.#closed) throw new KernelError("Kernel pool is closed", { reason: "closed" });
  }

  #waitForRoom(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Lets waiting submitters in, in order, while there is room; each holds a reservation until it enqueues. */
  #wake(): void {
    while (this.#waiters.length > 0 && this.#queue.length + this.#reserved < this.#queueSize) {
      this.#reserved++;
      this.#waiters.shift()!.resolve();
    }
  }

  /** Hands queued jobs to idle workers. */
  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) break;
      if (slot.worker === null || !slot.ready || slot.job !== null) continue;
      this.#dispatch(slot, this.#queue.shift()!);
    }
    this.#wake();
    if (this.#drained && this.#queue.length === 0 && this.#slots.every((slot) => slot.job === null)) {
      this.#drained();
      this.#drained = null;
    }
  }

  #dispatch(slot: Slot, job: Job): void {
    job.attempt++;
    // A few spare buffers ride along with each job, so every busy worker gets some.
    const spare: ArrayBuffer[] = [];
    while (spare.length < SPARE_PER_JOB && this.#spare.size > 0) {
      spare.push(this.#spare.take(OUTPUT_REUSE_MIN_BYTES));
    }
    const message: JobMessage = {
      type: "job",
      id: job.id,
      op: job.op,
      attempt: job.attempt,
      input: job.input,
      params: job.params,
      spare,
    };
    try {
      slot.worker!.postMessage(message satisfies PoolMessage, job.input ? [job.input, ...spare] : spare);
    } catch (error) {
      this.#fail(
        job,
        new KernelError(`Kernel job could not be sent: ${job.op}`, { reason: "worker", cause: error }),
      );
      return;
    }
    job.input = null;
    slot.job = job;
    job.timer = setTimeout(() => this.#onTimeout(slot, job), job.timeoutMs);
  }

  #spawn(slot: Slot): void {
    const worker = new Worker(WORKER_URL, { type: "module", name: `weir-kernel-${slot.index}` });
    slot.worker = worker;
    slot.ready = false;
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      if (slot.worker === worker) this.#onMessage(slot, event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      // Without this an uncaught error in a worker would end the whole process.
      event.preventDefault();
      if (slot.worker === worker) this.#onCrash(slot, event.message || "uncaught error");
    };
    worker.onmessageerror = () => {
      if (slot.worker === worker) this.#onCrash(slot, "a message could not be deserialised");
    };
    worker.postMessage({ type: "init", module: this.#module } satisfies PoolMessage);
  }

  #terminate(slot: Slot): void {
    slot.worker?.terminate();
    slot.worker = null;
    slot.ready = false;
  }

  /** Terminates the slot's worker (its instance is never reused) and starts a new one in its place. */
  #replace(slot: Slot, why: string): void {
    this.#terminate(slot);
    if (this.#stopped || this.#fatal) return;
    this.#stats.restarts++;
    this.#log.warn("Kernel worker replaced", { worker: slot.index, reason: why });
    this.#spawn(slot);
  }

  #onMessage(slot: Slot, message: WorkerMessage): void {
    switch (message.type) {
      case "ready":
        slot.ready = true;
        if (this.#startup && --this.#startup.pending === 0) {
          this.#startup.resolve();
          this.#startup = null;
        }
        this.#pump();
        return;
      case "init_failed":
        this.#breakPool(`Kernel worker could not instantiate the module: ${message.message}`);
        return;
      case "result": {
        const job = this.#finish(slot, message.id);
        if (job && !job.settled) {
          this.#stats.completed++;
          this.#settle(job);
          job.resolve({
            value: message.value as OpValue<OpName>,
            output: message.output,
            attempts: job.attempt,
          });
        }
        this.#pump();
        return;
      }
      case "error": {
        const job = this.#finish(slot, message.id);
        if (message.kind === "trap") {
          this.#replace(slot, "trap");
          if (job) {
            this.#retryOrFail(job, message.input, `Kernel op ${job.op} trapped: ${message.message}`, "trap");
          }
        } else if (job && message.csv) {
          // Bad input, not a kernel failure: callers map it to a 4xx (e.g. a CSV header missing a column).
          this.#fail(job, new CsvSyntaxError(message.message, message.csv));
        } else if (job) {
          const reason = message.kind === "status" ? "status" : "worker";
          this.#fail(
            job,
            new KernelError(`Kernel op ${job.op} failed: ${message.message}`, {
              reason,
              status: message.status,
            }),
          );
        }
        this.#pump();
        return;
      }
    }
  }

  #onCrash(slot: Slot, why: string): void {
    const job = slot.job;
    if (job) this.#finish(slot, job.id);
    if (!slot.ready && !job) {
      // A worker that dies before it is ready would die again: do not respawn it forever.
      this.#breakPool(`Kernel worker failed to start: ${why}`);
      return;
    }
    this.#replace(slot, "crash");
    // The input went to the dead worker and is gone; only a job without one can run again.
    if (job) {
      this.#retryOrFail(job, job.hadInput ? undefined : null, `Kernel worker crashed: ${why}`, "worker");
    }
    this.#pump();
  }

  #onTimeout(slot: Slot, job: Job): void {
    if (slot.job !== job) return;
    this.#finish(slot, job.id);
    this.#stats.timeouts++;
    this.#replace(slot, "timeout");
    this.#fail(
      job,
      new KernelError(`Kernel op ${job.op} timed out after ${job.timeoutMs} ms`, { reason: "timeout" }),
    );
    this.#pump();
  }

  /** Frees the slot of the job with this id and returns the job. */
  #finish(slot: Slot, id: number): Job | null {
    const job = slot.job;
    if (!job || job.id !== id) return null;
    clearTimeout(job.timer);
    slot.job = null;
    return job;
  }

  /**
   * Queues the job again at the front when attempts are left and its input is back (`null` for a job
   * without input), else fails it. `undefined` input means the input is lost.
   */
  #retryOrFail(
    job: Job,
    input: ArrayBuffer | null | undefined,
    message: string,
    reason: "trap" | "worker",
  ): void {
    if (job.settled) return;
    const recoverable = job.hadInput ? input instanceof ArrayBuffer : input === null;
    if (job.attempt < this.#maxAttempts && recoverable && !this.#fatal) {
      this.#stats.retries++;
      job.input = input ?? null;
      this.#queue.unshift(job);
      return;
    }
    const detail = recoverable ? `after ${job.attempt} attempts` : "its input was consumed";
    this.#fail(job, new KernelError(`${message} (${detail})`, { reason }));
  }

  #abort(job: Job, reason: unknown): void {
    if (job.settled) return;
    const at = this.#queue.indexOf(job);
    if (at >= 0) this.#queue.splice(at, 1);
    // A running job is left to finish: stopping it would cost a worker, and its result is dropped.
    this.#fail(job, reason);
    this.#pump();
  }

  #fail(job: Job, error: unknown): void {
    if (job.settled) return;
    this.#stats.failed++;
    this.#settle(job);
    job.reject(error);
  }

  #settle(job: Job): void {
    job.settled = true;
    job.input = null;
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
  }

  /** The module cannot be used: fail everything, stop every worker, and refuse new jobs. */
  #breakPool(message: string): void {
    if (this.#fatal) return;
    this.#fatal = new KernelError(message, { reason: "load" });
    this.#log.error("Kernel pool failed", { error: this.#fatal });
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#fatal);
    for (const job of this.#queue.splice(0)) this.#fail(job, this.#fatal);
    for (const slot of this.#slots) {
      if (slot.job) this.#fail(slot.job, this.#fatal);
      clearTimeout(slot.job?.timer);
      slot.job = null;
      this.#terminate(slot);
    }
    this.#startup?.reject(this.#fatal);
    this.#startup = null;
    this.#drained?.();
    this.#drained = null;
  }
}
