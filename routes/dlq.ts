/**
 * The dead-letter queue over HTTP: list a pipeline's dead letters, read one with its original bytes, replay it
 * through the pipeline as it is now (after a fix), and purge.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { HttpError } from "./errors.ts";
import { parseQuery, requireRuntime } from "./runs.ts";
import type { Runtime } from "../server/runtime.ts";
import { runIngest } from "../pipeline/runner.ts";

const ListQuery = v.strictObject({
  stage: v.optional(v.string()),
  run: v.optional(v.string()),
  replayed: v.optional(v.pipe(v.picklist(["true", "false"]), v.transform((s) => s === "true"))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "expected a whole number"), v.transform(Number))),
  cursor: v.optional(v.string()),
});

const PurgeQuery = v.strictObject({
  before: v.optional(v.pipe(v.string(), v.isoTimestamp("expected an ISO 8601 timestamp"))),
  replayedOnly: v.optional(v.pipe(v.picklist(["true", "false"]), v.transform((s) => s === "true"))),
});

const ReplayQuery = v.strictObject({
  format: v.optional(v.picklist(["csv", "ndjson"])),
});

/** The dead-letter routes. */
export function dlqRoutes(runtime: () => Runtime | undefined): Hono {
  const app = new Hono();

  app.get("/v1/pipelines/:name/dlq", async (c) => {
    const query = parseQuery(ListQuery, c.req.query());
    const page = await requireRuntime(runtime).store.deadLetters.list({
      pipeline: c.req.param("name"),
      stage: query.stage,
      runId: query.run,
      replayed: query.replayed,
      limit: query.limit,
      cursor: query.cursor,
    });
    return c.json(page);
  });

  app.delete("/v1/pipelines/:name/dlq", async (c) => {
    const query = parseQuery(PurgeQuery, c.req.query());
    const purged = await requireRuntime(runtime).store.deadLetters.purge({
      pipeline: c.req.param("name"),
      before: query.before ? new Date(query.before) : new Date(),
      replayedOnly: query.replayedOnly,
    });
    return c.json({ purged });
  });

  app.get("/v1/dlq/:id", async (c) => {
    const letter = await requireRuntime(runtime).store.deadLetters.get(c.req.param("id"));
    if (!letter) {
      throw new HttpError(404, {
        code: "unknown_dead_letter",
        message: `Unknown dead letter: ${c.req.param("id")}`,
      });
    }
    const { original, ...info } = letter;
    return c.json({
      ...info,
      original: new TextDecoder().decode(original),
      originalBase64: toBase64(original),
    });
  });

  app.post("/v1/dlq/:id/replay", async (c) => {
    const opened = requireRuntime(runtime);
    const query = parseQuery(ReplayQuery, c.req.query());
    const letter = await opened.store.deadLetters.get(c.req.param("id"));
    if (!letter) {
      throw new HttpError(404, {
        code: "unknown_dead_letter",
        message: `Unknown dead letter: ${c.req.param("id")}`,
      });
    }
    const plan = opened.pipelines.get(letter.pipeline);
    if (!plan) {
      throw new HttpError(409, { code: "unknown_pipeline", message: `Pipeline ${letter.pipeline} is gone` });
    }
    // CSV dead letters carry their header; NDJSON ones are a JSON object.
    const format = query.format ??
      (letter.original[firstNonBlank(letter.original)] === 0x7b ? "ndjson" : "csv");
    const result = await runIngest(plan, { format, body: ReadableStream.from([letter.original]) }, {
      store: opened.store,
      pool: opened.pool,
      kernels: opened.kernels,
      logger: opened.logger,
      runId: `r_replay_${letter.id}_${Date.now()}`,
      signal: c.req.raw.signal,
    });
    const landed = result.committed && result.rejected === 0;
    if (landed) await opened.store.deadLetters.markReplayed([letter.id]);
    return c.json({ replayed: landed, ...result }, landed ? 200 : 422);
  });

  return app;
}

function firstNonBlank(bytes: Uint8Array): number {
  let at = 0;
  while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d)) at++;
  return at;
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
