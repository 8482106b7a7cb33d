/**
 * Liveness and readiness. Liveness says the process answers; readiness says weir has opened its runtime and every
 * configured dependency answers.
 *
 * @module
 */
import { Hono } from "hono";
import { checkDependencies, type Dependency } from "../server/dependencies.ts";

/** Where the process is in its life: serving only in `serving`. */
export type Phase = "starting" | "serving" | "draining";

/** What readiness looks at, read on every request. */
export interface Readiness {
  phase: Phase;
  /** The dependencies opened so far (none while starting). */
  dependencies: readonly Dependency[];
}

/** What the health routes need. */
export interface HealthOptions {
  readiness: () => Readiness;
  /** Deadline for each dependency check. */
  checkTimeoutMs?: number;
}

/** `GET /healthz` and `GET /readyz`. */
export function healthRoutes(options: HealthOptions): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const { phase, dependencies } = options.readiness();
    const report = await checkDependencies(dependencies, { timeoutMs: options.checkTimeoutMs });
    const allUp = Object.values(report).every((dependency) => dependency.status === "up");
    const ready = phase === "serving" && allUp;
    const status = phase !== "serving" ? phase : ready ? "ready" : "unready";
    return c.json({ status, dependencies: report }, ready ? 200 : 503);
  });
  return app;
}
