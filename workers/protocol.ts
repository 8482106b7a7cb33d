/**
 * Messages between the kernel pool and its workers. Buffers travel in the transfer list, never copied:
 * a job's input moves to the worker, its output (and, after a trap, its input) moves back.
 *
 * @module
 */

/** The pool gives a new worker the compiled module; the worker instantiates it once. */
export interface InitMessage {
  type: "init";
  module: WebAssembly.Module;
}

/** One job: run `op` on `input` with `params`. `attempt` counts from 1. */
export interface JobMessage {
  type: "job";
  id: number;
  op: string;
  attempt: number;
  input: ArrayBuffer | null;
  params: unknown;
  /**
   * Output buffers a consumer gave back (`KernelPool.giveBack`), transferred for the worker to copy later
   * results into. Nothing on the pool's side refers to them any more.
   */
  spare: ArrayBuffer[];
}

/** Messages the pool sends to a kernel worker. */
export type PoolMessage = InitMessage | JobMessage;

/** The worker's instance is ready for jobs. */
export interface ReadyMessage {
  type: "ready";
}

/** The worker could not instantiate the module; the pool cannot work. */
export interface InitFailedMessage {
  type: "init_failed";
  message: string;
}

/** A job finished; `output` is transferred. */
export interface ResultMessage {
  type: "result";
  id: number;
  value: unknown;
  output: ArrayBuffer | null;
}

/**
 * A job failed. `kind` says how: `trap` (the instance trapped and must not be reused), `status` (a kernel
 * returned a failure status), `error` (anything else thrown by the op). `input` comes back when the op did
 * not consume it, so a trapped job can be retried without a copy.
 */
export interface ErrorMessage {
  type: "error";
  id: number;
  kind: "trap" | "status" | "error";
  message: string;
  status?: number;
  /** Set when the op threw a `CsvSyntaxError`: its position, so the pool can raise that error again. */
  csv?: { line: number; column: number };
  input: ArrayBuffer | null;
}

/** Messages a kernel worker sends to the pool. */
export type WorkerMessage = ReadyMessage | InitFailedMessage | ResultMessage | ErrorMessage;

/**
 * Smallest output buffer that is given back for reuse (`KernelPool.giveBack`, the workers' free-lists):
 * smaller ones cost little to allocate, and a small batch must not pin a large reused buffer.
 */
export const OUTPUT_REUSE_MIN_BYTES = 1 << 20;
