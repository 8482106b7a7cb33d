/**
 * `GET /v1/version`: what is running, for support requests and deploy checks.
 *
 * @module
 */
import { Hono } from "hono";
import denoConfig from "../deno.json" with { type: "json" };

/** weir's version, from deno.json. */
export const WEIR_VERSION: string = denoConfig.version;

/** The version route. */
export function versionRoutes(): Hono {
  const app = new Hono();
  app.get("/v1/version", (c) =>
    c.json({
      name: "weir",
      version: WEIR_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
    }));
  return app;
}
