/**
 * Liveness and readiness. Liveness says the process answers; readiness says every configured dependency does.
 *
 * @module
 */
import { Hono } from "hono";
import { checkDependencies, type Dependency } from "../server/dependencies.ts";

/** What the health routes need. */
export interface HealthOptions {
  dependencies: readonly Dependency[];
  /** True once shutdown began: readiness turns 503 so load balancers stop sending work. */
  isDraining: () => boolean;
  /** Deadline for each dependency check. */
  checkTimeoutMs?: number;
}

/** `GET /healthz` and `GET /readyz`. */
export function healthRoutes(options: HealthOptions): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const dependencies = await checkDependencies(options.dependencies, { timeoutMs: options.checkTimeoutMs });
    const draining = options.isDraining();
    const ready = !draining && Object.values(dependencies).every((dependency) => dependency.status === "up");
    const status = draining ? "draining" : ready ? "ready" : "unready";
    return c.json({ status, dependencies }, ready ? 200 : 503);
  });
  return app;
}
