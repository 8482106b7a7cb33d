/**
 * The HTTP application: every resource's sub-app composed under one Hono app with shared middleware.
 *
 * @module
 */
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { Logger } from "../observability/logger.ts";
import { Telemetry } from "../observability/metrics.ts";
import { errorHandler } from "./errors.ts";
import { healthRoutes, type Readiness } from "./health.ts";
import { metricsRoutes, requestMetrics } from "./metrics.ts";
import { ingestRoutes } from "./ingest.ts";
import { runRoutes } from "./runs.ts";
import { dlqRoutes } from "./dlq.ts";
import type { Runtime } from "../server/runtime.ts";
import { versionRoutes } from "./version.ts";

/** What the routes need from the running process. */
export interface AppOptions {
  logger: Logger;
  /** Where request metrics go and what `/metrics` renders. Default: a fresh registry. */
  telemetry?: Telemetry;
  /** The opened runtime; undefined while starting (data routes answer 503). Absent: health routes only. */
  runtime?: () => Runtime | undefined;
  /** Where idempotent request bodies are spooled. Default `./data/spool`. */
  spoolDir?: string;
  /** How long a claimed Idempotency-Key blocks retries unless renewed. Default 30 s. */
  idempotencyLeaseMs?: number;
  /** Read by `/readyz` on every request. */
  readiness: () => Readiness;
  /** Deadline for each readiness check. Default 2000 ms. */
  checkTimeoutMs?: number;
}

/**
 * Builds the weir HTTP app.
 *
 * @example
 * ```ts
 * import { createApp } from "./mod.ts";
 * import { createLogger } from "../observability/logger.ts";
 * const app = createApp({
 *   logger: createLogger({ write: () => {} }),
 *   readiness: () => ({ phase: "serving", dependencies: [] }),
 * });
 * const response = await app.request("/healthz");
 * if (response.status !== 200) throw new Error("not live");
 * ```
 */
export function createApp(options: AppOptions): Hono {
  const app = new Hono();
  const telemetry = options.telemetry ?? new Telemetry();
  app.use(requestId());
  app.use(requestMetrics(telemetry));
  app.route("/", healthRoutes(options));
  app.route("/", metricsRoutes(telemetry));
  if (options.runtime) {
    app.route(
      "/",
      ingestRoutes({
        runtime: options.runtime,
        spoolDir: options.spoolDir ?? "./data/spool",
        leaseMs: options.idempotencyLeaseMs,
      }),
    );
    app.route("/", runRoutes(options.runtime));
    app.route("/", dlqRoutes(options.runtime));
  }
  app.route("/", versionRoutes());
  app.notFound((c) =>
    c.json({ error: { code: "not_found", message: `No route: ${c.req.method} ${c.req.path}` } }, 404)
  );
  app.onError(errorHandler(options.logger));
  return app;
}
