/**
 * The coordinator of one ingest: chunks the input at record boundaries, has the worker pool parse and validate
 * chunks in parallel (bounded in flight, so a busy pool stops the reading of the input), then, in input order,
 * applies the transforms, writes every sink and dead-letters the rejects.
 *
 * Exactly once: sinks deduplicate per `(run, chunk sequence)`, and the dead letters of a chunk are stored in
 * one transaction with the chunk's checkpoint. A run continued after a crash (same run id, same bytes, so the
 * same chunks) skips the chunks it checkpointed and re-writes the others, which the sinks recognise.
 *
 * @module
 */
import type { Kernels } from "../kernels/mod.ts";
import type { Logger } from "../observability/logger.ts";
import type { Store } from "../storage/store.ts";
import { errorChain, type JsonValue } from "../storage/store.ts";
import type { KernelPool } from "../workers/pool.ts";
import type { ParseChunkParams } from "../workers/parse.ts";
import type { Batch } from "./batch.ts";
import type { WriteContext } from "./component.ts";
import { type Chunk, chunkRecords, csvHeader } from "./chunker.ts";
import { CsvSyntaxError, isRetriable, PipelineError } from "./errors.ts";
import type { PipelinePlan, PlannedSink } from "./plan.ts";
import type { Reject } from "./validate.ts";
import { QualityAccumulator, type QualityPartial, type QualityReport } from "../quality/checks.ts";

/**
 * Whether every transform and sink of a pipeline declares that it keeps nothing of a batch (`keepsNoBatch` on
 * its spec), so that a finished chunk's batch may be given back to the pool for reuse (`KernelPool.giveBack`).
 * A component that does not say so (a test's capturing sink, say) may hold batches: reuse is then off.
 */
export function keepsNoBatch(pipeline: {
  transforms: readonly { spec: { keepsNoBatch?: boolean } }[];
  sinks: readonly { spec: { keepsNoBatch?: boolean } }[];
}): boolean {
  return [...pipeline.transforms, ...pipeline.sinks].every((use) => use.spec.keepsNoBatch === true);
}

/** One input to ingest. */
export interface IngestInput {
  format: "csv" | "ndjson";
  /** The decoded body. */
  body: AsyncIterable<Uint8Array>;
}

/** What the ingest needs from the process. */
export interface IngestContext {
  store: Store;
  pool: KernelPool;
  /** A main-thread instance, for the record scanner. */
  kernels: Kernels;
  logger: Logger;
}

/** Options for {@linkcode runIngest}. */
export interface IngestOptions {
  /** The run id; a retried request passes the same one. */
  runId: string;
  idempotencyKey?: string | null;
  signal: AbortSignal;
  /** Chunks parsed at once; default twice the worker count. */
  maxInFlight?: number;
  /** Sink attempts for a retriable failure before the chunk is dead-lettered. Default 5. */
  sinkAttempts?: number;
  /** First retry delay; doubles each attempt, with full jitter. Default 100 ms. */
  retryBaseMs?: number;
  /** Called after each chunk with the counts so far. */
  onProgress?: (progress: IngestCounts) => void;
  /**
   * Whether a later attempt may continue this run, because it derives the same run id (an idempotency key, a
   * file's content). Then a retriable failure (the input stopped: a client disconnected, Ctrl-C; the store or a
   * worker failed) leaves the run `interrupted`, not `failed`, and the next attempt reopens it. Default: whether
   * there is an `idempotencyKey`.
   */
  resumable?: boolean;
  /**
   * Whether the run gets its final status here. Default true. The spool drainer passes false: an aborted drain
   * (a clean stop) must leave the run open, for the restarted process to continue it.
   */
  finishRun?: boolean;
}

/** Row and byte counts of a run. */
export interface IngestCounts {
  received: number;
  accepted: number;
  rejected: number;
  bytes: number;
}

/** What an ingest reports. */
export interface IngestResult extends IngestCounts {
  run: string;
  /** The first rejects, in input order (all of them are in the dead-letter queue). */
  rejects: Reject[];
  /** True when every sink committed every chunk. */
  committed: boolean;
  /** Chunks that could not be written to a sink and went to the dead-letter queue whole. */
  failedChunks: number;
  /** Milliseconds per stage. */
  timings: Record<string, number>;
  /** The pipeline's `checks` over the accepted rows; absent when it declares none. */
  quality?: QualityReport;
}

interface ChunkCheckpoint extends IngestCounts {
  rejects: Reject[];
  failed: boolean;
  /** The chunk's quality statistics, so that a resumed run, which skips this chunk, still reports them. */
  quality?: QualityPartial;
}

const encoder = new TextEncoder();

/**
 * Runs `input` through `plan` and records the run in the store. Resolves once everything is committed (or
 * dead-lettered); the caller answers the client after that.
 */
export async function runIngest(
  plan: PipelinePlan,
  input: IngestInput,
  context: IngestContext & IngestOptions,
): Promise<IngestResult> {
  const { store, pool, runId, signal } = context;
  const log = context.logger.child({ pipeline: plan.name, run: runId });
  const responseRejects = plan.spec.limits.responseRejects;
  const maxInFlight = context.maxInFlight ?? plan.spec.limits.maxInFlight ??
    Math.max(2, pool.stats().workers * 2);
  const timings: Record<string, number> = {};
  const time = stageTimer(timings);

  const existing = await store.runs.get(runId);
  // A run created here has no sink commits yet: a chunk's first write attempt need not look for any.
  const fresh = existing === null;
  if (existing === null) {
    await store.runs.create({
      id: runId,
      pipeline: plan.name,
      idempotencyKey: context.idempotencyKey ?? null,
    });
  } else if (existing.status === "interrupted") {
    await store.runs.update(runId, { status: "running" });
  }
  const consumer = `run:${runId}`;
  const done = new Map<number, ChunkCheckpoint>();
  for (const checkpoint of await store.checkpoints.load(consumer)) {
    done.set(
      checkpoint.partition,
      JSON.parse(new TextDecoder().decode(checkpoint.state ?? new Uint8Array())),
    );
  }

  const csv = plan.csv;
  let header: { bytes: Uint8Array; lines: number } | null = null;
  const totals: IngestCounts = { received: 0, accepted: 0, rejected: 0, bytes: 0 };
  const rejects: Reject[] = [];
  let failedChunks = 0;
  const quality = new QualityAccumulator(
    plan.spec.checks,
    plan.transforms.at(-1)?.schema.fields ?? plan.schema.fields,
  );

  const add = (counts: ChunkCheckpoint) => {
    totals.received += counts.received;
    totals.accepted += counts.accepted;
    totals.rejected += counts.rejected;
    totals.bytes += counts.bytes;
    for (const reject of counts.rejects) if (rejects.length < responseRejects) rejects.push(reject);
    if (counts.failed) failedChunks++;
    if (counts.quality) quality.merge(counts.quality);
    context.onProgress?.({ ...totals });
  };

  // A chunk's buffer moves to a worker, comes back with its result and is reused once the chunk is finished.
  const buffers = pool.buffers;
  // So is the parsed batch's buffer, when nothing of the pipeline can still hold the batch.
  const giveBack = keepsNoBatch({ transforms: plan.spec.transforms, sinks: plan.sinks });
  const chunks = chunkRecords(input.body, {
    format: input.format,
    kernels: context.kernels,
    delimiter: csv.delimiter,
    quote: csv.quote,
    targetBytes: plan.spec.limits.chunkSize,
    buffers,
  });

  type Pending = {
    /** The chunk; its bytes are moved to the worker, so `length` keeps their length. */
    chunk: Chunk;
    length: number;
    parsed: Promise<{ batch: Batch; rejects: Reject[]; bytes: Uint8Array<ArrayBuffer> }> | null;
  };
  const queue: Pending[] = [];

  const finishChunk = async ({ chunk, length, parsed }: Pending) => {
    const previous = done.get(chunk.sequence);
    if (previous || parsed === null) {
      add(previous!);
      return;
    }
    const { batch, rejects: chunkRejects, bytes } = await time("parse", () => parsed);
    let out = batch;
    await time("transform", async () => {
      for (const transform of plan.transforms) out = await transform.apply(out, signal);
    });
    const failures: { sink: PlannedSink; error: unknown; attempts: number }[] = [];
    for (const planned of plan.sinks) {
      const outcome = await time(
        planned.component,
        () => writeWithRetry(planned, out, { runId, sequence: chunk.sequence, signal, fresh }, context, log),
      );
      if (outcome.error !== undefined) {
        failures.push({ sink: planned, error: outcome.error, attempts: outcome.attempts });
      }
    }
    const checkpoint: ChunkCheckpoint = {
      received: batch.length + chunkRejects.length,
      accepted: failures.length === 0 ? batch.length : 0,
      rejected: chunkRejects.length,
      bytes: length,
      rejects: chunkRejects.slice(0, responseRejects),
      failed: failures.length > 0,
      // Quality describes the rows the sinks took: none of a chunk that dead-lettered whole.
      ...(quality.enabled ? { quality: failures.length === 0 ? quality.partial(out) : quality.empty() } : {}),
    };
    const rowOf = chunkRejects.length > 0
      ? recordSlicer(bytes, chunk, batch.lines, chunkRejects, header)
      : undefined;
    const letters = [
      ...chunkRejects.map((reject) => ({
        pipeline: plan.name,
        runId,
        stage: reject.rule === "json" || reject.rule === "ragged" || reject.rule === "utf8"
          ? "parse"
          : "validate",
        original: rowOf!(reject.line),
        line: reject.line,
        errors: [{
          name: "RejectedRow",
          message: `${reject.rule}: ${reject.column || "row"}: ${reject.value ?? "null"}`,
        }],
      })),
      ...failures.map(({ sink, error, attempts }) => ({
        pipeline: plan.name,
        runId,
        stage: sink.component,
        original: withHeader(bytes, chunk, header),
        line: chunk.firstLine,
        errors: errorChain(error),
        attempts,
      })),
    ];
    // Not flushed on its own: the run's final commit flushes it before any answer, and a crash that loses it
    // only makes a retry write this chunk again, which the sinks recognise.
    await time("dead_letters", () =>
      store.transaction(async (tx) => {
        if (letters.length > 0) await tx.deadLetters.add(letters);
        await tx.checkpoints.save(consumer, [{
          partition: chunk.sequence,
          offset: String(chunk.offset + length),
          state: encoder.encode(JSON.stringify(checkpoint)),
        }]);
      }, { flush: false }));
    add(checkpoint);
    // Nothing refers to the chunk's bytes any more: dead letters hold copies.
    buffers.give(bytes.buffer);
    if (giveBack) pool.giveBack(batch);
  };

  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      signal.throwIfAborted();
      if (input.format === "csv" && chunk.sequence === 0 && csv.header) {
        header = csvHeader(chunk.bytes, csv.quote);
      }
      const length = chunk.bytes.length;
      let parsed: Pending["parsed"] = null;
      if (done.has(chunk.sequence)) {
        buffers.give(chunk.bytes.buffer);
      } else {
        parsed = pool.run("parse.chunk", {
          input: chunk.bytes.buffer,
          params: parseParams(plan, input.format, chunk, header),
          signal,
        }).then(({ value, output }) => ({ ...value, bytes: new Uint8Array(output!, 0, length) }));
        parsed.catch(() => {}); // awaited in order below; a failure is raised there
      }
      queue.push({ chunk, length, parsed });
      if (queue.length >= maxInFlight) await finishChunk(queue.shift()!);
    }
    while (queue.length > 0) await finishChunk(queue.shift()!);
  } catch (error) {
    failure = error;
  }

  const committed = failure === undefined && failedChunks === 0;
  const report = quality.report();
  const finish = {
    ...totals,
    ...(report ? { quality: report as unknown as JsonValue } : {}),
    timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v * 10) / 10])),
  };
  const run = await store.runs.get(runId);
  const resumable = context.resumable ?? context.idempotencyKey != null;
  const interrupted = failure !== undefined && resumable && (signal.aborted || isRetriable(failure));
  if (context.finishRun !== false && run && run.finishedAt === null && interrupted) {
    // Only checkpointed chunks are counted: what the next attempt skips.
    await store.runs.update(runId, {
      ...finish,
      status: "interrupted",
      error: errorChain(failure) as unknown as JsonValue,
    }).catch((error) => log.warn("Recording the interruption failed: the run stays running", { error }));
  } else if (context.finishRun !== false && run && run.finishedAt === null) {
    await store.runs.finish(runId, {
      ...finish,
      status: committed ? "committed" : "failed",
      ...(failure !== undefined
        ? { error: errorChain(failure) as unknown as JsonValue }
        : failedChunks > 0
        ? { error: { failedChunks } }
        : {}),
    });
  }
  if (failure !== undefined) {
    log.warn(interrupted ? "Ingest interrupted: a retry continues it" : "Ingest failed", {
      error: failure,
      ...totals,
    });
    throw failure;
  }
  log.info("Ingest finished", { ...totals, committed, failedChunks });
  return {
    run: runId,
    ...totals,
    rejects,
    committed,
    failedChunks,
    timings: finish.timings,
    ...(report ? { quality: report } : {}),
  };
}

/**
 * The `parse.chunk` parameters of one chunk. A CSV chunk after the first carries the input's header, so that
 * any worker can parse it alone.
 */
export function parseParams(
  plan: PipelinePlan,
  format: "csv" | "ndjson",
  chunk: Pick<Chunk, "sequence" | "firstLine"> & Partial<Pick<Chunk, "lines" | "bytes">>,
  header: { bytes: Uint8Array; lines: number } | null,
): ParseChunkParams {
  // A chunk's buffer may be longer than the chunk (the chunker reuses buffers).
  const length = chunk.bytes?.length;
  if (format === "ndjson") {
    return { format, columns: plan.columns, rules: plan.rules, firstLine: chunk.firstLine, length };
  }
  const csv = plan.csv;
  if (csv.header && header === null) {
    throw new CsvSyntaxError("CSV input has no complete header record", { line: 1, column: 1 });
  }
  return {
    format,
    columns: plan.columns,
    rules: plan.rules,
    firstLine: chunk.firstLine,
    length,
    lines: chunk.lines,
    dialect: csv,
    header: chunk.sequence === 0 || !csv.header ? null : header,
  };
}

/**
 * A function that runs `fn` and adds its wall time in milliseconds to `timings[stage]`: the per-stage timings of
 * a run (chunked or grouped).
 */
export function stageTimer(
  timings: Record<string, number>,
): <T>(stage: string, fn: () => Promise<T>) => Promise<T> {
  return async (stage, fn) => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + performance.now() - started;
    }
  };
}

/** Retries a sink write while its spec calls the error retriable, with exponential backoff and full jitter. */
export async function writeWithRetry(
  planned: PlannedSink,
  batch: Batch,
  write: WriteContext,
  options: Pick<IngestOptions, "sinkAttempts" | "retryBaseMs">,
  log: Logger,
): Promise<{ error?: unknown; attempts: number }> {
  const attempts = options.sinkAttempts ?? 5;
  const base = options.retryBaseMs ?? 100;
  for (let attempt = 1;; attempt++) {
    try {
      // Only a first attempt can be fresh: a failed one may have committed part of the batch.
      await planned.sink.write(batch, { ...write, fresh: write.fresh === true && attempt === 1 });
      return { attempts: attempt };
    } catch (error) {
      write.signal.throwIfAborted();
      const retriable = planned.spec.isRetriable(error);
      if (!retriable || attempt >= attempts) {
        log.error("Sink write failed: chunk goes to the dead-letter queue", {
          sink: planned.component,
          sequence: write.sequence,
          attempts: attempt,
          retriable,
          error,
        });
        return {
          error: error instanceof Error ? error : new PipelineError(String(error), {
            component: planned.component,
            retriable,
          }),
          attempts: attempt,
        };
      }
      const delay = Math.random() * base * 2 ** (attempt - 1);
      log.warn("Sink write failed: retrying", {
        sink: planned.component,
        attempt,
        delayMs: Math.round(delay),
        error,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * A CSV dead letter carries its header, so that a replay parses it like the original. Always a copy: the chunk's
 * buffer is reused.
 */
function withHeader(bytes: Uint8Array, chunk: Chunk, header: { bytes: Uint8Array } | null): Uint8Array {
  if (header === null || chunk.sequence === 0) return bytes.slice();
  const out = new Uint8Array(header.bytes.length + bytes.length);
  out.set(header.bytes);
  out.set(bytes, header.bytes.length);
  return out;
}

/**
 * Slices the original bytes of each rejected record out of its chunk: a record runs from the line it starts on to
 * the line where the next record (accepted or rejected) starts, or the chunk's end. A CSV record is preceded by
 * its header, so that a replay parses it like the original. Line starts are found once per chunk.
 */
export function recordSlicer(
  bytes: Uint8Array,
  chunk: Pick<Chunk, "firstLine">,
  acceptedLines: Int32Array,
  rejects: readonly Reject[],
  header: { bytes: Uint8Array } | null,
): (line: number) => Uint8Array {
  const starts = lineStarts(bytes);
  const recordLines = Int32Array.from([...acceptedLines, ...rejects.map((r) => r.line)]).sort();
  const offsetOf = (line: number) => {
    const index = line - chunk.firstLine;
    return index < starts.length ? starts[index] : bytes.length;
  };
  return (line) => {
    // The first record line after `line`, by binary search.
    let lo = 0;
    let hi = recordLines.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (recordLines[mid] <= line) lo = mid + 1;
      else hi = mid;
    }
    const end = lo < recordLines.length ? offsetOf(recordLines[lo]) : bytes.length;
    const row = bytes.subarray(offsetOf(line), end);
    if (header === null) return row.slice();
    const out = new Uint8Array(header.bytes.length + row.length);
    out.set(header.bytes);
    out.set(row, header.bytes.length);
    return out;
  };
}

/** Offsets where each line of `bytes` starts (LF, CRLF and a lone CR end a line). */
function lineStarts(bytes: Uint8Array): number[] {
  const starts = [0];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a) starts.push(i + 1);
    else if (b === 0x0d && bytes[i + 1] !== 0x0a) starts.push(i + 1);
  }
  return starts;
}
