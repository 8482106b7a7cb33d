/**
 * `GET /v1/runs` and `GET /v1/runs/:id`: what each ingest did, with counts, timings per stage and bytes.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { HttpError } from "./errors.ts";
import type { Runtime } from "../server/runtime.ts";

const RUN_STATUSES = ["pending", "running", "interrupted", "committed", "failed"] as const;

const ListQuery = v.strictObject({
  pipeline: v.optional(v.string()),
  status: v.optional(v.picklist(RUN_STATUSES)),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "expected a whole number"), v.transform(Number))),
  cursor: v.optional(v.string()),
});

/** Parses a query string with `schema`, answering 400 with the first problem. */
export function parseQuery<S extends v.GenericSchema>(
  schema: S,
  query: Record<string, string>,
): v.InferOutput<S> {
  const result = v.safeParse(schema, query);
  if (!result.success) {
    const issue = result.issues[0];
    const name = String(issue.path?.[0]?.key ?? "query");
    throw new HttpError(400, {
      code: "bad_query",
      message: `Invalid query parameter ${name}: ${issue.message}`,
    });
  }
  return result.output;
}

/** Reads the runtime, answering 503 while weir starts. */
export function requireRuntime(runtime: () => Runtime | undefined): Runtime {
  const opened = runtime();
  if (!opened) {
    throw new HttpError(503, {
      code: "starting",
      message: "weir is starting: retry shortly",
      headers: { "retry-after": "2" },
    });
  }
  return opened;
}

/** The run routes. */
export function runRoutes(runtime: () => Runtime | undefined): Hono {
  const app = new Hono();
  app.get("/v1/runs", async (c) => {
    const query = parseQuery(ListQuery, c.req.query());
    return c.json(await requireRuntime(runtime).store.runs.list(query));
  });
  app.get("/v1/runs/:id", async (c) => {
    const run = await requireRuntime(runtime).store.runs.get(c.req.param("id"));
    if (!run) throw new HttpError(404, { code: "unknown_run", message: `Unknown run: ${c.req.param("id")}` });
    return c.json(run);
  });
  return app;
}
