/**
 * Group commit for small ingests: many concurrent small requests (a single event each, say) share one parse,
 * one sink write and one bookkeeping transaction, instead of each paying for its own.
 *
 * How: a small request waits in the pipeline's {@linkcode GroupCommitter} while the previous group commits (a
 * free commit slot takes the requests that arrive together). A group's NDJSON bodies are parsed and
 * validated as one input — each request's lines are a known range of it, so every reject and every valid row
 * is still its own request's — then transformed once and written to every sink as one `(run, sequence)`.
 * Every request's run is recorded finished: in the very commit of the rows when the pipeline has one sink and
 * it writes into weir's own database (the postgres sink: one commit answers the group), otherwise by one
 * statement after the writes (one transaction, when there are dead letters to store with them: rejects, with
 * their original bytes). Only then is every request of the group answered.
 *
 * **Runs.** Each request is its own run, as on the chunked path: its answer names it, and once answered,
 * `GET /v1/runs/:id` shows it finished (`committed`, or `failed` when a sink refused the group) with exactly
 * the counts of the answer, and the dead-letter queue filtered by it holds exactly its rejects. The runs of a
 * group cost one multi-row insert, with its rows or after them; its sink writes go under its first request's
 * run id.
 *
 * **Guarantee.** A request is answered 2xx only after every sink committed the group holding its rows, and its
 * run and rejects are stored: acknowledged means durable, as on the chunked path. A group is one
 * `(run, sequence)`, which each sink commits at most once (retries of a failed write reuse it), so weir never
 * writes a group twice. A request that no sink could take is answered 502 (its body is dead-lettered whole); a
 * group that fails outright (its parse or a transform throws, or its bookkeeping cannot be stored) fails every
 * request in it, and none is acknowledged. A crash before the answer loses only unacknowledged requests,
 * exactly like the chunked path without an idempotency key: a client that retries such a request may land it
 * twice. Requests with an `Idempotency-Key` therefore never take this path — they go through the spooled,
 * chunked path, whose run id is derived from the key and which is exactly-once across retries.
 *
 * CSV bodies (each with its own header) and pipelines with a `unique` rule (which spans the rows of one input)
 * are parsed request by request instead, when they arrive.
 *
 * @module
 */
import { errorChain, type FinishedRun, type NewDeadLetter } from "../storage/store.ts";
import { parseChunk, type ParseChunkParams } from "../workers/parse.ts";
import type { Batch } from "./batch.ts";
import { concatBatches } from "./batch_concat.ts";
import { csvHeader } from "./chunker.ts";
import { PipelineError } from "./errors.ts";
import type { PipelinePlan, PlannedSink } from "./plan.ts";
import { newRunId } from "./run_ids.ts";
import {
  type IngestContext,
  type IngestResult,
  parseParams,
  recordSlicer,
  stageTimer,
  writeWithRetry,
} from "./runner.ts";
import type { Reject } from "./validate.ts";

/** Knobs of a {@linkcode GroupCommitter}. */
export interface GroupCommitOptions {
  /**
   * Longest wait of the first request of a group for company while requests keep arriving and a commit slot
   * is free; the group closes earlier, as soon as a turn of the event loop brings no request. Under load,
   * groups also form while the previous ones commit. Default 2 ms.
   */
  lingerMs?: number;
  /** Most rows (NDJSON: lines) in one group. Default 10 000. */
  maxRows?: number;
  /** Most body bytes in one group (its bodies are copied into one input to parse). Default 4 MiB. */
  maxBytes?: number;
  /**
   * Groups being committed at once (each holds a sink connection). Default 2: with a group's rows and runs in one
   * commit, two overlapping groups beat one at a time (ingest-events measured 0.34-0.35 against 0.32-0.33).
   */
  maxInFlight?: number;
  /** Requests waiting for a group before more are turned away (see {@linkcode GroupCommitter.full}). Default 4096. */
  maxQueued?: number;
  /** Inputs up to this size are parsed on the main thread (a worker round trip costs more). Default 256 KiB. */
  inlineParseBytes?: number;
  /** Sink attempts for a retriable failure. Default 5. */
  sinkAttempts?: number;
  /** First retry delay, doubling with full jitter. Default 100 ms. */
  retryBaseMs?: number;
}

/** One small request: its whole (decoded) body. JSON arrays are turned into NDJSON by the caller. */
export interface SmallIngest {
  format: "csv" | "ndjson";
  bytes: Uint8Array;
}

/** A request's own share of a parse. */
interface Parsed {
  /** Its valid rows; null when they are a range of its group's batch. */
  batch: Batch | null;
  /** How many rows are valid. */
  rows: number;
  /** Its rejects, lines counted from its first line. */
  rejects: Reject[];
  /** The lines of its valid rows, to slice rejected records out of its body; only when there are rejects. */
  lines: Int32Array;
  /** CSV: its header record, which precedes each of its dead letters. */
  header: { bytes: Uint8Array; lines: number } | null;
}

interface Waiting {
  run: string;
  /** The body; NDJSON parsed with its group ends with a LF and has no byte order mark. */
  bytes: Uint8Array;
  /** Lines of an NDJSON body parsed with its group; its row count at most. */
  lines: number;
  /** Set when it arrived (CSV, or rules across rows), or once its group is parsed. */
  parsed: Parsed | null;
  startedAt: number;
  enqueuedAt: number;
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

const NO_LINES = new Int32Array(0);

/** The small-request batcher of one pipeline. */
export class GroupCommitter {
  readonly #plan: PipelinePlan;
  readonly #context: IngestContext;
  readonly #options: Required<GroupCommitOptions>;
  readonly #abort = new AbortController();
  /** Whether NDJSON bodies are parsed with their group: no rule compares rows with each other. */
  readonly #groupParse: boolean;
  readonly #ndjsonParams: ParseChunkParams;
  #waiting: Waiting[] = [];
  #waitingRows = 0;
  /** A flush is scheduled for when arrivals pause (see {@linkcode GroupCommitter.#schedule}). */
  #scheduled = false;
  #inFlight = 0;
  #closed = false;
  #idle = Promise.withResolvers<void>();
  /** Groups not yet answered, bookkeeping included. */
  #committing = new Set<Promise<void>>();

  /** A committer for `plan`; nothing is written before the first request. */
  constructor(plan: PipelinePlan, context: IngestContext, options: GroupCommitOptions = {}) {
    this.#plan = plan;
    this.#context = context;
    this.#options = {
      lingerMs: options.lingerMs ?? 2,
      maxRows: options.maxRows ?? 10_000,
      maxBytes: options.maxBytes ?? 4 << 20,
      maxInFlight: options.maxInFlight ?? 2,
      maxQueued: options.maxQueued ?? 4096,
      inlineParseBytes: options.inlineParseBytes ?? 256 * 1024,
      sinkAttempts: options.sinkAttempts ?? 5,
      retryBaseMs: options.retryBaseMs ?? 100,
    };
    this.#groupParse = !Object.values(plan.rules).some((rules) => rules.unique);
    // A group is one input, starting on line 1.
    this.#ndjsonParams = parseParams(plan, "ndjson", { sequence: 0, firstLine: 1 }, null);
    this.#idle.resolve();
  }

  /** Whether the queue of waiting requests is full: the caller should answer 503 with `Retry-After`. */
  get full(): boolean {
    return this.#waiting.length >= this.#options.maxQueued;
  }

  /**
   * Resolves once the group holding `input` committed (or failed). Throws a `CsvSyntaxError` for a CSV body
   * that cannot be read at all (no header), before it joins a group.
   */
  async submit(input: SmallIngest): Promise<IngestResult> {
    if (this.#closed) {
      throw new PipelineError("Group commit is closed", { component: "group_commit", retriable: true });
    }
    const startedAt = Date.now();
    let bytes = input.bytes;
    let lines = 0;
    let parsed: Parsed | null = null;
    if (input.format === "ndjson" && this.#groupParse) {
      bytes = groupable(bytes);
      lines = countLines(bytes);
    } else {
      ({ parsed, bytes } = await this.#parse(input));
    }
    const { promise, resolve, reject } = Promise.withResolvers<IngestResult>();
    this.#waiting.push({
      run: newRunId(),
      bytes,
      lines,
      parsed,
      startedAt,
      enqueuedAt: performance.now(),
      resolve,
      reject,
    });
    this.#waitingRows += parsed?.rows ?? lines;
    if (this.#waitingRows >= this.#options.maxRows) this.#flush();
    // Otherwise, with every slot busy, the group forms while they commit: the first to finish flushes it.
    else if (this.#inFlight < this.#options.maxInFlight) this.#schedule();
    return promise;
  }

  /** Commits what is waiting and waits for the groups in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#waiting.length > 0 || this.#inFlight > 0) {
      this.#flush();
      await this.#idle.promise;
    }
    await Promise.all(this.#committing);
  }

  /**
   * Parses one request on its own: CSV (its own header), or any body when a rule spans rows. Returns its bytes
   * too: a worker hands the input back in a new buffer.
   */
  async #parse(input: SmallIngest): Promise<{ parsed: Parsed; bytes: Uint8Array }> {
    const plan = this.#plan;
    const header = input.format === "csv" && plan.csv.header ? csvHeader(input.bytes, plan.csv.quote) : null;
    // A small request is one chunk: the first of its input, starting on line 1.
    const params = parseParams(plan, input.format, { sequence: 0, firstLine: 1 }, header);
    const { value, output } = await this.#run(input.bytes, params);
    const { batch, rejects } = value;
    return {
      parsed: { batch, rows: batch.length, rejects, lines: batch.lines, header },
      bytes: new Uint8Array(output!),
    };
  }

  /** Parses and validates `bytes` on the main thread when small, in the pool otherwise. */
  #run(bytes: Uint8Array, params: ParseChunkParams) {
    const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
        bytes.buffer instanceof ArrayBuffer
      ? bytes.buffer
      : bytes.slice().buffer;
    if (bytes.length <= this.#options.inlineParseBytes) {
      return Promise.resolve(parseChunk(this.#context.kernels, buffer, params));
    }
    return this.#context.pool.run("parse.chunk", { input: buffer, params });
  }

  /**
   * Parses the NDJSON bodies of `group` that wait for it as one input, hands each request its share, and
   * returns every valid row of the group.
   */
  async #parseGroup(group: readonly Waiting[]): Promise<Batch> {
    const parsedAlone = group.filter((w) => w.parsed !== null).map((w) => w.parsed!.batch!);
    const pending = group.filter((w) => w.parsed === null);
    if (pending.length === 0) return concatBatches(parsedAlone);
    let length = 0;
    for (const w of pending) length += w.bytes.length;
    const input = new Uint8Array(length);
    let at = 0;
    for (const w of pending) {
      input.set(w.bytes, at);
      at += w.bytes.length;
    }
    const { value: { batch, rejects } } = await this.#run(input, this.#ndjsonParams);
    // Rows and rejects come in line order, and each request's lines follow the previous request's.
    const lines = batch.lines;
    let firstLine = 1;
    let row = 0;
    let r = 0;
    for (const w of pending) {
      const end = firstLine + w.lines;
      const firstRow = row;
      while (row < lines.length && lines[row] < end) row++;
      const own: Reject[] = [];
      for (; r < rejects.length && rejects[r].line < end; r++) {
        own.push({ ...rejects[r], line: rejects[r].line - firstLine + 1 });
      }
      w.parsed = {
        batch: null,
        rows: row - firstRow,
        rejects: own,
        lines: own.length === 0 ? NO_LINES : lines.slice(firstRow, row).map((line) => line - firstLine + 1),
        header: null,
      };
      firstLine = end;
    }
    return parsedAlone.length === 0 ? batch : concatBatches([batch, ...parsedAlone]);
  }

  /**
   * Flushes once the requests arriving together have joined: the group closes at the first turn of the event
   * loop in which no request arrived (setImmediate runs right after the loop's poll for I/O), or after
   * `lingerMs` of steady arrivals. A burst of requests is read one at a time, so it spreads over a few turns;
   * a fixed timer would wait longer than the burst (a 0 ms timer fires after about 2 ms) or split it.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const since = performance.now();
    let seen = this.#waiting.length;
    const check = () => {
      const arrived = this.#waiting.length > seen;
      if (arrived && performance.now() - since < this.#options.lingerMs) {
        seen = this.#waiting.length;
        setImmediate(check);
        return;
      }
      this.#scheduled = false;
      this.#flush();
    };
    setImmediate(check);
  }

  /** Starts a group when a commit slot is free; otherwise the group forms until one frees up. */
  #flush(): void {
    if (this.#waiting.length === 0 || this.#inFlight >= this.#options.maxInFlight) return;
    let rows = 0;
    let bytes = 0;
    let take = 0;
    // Whole requests only; at least one, even if it alone is over the limits.
    while (take < this.#waiting.length) {
      const w = this.#waiting[take];
      const n = w.parsed?.rows ?? w.lines;
      if (take > 0 && (rows + n > this.#options.maxRows || bytes + w.bytes.length > this.#options.maxBytes)) {
        break;
      }
      rows += n;
      bytes += w.bytes.length;
      take++;
    }
    const group = this.#waiting.splice(0, take);
    this.#waitingRows -= rows;
    if (this.#inFlight === 0) this.#idle = Promise.withResolvers<void>();
    this.#inFlight++;
    // The slot frees once the sink writes are done: the next group's writes overlap this one's bookkeeping. The
    // next group then closes like any (when a turn of the event loop brings no request), so it takes in the
    // requests already on their way.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#waiting.length > 0) this.#schedule();
      if (this.#inFlight === 0) this.#idle.resolve();
    };
    const committing: Promise<void> = this.#commit(group, release).finally(() => {
      release();
      this.#committing.delete(committing);
    });
    this.#committing.add(committing);
  }

  /** Commits `group`; calls `release` once its sink writes are done (its runs and answers follow). */
  async #commit(group: Waiting[], release: () => void): Promise<void> {
    // The group's sink writes go under its first request's run: a fresh id, so `(run, 0)` is the group's own.
    const runId = group[0].run;
    const log = this.#context.logger.child({ pipeline: this.#plan.name, run: runId, requests: group.length });
    const timings: Record<string, number> = {};
    const time = stageTimer(timings);
    try {
      const signal = this.#abort.signal;
      let out = await time("parse", () => this.#parseGroup(group));
      const failures: { sink: PlannedSink; error: unknown; attempts: number }[] = [];
      // The answers and runs of the group, committed or not; runs record the timings known when they are made.
      const outcome = (failed: boolean) => {
        const results = group.map((w): IngestResult => {
          const parsed = w.parsed!;
          return {
            run: w.run,
            received: parsed.rows + parsed.rejects.length,
            accepted: failed ? 0 : parsed.rows,
            rejected: parsed.rejects.length,
            bytes: w.bytes.length,
            rejects: parsed.rejects,
            committed: !failed,
            failedChunks: failed ? 1 : 0,
            timings: this.#timings(timings, w),
          };
        });
        const runs = results.map((
          { run: id, received, accepted, rejected, bytes, timings },
          i,
        ): FinishedRun => ({
          id,
          pipeline: this.#plan.name,
          startedAt: new Date(group[i].startedAt),
          status: failed ? "failed" : "committed",
          received,
          accepted,
          rejected,
          bytes,
          timings,
          ...(failed ? { error: { failedChunks: 1 } } : {}),
        }));
        return { results, runs };
      };
      // With a single sink that writes into weir's own database and no rejected rows to keep, the runs commit
      // with the rows: one commit answers the group. Otherwise they are recorded after the writes.
      const [only] = this.#plan.sinks;
      const alongside = out.length > 0 && this.#plan.sinks.length === 1 && only.sink.recordsRuns === true &&
        group.every((w) => w.parsed!.rejects.length === 0);
      let recorded = false;
      if (out.length > 0) {
        await time("transform", async () => {
          for (const transform of this.#plan.transforms) out = await transform.apply(out, signal);
        });
        for (const planned of this.#plan.sinks) {
          const runs = alongside ? outcome(false).runs : undefined;
          const written = await time(
            planned.component,
            () =>
              writeWithRetry(
                planned,
                out,
                { runId, sequence: 0, signal, fresh: true, runs },
                this.#options,
                log,
              ),
          );
          if (written.error !== undefined) {
            failures.push({ sink: planned, error: written.error, attempts: written.attempts });
          } else {
            recorded = alongside;
          }
        }
      }
      release();
      const failed = failures.length > 0;
      const { results, runs } = outcome(failed);
      if (!recorded) {
        const letters = group.flatMap((w) => this.#letters(w, failures));
        const store = this.#context.store;
        // Runs alone are one statement, atomic without a transaction (which would cost two more round trips).
        await time(
          "dead_letters",
          () =>
            letters.length === 0 ? store.runs.record(runs) : store.transaction(async (tx) => {
              await tx.runs.record(runs);
              await tx.deadLetters.add(letters);
            }),
        );
      }
      const limit = this.#plan.spec.limits.responseRejects;
      group.forEach((w, i) => {
        const result = results[i];
        result.rejects = result.rejects.slice(0, limit);
        // The answer also counts the bookkeeping, which the stored run could not.
        result.timings = this.#timings(timings, w);
        w.resolve(result);
      });
    } catch (error) {
      log.warn("Group commit failed", { error });
      for (const w of group) w.reject(error);
    }
  }

  /** A request's timings: its group's stages, and how long it waited for its answer. */
  #timings(stages: Record<string, number>, w: Waiting): Record<string, number> {
    const timings: Record<string, number> = {};
    for (const stage in stages) timings[stage] = Math.round(stages[stage] * 10) / 10;
    timings.wait = Math.round((performance.now() - w.enqueuedAt) * 10) / 10;
    return timings;
  }

  /** One request's dead letters: its rejected rows, and its whole body when a sink failed the group. */
  #letters(
    w: Waiting,
    failures: readonly { sink: PlannedSink; error: unknown; attempts: number }[],
  ): NewDeadLetter[] {
    const pipeline = this.#plan.name;
    const parsed = w.parsed!;
    const letters: NewDeadLetter[] = [];
    if (parsed.rejects.length > 0) {
      // A small request is one chunk, the first of its input.
      const rowOf = recordSlicer(w.bytes, { firstLine: 1 }, parsed.lines, parsed.rejects, parsed.header);
      for (const reject of parsed.rejects) {
        letters.push({
          pipeline,
          runId: w.run,
          stage: reject.rule === "json" || reject.rule === "ragged" || reject.rule === "utf8"
            ? "parse"
            : "validate",
          original: rowOf(reject.line),
          line: reject.line,
          errors: [{
            name: "RejectedRow",
            message: `${reject.rule}: ${reject.column || "row"}: ${reject.value ?? "null"}`,
          }],
        });
      }
    }
    if (parsed.rows > 0) {
      for (const { sink, error, attempts } of failures) {
        letters.push({
          pipeline,
          runId: w.run,
          stage: sink.component,
          original: w.bytes,
          line: 1,
          errors: errorChain(error),
          attempts,
        });
      }
    }
    return letters;
  }
}

/** An NDJSON body ready to follow another in one input: without a byte order mark, ending with a LF. */
function groupable(bytes: Uint8Array): Uint8Array {
  // The reader skips a byte order mark only at the start of its input.
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  if (bytes.length === 0 || bytes[bytes.length - 1] === 0x0a) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = 0x0a;
  return out;
}

/** LFs in `bytes`: NDJSON lines, as the reader counts them. */
function countLines(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}
