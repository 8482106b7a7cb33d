/**
 * `POST /v1/pipelines/:name/ingest`: a CSV, NDJSON or JSON-array body streamed through the chunker and the
 * kernel pool into the pipeline's sinks. The answer comes after every sink committed (or the rows were
 * dead-lettered), so a 2xx means durable.
 *
 * With an `Idempotency-Key` the body is first spooled to disk while it is hashed (memory stays bounded), then the
 * key is claimed: a retry of a finished request returns the first answer and writes nothing, the same key with
 * another body is 409, and a retry after a crash continues the same run (same run id, same chunks), which the
 * sinks deduplicate.
 *
 * @module
 */
import { Hono } from "hono";
import { createHash } from "node:crypto";
import { HttpError } from "./errors.ts";
import { requireRuntime } from "./runs.ts";
import type { Runtime } from "../server/runtime.ts";
import type { PipelinePlan } from "../pipeline/plan.ts";
import { type IngestResult, runIngest } from "../pipeline/runner.ts";
import { jsonArrayToNdjson } from "../pipeline/json_array.ts";
import type { Format } from "../pipeline/sources/dialect.ts";
import { CsvSyntaxError, isRetriable, PipelineError } from "../pipeline/errors.ts";
import { errorChain, type JsonValue } from "../storage/store.ts";
import { newRunId, runIdFor } from "../pipeline/run_ids.ts";
import { acceptIngest, ingestGrouped, ingestMode, ingestResponse, refuseClaim } from "./ingest_modes.ts";

/** What the ingest routes need. */
export interface IngestOptions {
  /** The runtime, once open. */
  runtime: () => Runtime | undefined;
  /** Where idempotent bodies are spooled. */
  spoolDir: string;
  /** How long a claimed key blocks a retry without being renewed; renewed every third of it. Default 30 s. */
  leaseMs?: number;
}

const MEDIA_TYPES: Record<string, Format> = {
  "text/csv": "csv",
  "application/csv": "csv",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/json": "json",
};

/** The ingest route. */
export function ingestRoutes(options: IngestOptions): Hono {
  const app = new Hono();
  const running = new Map<string, number>();

  app.post("/v1/pipelines/:name/ingest", async (c) => {
    const runtime = requireRuntime(options.runtime);
    const name = c.req.param("name");
    const plan = runtime.pipelines.get(name);
    if (!plan) throw new HttpError(404, { code: "unknown_pipeline", message: `Unknown pipeline: ${name}` });
    if (!plan.http) {
      throw new HttpError(404, {
        code: "no_http_source",
        message: `Pipeline ${name} does not take HTTP ingestion`,
      });
    }
    const format = mediaFormat(c.req.header("content-type"), plan);
    const encoding = contentEncoding(c.req.header("content-encoding"), plan);
    const limit = plan.http.maxBodySize;
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (encoding === "identity" && declared > limit) throw tooLarge(limit);
    if (!c.req.raw.body) throw new HttpError(400, { code: "empty_body", message: "Request body is empty" });
    const key = c.req.header("idempotency-key");
    const mode = ingestMode(plan, { wait: c.req.query("wait"), key, encoding, contentLength: declared });
    if (mode === "grouped") {
      // Small requests share sink writes; their own queue bound answers 503 instead of the ingest limit.
      const answer = await ingestGrouped(runtime, plan, { format, body: c.req.raw });
      return c.json(answer.response, answer.status);
    }

    const active = running.get(name) ?? 0;
    if (active >= plan.spec.limits.maxConcurrentIngests) {
      throw new HttpError(429, {
        code: "too_many_ingests",
        message: `Pipeline ${name} is running ${active} ingests, its limit: retry later`,
        headers: { "retry-after": "1" },
      });
    }
    running.set(name, active + 1);
    try {
      const decoded = decode(c.req.raw.body, encoding, limit);
      if (mode === "accepted") {
        const answer = await acceptIngest(runtime, plan, {
          format,
          body: decoded,
          key,
          spoolDir: options.spoolDir,
          leaseMs: options.leaseMs,
        });
        return c.json(answer.response, answer.status, answer.headers);
      }
      const result = key
        ? await ingestIdempotent(runtime, plan, {
          key,
          format,
          body: decoded,
          options,
          signal: c.req.raw.signal,
        })
        : await ingest(runtime, plan, { format, body: decoded, runId: newRunId(), signal: c.req.raw.signal });
      return c.json(result.response, result.status);
    } finally {
      running.set(name, (running.get(name) ?? 1) - 1);
    }
  });
  return app;
}

function mediaFormat(header: string | undefined, plan: PipelinePlan): Format {
  const type = header?.split(";")[0].trim().toLowerCase() ?? "";
  const format = MEDIA_TYPES[type];
  if (!format || !plan.http!.formats.includes(format)) {
    const accepted = Object.entries(MEDIA_TYPES).filter(([, f]) => plan.http!.formats.includes(f)).map((
      [t],
    ) => t);
    throw new HttpError(415, {
      code: "unsupported_media_type",
      message: `Unsupported content type: ${type || "none"} (expected one of ${accepted.join(", ")})`,
    });
  }
  return format;
}

function contentEncoding(header: string | undefined, plan: PipelinePlan): "identity" | "gzip" | "deflate" {
  const encoding = (header ?? "identity").trim().toLowerCase();
  const allowed = plan.http!.encodings as readonly string[];
  if (!allowed.includes(encoding)) {
    throw new HttpError(415, {
      code: "unsupported_encoding",
      message: `Unsupported content encoding: ${encoding} (expected one of ${allowed.join(", ")})`,
    });
  }
  return encoding as "identity" | "gzip" | "deflate";
}

const tooLarge = (limit: number) =>
  new HttpError(413, {
    code: "payload_too_large",
    message: `Request body is over the limit: ${limit} bytes`,
  });

/** Decompresses and counts; a corrupt stream is a 400 and a body over the limit a 413, raised while reading. */
async function* decode(
  body: ReadableStream<Uint8Array>,
  encoding: "identity" | "gzip" | "deflate",
  limit: number,
): AsyncGenerator<Uint8Array> {
  const stream: ReadableStream<Uint8Array> = encoding === "identity" ? body : body.pipeThrough(
    new DecompressionStream(encoding) as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  let total = 0;
  try {
    for await (const piece of stream) {
      total += piece.length;
      if (total > limit) throw tooLarge(limit);
      yield piece;
    }
    // A client that sends no bytes (Content-Length: 0, or an empty stream) has sent nothing to ingest.
    if (total === 0) throw new HttpError(400, { code: "empty_body", message: "Request body is empty" });
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (isDisconnect(error)) {
      // Retriable: the client's retry may succeed (and, with an idempotency key, continues the same run).
      throw new PipelineError(`The client disconnected mid-upload, after ${total} bytes`, {
        component: "source.http",
        retriable: true,
        cause: error,
      });
    }
    if (encoding === "identity") throw error;
    throw new HttpError(400, {
      code: "bad_encoding",
      message: `Request body is not valid ${encoding}: ${error instanceof Error ? error.message : error}`,
      cause: error,
    });
  }
}

/** What reading a request body throws when the client went away (Deno.serve fails the body stream). */
function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Http ||
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.UnexpectedEof;
}

interface Answer {
  status: 200 | 502;
  response: JsonValue;
}

async function ingest(
  runtime: Runtime,
  plan: PipelinePlan,
  input: {
    format: Format;
    body: AsyncIterable<Uint8Array>;
    runId: string;
    signal: AbortSignal;
    key?: string;
  },
): Promise<Answer> {
  let result: IngestResult;
  try {
    result = await runIngest(plan, {
      format: input.format === "json" ? "ndjson" : input.format,
      body: input.format === "json" ? jsonArrayToNdjson(input.body) : input.body,
    }, {
      store: runtime.store,
      pool: runtime.pool,
      kernels: runtime.kernels,
      logger: runtime.logger,
      runId: input.runId,
      idempotencyKey: input.key ?? null,
      signal: input.signal,
    });
  } catch (error) {
    if (error instanceof CsvSyntaxError && /header/i.test(error.message)) {
      throw new HttpError(422, { code: "schema_mismatch", message: error.message, cause: error });
    }
    throw error;
  }
  const response = ingestResponse(result);
  // Rows that no sink could take are kept in the dead-letter queue, but they were not delivered: not a 2xx.
  return { status: result.committed ? 200 : 502, response };
}

async function ingestIdempotent(
  runtime: Runtime,
  plan: PipelinePlan,
  input: {
    key: string;
    format: Format;
    body: AsyncIterable<Uint8Array>;
    options: IngestOptions;
    signal: AbortSignal;
  },
): Promise<Answer> {
  if (input.key.length > 200) {
    throw new HttpError(400, {
      code: "bad_idempotency_key",
      message: "Idempotency-Key is longer than 200 characters",
    });
  }
  await Deno.mkdir(input.options.spoolDir, { recursive: true });
  const path = await Deno.makeTempFile({ dir: input.options.spoolDir, prefix: "ingest-" });
  try {
    const hash = createHash("sha256");
    try {
      using file = await Deno.open(path, { write: true });
      for await (const piece of input.body) {
        hash.update(piece);
        await file.write(piece).then(async (n) => {
          // write() may write less than asked; finish the piece.
          for (let at = n; at < piece.length;) at += await file.write(piece.subarray(at));
        });
      }
    } catch (error) {
      if (isRetriable(error)) await recordInterruptedUpload(runtime, plan, input.key, error);
      throw error;
    }
    const bodyHash = hash.digest("hex");
    const ref = { pipeline: plan.name, key: input.key };
    const leaseMs = input.options.leaseMs ?? 30_000;
    const claim = await runtime.store.idempotency.begin({ ...ref, bodyHash, leaseMs });
    if (claim.state === "done") return { status: 200, response: claim.response };
    refuseClaim(claim);
    const renew = setInterval(() => {
      runtime.store.idempotency.renew(ref, leaseMs).catch(() => {});
    }, leaseMs / 3);
    try {
      using file = await Deno.open(path, { read: true });
      const answer = await ingest(runtime, plan, {
        format: input.format,
        body: file.readable,
        runId: await runIdFor(plan.name, input.key),
        signal: input.signal,
        key: input.key,
      });
      if (answer.status === 200) await runtime.store.idempotency.complete(ref, answer.response);
      else await runtime.store.idempotency.abandon(ref);
      return answer;
    } catch (error) {
      // The retry must be processed, not told "in progress" until the lease runs out.
      await runtime.store.idempotency.abandon(ref).catch(() => {});
      throw error;
    } finally {
      clearInterval(renew);
    }
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

/**
 * A keyed upload cut short (its client disconnected) leaves its run `interrupted`, so that GET /v1/runs/:id
 * says what happened; the client's retry with the key reopens it. A run that is running (a concurrent request
 * with the key holds it) or finished is left alone.
 */
async function recordInterruptedUpload(
  runtime: Runtime,
  plan: PipelinePlan,
  key: string,
  cause: unknown,
): Promise<void> {
  const id = await runIdFor(plan.name, key);
  const patch = { status: "interrupted", error: errorChain(cause) as unknown as JsonValue } as const;
  try {
    await runtime.store.transaction(async (tx) => {
      const run = await tx.runs.get(id);
      if (run === null) await tx.runs.create({ id, pipeline: plan.name, idempotencyKey: key });
      if (run === null || run.status === "interrupted") await tx.runs.update(id, patch);
    });
  } catch (error) {
    runtime.logger.warn("Recording an interrupted upload failed", { pipeline: plan.name, run: id, error });
  }
}
