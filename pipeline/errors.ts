/**
 * Typed errors for weir. Whether a failure is retried is decided by the runner from these types,
 * never inside a component. Messages are sentence case, no final period, a colon before detail.
 *
 * @module
 */

/** Options shared by weir's errors. */
export interface WeirErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/** A failure inside a pipeline component (source, transform, sink). */
export class PipelineError extends Error {
  override name = "PipelineError";
  /** The component that failed, e.g. `sink.postgres`. */
  readonly component: string;
  /** Whether the same work may succeed when tried again. */
  readonly retriable: boolean;

  constructor(message: string, options: WeirErrorOptions & { component: string; retriable: boolean }) {
    super(message, { cause: options.cause });
    this.component = options.component;
    this.retriable = options.retriable;
  }
}

/** A configuration value is missing or wrong; `path` names it (an env variable or a YAML path). */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** Where the bad value lives, e.g. `PORT` or `pipelines.orders.sinks[0]`. */
  readonly path: string;

  constructor(message: string, options: WeirErrorOptions & { path: string }) {
    super(message, { cause: options.cause });
    this.path = options.path;
  }
}

/**
 * A WASM kernel failed: it trapped, timed out, returned an error status, its worker died, its pool was
 * closed, or the module could not be loaded (`load`: missing or stale build).
 */
export class KernelError extends Error {
  override name = "KernelError";
  /** What went wrong, for callers that branch on it. */
  readonly reason: "trap" | "timeout" | "status" | "worker" | "closed" | "load";
  /** The kernel's status code when `reason` is `status`. */
  readonly status?: number;

  constructor(
    message: string,
    options: WeirErrorOptions & { reason: KernelError["reason"]; status?: number },
  ) {
    super(message, { cause: options.cause });
    this.reason = options.reason;
    this.status = options.status;
  }
}

/** Malformed CSV that cannot be recovered row by row, with its 1-based position in the input. */
export class CsvSyntaxError extends SyntaxError {
  override name = "CsvSyntaxError";
  /** 1-based line of the input where the problem was found. */
  readonly line: number;
  /** 1-based column (in bytes) on that line. */
  readonly column: number;

  constructor(message: string, options: WeirErrorOptions & { line: number; column: number }) {
    super(message, { cause: options.cause });
    this.line = options.line;
    this.column = options.column;
  }
}

/**
 * Whether the same work may succeed when tried again: the first {@linkcode PipelineError} in the cause chain
 * says so; a kernel failure (a worker died, a timeout) is worth another try; anything else is not.
 */
export function isRetriable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof PipelineError) return e.retriable;
    if (e.name === "KernelError") return true;
    e = e.cause;
  }
  return false;
}
