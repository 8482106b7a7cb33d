/**
 * The one mapping from errors to HTTP responses: `{ "error": { "code", "message" } }`.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConfigError, CsvSyntaxError, KernelError, PipelineError } from "../pipeline/errors.ts";
import type { Logger } from "../observability/logger.ts";

/** An error a route raises on purpose, with the status and code the client sees. */
export class HttpError extends HTTPException {
  /** Machine-readable code, e.g. `unsupported_media_type`. */
  readonly code: string;
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    options: { code: string; message: string; headers?: Record<string, string>; cause?: unknown },
  ) {
    super(status, { message: options.message, cause: options.cause });
    this.code = options.code;
    this.headers = options.headers ?? {};
  }
}

/** The body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; requestId?: string };
}

/** Builds the `onError` handler; unexpected errors are logged, and their details never reach the client. */
export function errorHandler(logger: Logger): (error: Error, c: Context) => Response {
  return (error, c) => {
    const requestId = c.get("requestId") as string | undefined;
    const [status, code, message, headers] = describe(error);
    // An HttpError is an answer weir chose (503 while starting, 502 after a sink gave up, …): worth a warning;
    // anything else reaching here is a bug or an outage.
    if (status >= 500) {
      const log = error instanceof HttpError ? logger.warn : logger.error;
      log.call(logger, "Request failed", { requestId, path: c.req.path, error });
    }
    const body: ErrorBody = { error: { code, message, requestId } };
    return c.json(body, status, headers);
  };
}

function describe(error: Error): [ContentfulStatusCode, string, string, Record<string, string>] {
  if (error instanceof HttpError) return [error.status, error.code, error.message, error.headers];
  if (error instanceof HTTPException) {
    return [
      error.status as ContentfulStatusCode,
      statusCode(error.status),
      error.message || "Request failed",
      {},
    ];
  }
  if (error instanceof CsvSyntaxError) {
    return [400, "csv_syntax", `${error.message}: line ${error.line}, column ${error.column}`, {}];
  }
  if (error instanceof ConfigError) return [422, "invalid_config", error.message, {}];
  if (error instanceof KernelError && error.reason === "closed") {
    return [503, "shutting_down", "The server is shutting down: retry on another instance", {
      "retry-after": "1",
    }];
  }
  if (error instanceof PipelineError && error.retriable) {
    return [503, "unavailable", `${error.component} is unavailable: retry later`, { "retry-after": "5" }];
  }
  return [500, "internal", "Internal error: see the server log with the request id", {}];
}

function statusCode(status: number): string {
  const names: Record<number, string> = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "unavailable",
  };
  return names[status] ?? "error";
}
