/**
 * `GET /metrics` (Prometheus text) and the middleware that measures every request.
 *
 * @module
 */
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import type { Telemetry } from "../observability/metrics.ts";

/** The Prometheus scrape endpoint. */
export function metricsRoutes(telemetry: Telemetry): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    c.header("content-type", telemetry.registry.contentType);
    return c.body(await telemetry.render());
  });
  return app;
}

/** Records each request's duration by method, matched route and status (OTel HTTP semantic conventions). */
export function requestMetrics(telemetry: Telemetry) {
  const duration = telemetry.histogram({
    name: "weir.http.server.request.duration",
    description: "Duration of HTTP requests served by weir",
    unit: "s",
    labels: ["http.request.method", "http.route", "http.response.status_code"],
  });
  return createMiddleware(async (c, next) => {
    const started = performance.now();
    await next();
    duration.record((performance.now() - started) / 1000, {
      "http.request.method": c.req.method,
      // The route pattern, not the path: paths with ids would make one series per request.
      "http.route": c.req.routePath,
      "http.response.status_code": String(c.res.status),
    });
  });
}
