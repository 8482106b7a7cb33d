/**
 * The two ingest modes besides the chunked, committed one of routes/ingest.ts:
 *
 * - **accepted** (`ack: accepted` in the pipeline's http source, or `?wait=false` on any request): the decoded
 *   body is fsync'd to the spool, a `pending` run and a drain job are stored in one transaction, and the answer
 *   is 202 with the run id; pipeline/spool_drainer.ts lands it later, in order, surviving restarts.
 *   `?wait=true` asks an `ack: accepted` pipeline for the committed answer instead.
 * - **grouped**: a small body (an identity `Content-Length` up to {@linkcode GROUP_MAX_BYTES}) without an
 *   idempotency key, on the committed path, is handed to the pipeline's group committer
 *   (pipeline/group_commit.ts), which shares one sink write among concurrent small requests.
 *
 * @module
 */
import { HttpError } from "./errors.ts";
import type { Runtime } from "../server/runtime.ts";
import type { PipelinePlan } from "../pipeline/plan.ts";
import { CsvSyntaxError } from "../pipeline/errors.ts";
import { jsonArrayToNdjson } from "../pipeline/json_array.ts";
import { newRunId, runIdFor } from "../pipeline/run_ids.ts";
import type { IngestResult } from "../pipeline/runner.ts";
import type { Format } from "../pipeline/sources/dialect.ts";
import { spoolBody } from "../pipeline/spool.ts";
import { spoolJobKind, type SpoolJobPayload } from "../pipeline/spool_drainer.ts";
import type { IdempotencyBegin, JsonValue } from "../storage/store.ts";

/** Bodies up to this many bytes may be group-committed. */
export const GROUP_MAX_BYTES = 64 * 1024;

/** How a request is processed. */
export type IngestMode = "accepted" | "grouped" | "chunked";

/** What an ingest mode answers. */
export interface ModeAnswer {
  status: 200 | 202 | 502;
  response: JsonValue;
  headers?: Record<string, string>;
}

/** Picks the mode of a request from its pipeline's `ack`, `?wait`, its idempotency key and its size. */
export function ingestMode(
  plan: PipelinePlan,
  request: { wait?: string; key?: string; encoding: string; contentLength: number },
): IngestMode {
  const wait = request.wait?.toLowerCase();
  if (wait === "false" || (plan.http?.ack === "accepted" && wait !== "true")) return "accepted";
  if (
    request.key === undefined && request.encoding === "identity" &&
    request.contentLength > 0 && request.contentLength <= GROUP_MAX_BYTES
  ) {
    return "grouped";
  }
  return "chunked";
}

/**
 * Spools the body durably and answers 202 with the run id. With an idempotency key, a retry gets the first
 * answer (202 and the same run, or the committed answer when the first request waited), the same key with
 * another body 409.
 */
export async function acceptIngest(
  runtime: Runtime,
  plan: PipelinePlan,
  input: {
    format: Format;
    body: AsyncIterable<Uint8Array>;
    key?: string;
    spoolDir: string;
    leaseMs?: number;
  },
): Promise<ModeAnswer> {
  const { key } = input;
  if (key !== undefined && key.length > 200) {
    throw new HttpError(400, {
      code: "bad_idempotency_key",
      message: "Idempotency-Key is longer than 200 characters",
    });
  }
  const spooled = await spoolBody(`${input.spoolDir}/accepted`, input.body, { prefix: `${plan.name}-` });
  let keep = false;
  const ref = key === undefined ? undefined : { pipeline: plan.name, key };
  try {
    let runId: string;
    if (ref) {
      const claim = await runtime.store.idempotency.begin({
        ...ref,
        bodyHash: spooled.sha256,
        leaseMs: input.leaseMs ?? 30_000,
      });
      if (claim.state === "done") {
        const committed = typeof claim.response === "object" && claim.response !== null &&
          !Array.isArray(claim.response) && claim.response.committed === true;
        return { status: committed ? 200 : 202, response: claim.response };
      }
      refuseClaim(claim);
      runId = await runIdFor(plan.name, ref.key);
    } else {
      runId = newRunId();
    }
    const response = { run: runId, status: "accepted", bytes: spooled.bytes, committed: false };
    const payload: SpoolJobPayload = {
      run: runId,
      pipeline: plan.name,
      path: spooled.path,
      format: input.format,
      bytes: spooled.bytes,
      key: key ?? null,
    };
    try {
      // Run, job and key together: after a crash either all of them exist (and the drainer lands the body) or
      // none (and the client, not answered, retries).
      keep = await runtime.store.transaction(async (tx) => {
        if ((await tx.runs.get(runId)) === null) {
          await tx.runs.create({
            id: runId,
            pipeline: plan.name,
            status: "pending",
            idempotencyKey: key ?? null,
          });
        }
        const job = await tx.jobs.enqueue({
          kind: spoolJobKind(plan.name),
          payload: payload as unknown as JsonValue,
          dedupeKey: `spool:${runId}`,
          maxAttempts: 1_000_000,
        });
        if (ref) await tx.idempotency.complete(ref, response);
        // An earlier job of this run (a key retried after its answer was lost) already holds a body.
        return (job.payload as unknown as SpoolJobPayload).path === spooled.path;
      });
    } catch (error) {
      if (ref) await runtime.store.idempotency.abandon(ref).catch(() => {});
      throw error;
    }
    runtime.drainer.wake(plan.name);
    return { status: 202, response, headers: { location: `/v1/runs/${runId}` } };
  } finally {
    if (!keep) await Deno.remove(spooled.path).catch(() => {});
  }
}

/**
 * Reads a small body whole (an identity body of a declared length within the limit: no stream to decode) and
 * commits it with the concurrent small requests of its pipeline.
 */
export async function ingestGrouped(
  runtime: Runtime,
  plan: PipelinePlan,
  input: { format: Format; body: Request },
): Promise<ModeAnswer> {
  const committer = runtime.groups.get(plan.name);
  if (!committer) throw new Error(`No group committer for pipeline ${plan.name}`);
  if (committer.full) {
    throw new HttpError(503, {
      code: "overloaded",
      message: `Pipeline ${plan.name} has too many small requests waiting: retry later`,
      headers: { "retry-after": "1" },
    });
  }
  let bytes: Uint8Array = new Uint8Array(await input.body.arrayBuffer());
  if (bytes.length === 0) throw new HttpError(400, { code: "empty_body", message: "Request body is empty" });
  if (input.format === "json") bytes = await collect(jsonArrayToNdjson(once(bytes)));
  let result: IngestResult;
  try {
    result = await committer.submit({ format: input.format === "json" ? "ndjson" : input.format, bytes });
  } catch (error) {
    if (error instanceof CsvSyntaxError && /header/i.test(error.message)) {
      throw new HttpError(422, { code: "schema_mismatch", message: error.message, cause: error });
    }
    throw error;
  }
  return { status: result.committed ? 200 : 502, response: ingestResponse(result) };
}

/** The body of an ingest answer: the same for every mode. */
export function ingestResponse(result: IngestResult): JsonValue {
  return {
    run: result.run,
    accepted: result.accepted,
    rejected: result.rejected,
    rejects: result.rejects.map((r) => ({ line: r.line, column: r.column, rule: r.rule, value: r.value })),
    bytes: result.bytes,
    committed: result.committed,
    ...(result.failedChunks > 0 ? { failedChunks: result.failedChunks } : {}),
    ...(result.quality ? { quality: result.quality as unknown as JsonValue } : {}),
  };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const piece of body) {
    parts.push(piece);
    length += piece.length;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Answers 409 for a key used with another body, or one whose first request is still being processed. */
export function refuseClaim(claim: IdempotencyBegin): void {
  if (claim.state === "conflict") {
    throw new HttpError(409, {
      code: "idempotency_conflict",
      message: "Idempotency-Key was already used with a different body",
    });
  }
  if (claim.state === "in_progress") {
    throw new HttpError(409, {
      code: "in_progress",
      message: "A request with this Idempotency-Key is being processed: retry later",
      headers: { "retry-after": "2" },
    });
  }
}
