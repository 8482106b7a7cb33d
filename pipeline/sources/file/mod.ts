/**
 * The `file` source: watches a folder and ingests each new or changed file once.
 *
 * - **Finding files.** `Deno.watchFs` events say where to look; a scan every `pollInterval` catches what events
 *   miss (network mounts, events while weir was down, overflowed event queues). Names starting with `.` are
 *   ignored (editors' and rsync's temporary files), and so is the `moveTo` folder.
 * - **Whole files only.** A file is taken once its size and modification time stayed the same for `settleMs`,
 *   so a file still being copied in is not read half-way.
 * - **Exactly once.** A file is identified by its path and the SHA-256 of its content. The run id is derived
 *   from both, so a restart in the middle of a file continues the same run (the runner skips the chunks it
 *   checkpointed and the sinks recognise the rest), and a finished file is remembered in the store (a
 *   checkpoint per file, consumer `file:<pipeline>:<run id>`) before it is moved, so a restart neither
 *   re-ingests it nor loses it. A changed file has another hash, hence is ingested again; the same bytes under
 *   another name are another file.
 * - **Bad files are data.** A file that cannot be read at all (bad gzip, unterminated quote, broken JSON array,
 *   unknown format) goes to the dead-letter queue with its original bytes, at most `maxDeadLetterBytes` of
 *   them (default 1 MiB; the first error link says how many there were and where the file went), and counts
 *   as processed. Transient failures (the store is down) leave the file for the next scan.
 * - **Afterwards** the file is moved into `moveTo` (`after: move`; a name already taken there gets the hash
 *   appended) or stays where it is (`after: mark`, remembered by the store only). Moving needs write
 *   permission on the folder; `deno task start` grants writes under ./data only.
 *
 * One file is ingested at a time per pipeline; the runner parallelises within it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Logger } from "../../../observability/logger.ts";
import { errorChain, type ErrorLink, type JsonValue, type NewDeadLetter } from "../../../storage/store.ts";
import { PipelineError } from "../../errors.ts";
import { readAt } from "../../bytes.ts";
import { jsonArrayToNdjson } from "../../json_array.ts";
import type { PipelinePlan } from "../../plan.ts";
import { type IngestContext, type IngestInput, type IngestResult, runIngest } from "../../runner.ts";
import { derivedRunId } from "../../run_ids.ts";
import type { Format } from "../dialect.ts";
import type { FileSourceConfig } from "./config.ts";

/** Options for {@linkcode FileSource.start}. */
export interface FileSourceOptions {
  /** How long a file's size and mtime must stay unchanged before it is read. Default 1000 ms. */
  settleMs?: number;
  /** Most bytes of a bad file kept in its dead letter. Default 1 MiB. */
  maxDeadLetterBytes?: number;
  /** Called once per file handled: ingested, skipped as already processed, dead-lettered or failed. */
  onFile?: (event: FileEvent) => void;
  /** Working directory that a relative `path` is resolved against. Default `Deno.cwd()`. */
  cwd?: string;
}

/** What happened to one file. */
export interface FileEvent {
  /** The path relative to the watched folder, `/`-separated. */
  path: string;
  /** SHA-256 of the content, hex. */
  sha256: string;
  /** The run id derived from path and hash. */
  run: string;
  outcome: "ingested" | "skipped" | "dead_lettered" | "failed";
  /** The ingest's result, when it ran to the end. */
  result?: IngestResult;
  /** Why it failed or was dead-lettered. */
  error?: unknown;
}

interface Known {
  size: number;
  mtime: number;
  seenAt: number;
  /** Handled with this stat: nothing to do until the file changes. */
  done: boolean;
}

const DEFAULT_SETTLE_MS = 1000;
const DEFAULT_MAX_DEAD_LETTER_BYTES = 1 << 20;

/** The format of `name` by its extension (after an optional `.gz`), or `undefined` when it has none known. */
export function formatOfName(name: string): { format: Format | undefined; gzip: boolean } {
  const lower = name.toLowerCase();
  const gzip = lower.endsWith(".gz");
  const base = gzip ? lower.slice(0, -3) : lower;
  const ext = base.slice(base.lastIndexOf(".") + 1);
  const format: Format | undefined = ext === "csv" || ext === "tsv"
    ? "csv"
    : ext === "ndjson" || ext === "jsonl"
    ? "ndjson"
    : ext === "json"
    ? "json"
    : undefined;
  return { format, gzip };
}

/**
 * The runner's input for one file: decompressed when gzip, a JSON array turned into lines. `onRead` sees the
 * bytes read from disk (before decompression), for progress. The file is closed when the body is read to the
 * end or abandoned.
 */
export async function openFileInput(
  path: string,
  options: { format: Format; gzip: boolean; onRead?: (bytes: number) => void },
): Promise<IngestInput> {
  const file = await Deno.open(path, { read: true });
  const { onRead } = options;
  const raw: ReadableStream<Uint8Array> = onRead === undefined ? file.readable : file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(piece, controller) {
        onRead(piece.length);
        controller.enqueue(piece);
      },
    }),
  );
  const decoded = options.gzip
    ? raw.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>)
    : raw;
  return {
    format: options.format === "json" ? "ndjson" : options.format,
    body: options.format === "json" ? jsonArrayToNdjson(decoded) : decoded,
  };
}

/** SHA-256 of a file, hex, read as a stream. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const piece of file.readable) hash.update(piece);
  return hash.digest("hex");
}

/** The run id of a file: the same path and content always give the same run, across restarts. */
export function fileRunId(pipeline: string, path: string, sha256: string): Promise<string> {
  return derivedRunId("f", [pipeline, path, sha256]);
}

/**
 * A glob as a RegExp over `/`-separated relative paths: `*` and `?` stay within one path segment, `**` spans
 * segments (`**\/` also matches no folder at all), `{a,b}` is an alternative.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      if (glob[i + 2] === "/") {
        out += "(?:.*/)?";
        i += 2;
      } else {
        out += ".*";
        i += 1;
      }
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "{") out += "(?:";
    else if (c === "}") out += ")";
    else if (c === "," && out.includes("(?:")) out += "|";
    else out += c.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** A running `file` source for one pipeline. */
export class FileSource {
  readonly #plan: PipelinePlan;
  readonly #config: FileSourceConfig;
  readonly #context: IngestContext;
  readonly #options: FileSourceOptions;
  readonly #log: Logger;
  #dir: string;
  #moveDir: string;
  readonly #match: RegExp;
  readonly #recursive: boolean;
  readonly #abort = new AbortController();
  readonly #known = new Map<string, Known>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  #draining: Promise<void> | null = null;
  #watcher: Deno.FsWatcher | null = null;
  #watching: Promise<void> | null = null;
  #poll: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  private constructor(plan: PipelinePlan, context: IngestContext, options: FileSourceOptions) {
    this.#plan = plan;
    this.#config = plan.file!;
    this.#context = context;
    this.#options = options;
    this.#log = context.logger.child({ pipeline: plan.name, component: "source.file" });
    this.#dir = resolvePath(options.cwd ?? Deno.cwd(), this.#config.path);
    this.#moveDir = resolvePath(this.#dir, this.#config.moveTo);
    this.#match = globToRegExp(this.#config.glob);
    this.#recursive = this.#config.glob.includes("/");
  }

  /**
   * Starts watching `plan`'s folder (created when missing) and scans it once right away. Throws a
   * `PipelineError` when the pipeline's source is not `file`.
   */
  static async start(
    plan: PipelinePlan,
    context: IngestContext & FileSourceOptions,
  ): Promise<FileSource> {
    if (plan.file === undefined) {
      throw new PipelineError(`Pipeline ${plan.name} has no file source`, {
        component: "source.file",
        retriable: false,
      });
    }
    const source = new FileSource(plan, context, context);
    try {
      await Deno.mkdir(source.#dir, { recursive: true });
      // Events name real paths; a folder behind a symlink would never match them otherwise.
      source.#dir = await Deno.realPath(source.#dir);
      source.#moveDir = resolvePath(source.#dir, source.#config.moveTo);
    } catch (error) {
      source.#log.warn("Cannot create the watched folder", { path: source.#dir, error });
    }
    source.#watch();
    source.#poll = setInterval(() => {
      source.#scan().catch((error) => source.#log.warn("Scan failed", { error }));
    }, source.#config.pollInterval);
    source.#log.info("Watching folder", {
      path: source.#dir,
      glob: source.#config.glob,
      after: source.#config.after,
    });
    await source.#scan().catch((error) => source.#log.warn("Scan failed", { error }));
    return source;
  }

  /** The absolute folder watched. */
  get path(): string {
    return this.#dir;
  }

  /** Scans the folder now and resolves once every file found ready has been handled. */
  async scan(): Promise<void> {
    await this.#scan();
    await this.idle();
  }

  /** Resolves when no file is queued or being ingested. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /**
   * Stops watching and scanning, then waits for the file being ingested, if any, to finish: an interrupted
   * file would resume on the next start, but its run would stay marked failed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poll);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#queued.clear();
    try {
      this.#watcher?.close();
    } catch {
      // Already closed (the folder went away).
    }
    await this.#watching;
    await this.idle();
    this.#abort.abort();
  }

  #watch(): void {
    try {
      this.#watcher = Deno.watchFs(this.#dir, { recursive: this.#recursive });
    } catch (error) {
      this.#log.warn("Cannot watch the folder: relying on the periodic scan", { path: this.#dir, error });
      return;
    }
    const watcher = this.#watcher;
    this.#watching = (async () => {
      try {
        for await (const event of watcher) {
          if (event.kind === "access") continue;
          for (const path of event.paths) {
            const rel = this.#relative(path);
            if (rel !== null) void this.#consider(rel);
          }
        }
      } catch (error) {
        if (!this.#closed) this.#log.warn("Watching stopped: relying on the periodic scan", { error });
      }
    })();
  }

  /** The path relative to the folder when it is one this source takes, else null. */
  #relative(path: string): string | null {
    if (!path.startsWith(this.#dir + "/")) return null;
    if (path === this.#moveDir || path.startsWith(this.#moveDir + "/")) return null;
    const rel = path.slice(this.#dir.length + 1);
    if (rel.split("/").some((part) => part.startsWith("."))) return null;
    return this.#match.test(rel) ? rel : null;
  }

  async #scan(): Promise<void> {
    if (this.#closed) return;
    const found: string[] = [];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) {
          if (this.#recursive && !entry.name.startsWith(".") && path !== this.#moveDir) await walk(path);
        } else if (entry.isFile || entry.isSymlink) {
          const rel = this.#relative(path);
          if (rel !== null) found.push(rel);
        }
      }
    };
    try {
      await walk(this.#dir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    found.sort();
    // Forget files that went away, so that a file put back later is looked at again.
    const present = new Set(found);
    for (const rel of this.#known.keys()) if (!present.has(rel)) this.#known.delete(rel);
    for (const rel of found) await this.#consider(rel);
  }

  /** Queues `rel` once its size and mtime held still for `settleMs`; rechecks later otherwise. */
  async #consider(rel: string): Promise<void> {
    if (this.#closed || this.#queued.has(rel)) return;
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(`${this.#dir}/${rel}`);
    } catch {
      this.#known.delete(rel);
      return;
    }
    if (!stat.isFile) return;
    const settle = this.#options.settleMs ?? DEFAULT_SETTLE_MS;
    const mtime = stat.mtime?.getTime() ?? 0;
    const now = Date.now();
    const known = this.#known.get(rel);
    if (known && known.size === stat.size && known.mtime === mtime) {
      if (known.done) return;
      const waited = now - known.seenAt;
      if (waited >= settle) this.#enqueue(rel);
      else this.#recheck(rel, settle - waited);
      return;
    }
    this.#known.set(rel, { size: stat.size, mtime, seenAt: now, done: false });
    if (settle <= 0) this.#enqueue(rel);
    else this.#recheck(rel, settle);
  }

  #recheck(rel: string, delay: number): void {
    if (this.#timers.has(rel)) return;
    this.#timers.set(
      rel,
      setTimeout(() => {
        this.#timers.delete(rel);
        void this.#consider(rel);
      }, delay),
    );
  }

  #enqueue(rel: string): void {
    if (this.#closed || this.#queued.has(rel)) return;
    this.#queued.add(rel);
    this.#queue.push(rel);
    this.#draining ??= (async () => {
      try {
        while (this.#queue.length > 0 && !this.#closed) {
          const next = this.#queue.shift()!;
          let again = false;
          try {
            again = await this.#process(next);
          } catch (error) {
            this.#log.error("File source failed on a file: retrying on the next scan", { path: next, error });
          } finally {
            this.#queued.delete(next);
          }
          if (again) await this.#consider(next);
        }
      } finally {
        this.#draining = null;
      }
    })();
  }

  /** Ingests, skips or dead-letters one file; true when it changed meanwhile and must settle again. */
  async #process(rel: string): Promise<boolean> {
    const path = `${this.#dir}/${rel}`;
    const before = await Deno.stat(path).catch(() => null);
    if (before === null) {
      this.#known.delete(rel);
      return false;
    }
    const sha256 = await hashFile(path);
    const after = await Deno.stat(path).catch(() => null);
    const known = this.#known.get(rel);
    if (
      after === null || known === undefined || after.size !== before.size ||
      after.mtime?.getTime() !== before.mtime?.getTime() || after.size !== known.size ||
      (after.mtime?.getTime() ?? 0) !== known.mtime
    ) {
      // Written to since it settled or while being hashed: wait for it to settle again.
      this.#known.delete(rel);
      return after !== null;
    }
    const run = await fileRunId(this.#plan.name, rel, sha256);
    const consumer = `file:${this.#plan.name}:${run}`;
    const { store } = this.#context;
    const event = { path: rel, sha256, run };

    if ((await store.checkpoints.load(consumer)).length > 0) {
      this.#log.debug("File already processed", event);
      await this.#finish(rel, sha256);
      this.#options.onFile?.({ ...event, outcome: "skipped" });
      return false;
    }

    const { format: byName, gzip } = formatOfName(rel);
    const format = this.#config.format === "auto" ? byName : this.#config.format;
    let result: IngestResult | undefined;
    let bad: unknown;
    if (format === undefined) {
      bad = new PipelineError(
        `Unknown file format: ${rel} (expected .csv, .tsv, .ndjson, .jsonl or .json, optionally .gz, or set format)`,
        { component: "source.file", retriable: false },
      );
    } else {
      try {
        result = await runIngest(this.#plan, await openFileInput(path, { format, gzip }), {
          ...this.#context,
          runId: run,
          signal: this.#abort.signal,
        });
      } catch (error) {
        if (this.#abort.signal.aborted || isTransient(error)) {
          this.#options.onFile?.({ ...event, outcome: "failed", error });
          throw error;
        }
        bad = error;
      }
    }

    const state: { [key: string]: JsonValue } = {
      path: rel,
      sha256,
      run,
      size: after.size,
      at: new Date().toISOString(),
    };
    if (result !== undefined) {
      state.committed = result.committed;
      await store.checkpoints.save(consumer, [{ partition: 0, offset: "done", state: json(state) }]);
      this.#log.info("File ingested", { ...event, accepted: result.accepted, rejected: result.rejected });
      await this.#finish(rel, sha256);
      this.#options.onFile?.({ ...event, outcome: "ingested", result });
      return false;
    }
    const letter = await this.#deadLetter(path, { ...event, size: after.size, error: bad });
    // One transaction: a crash between the two would dead-letter the file twice.
    const [id] = await store.transaction(async (tx) => {
      const ids = await tx.deadLetters.add([letter]);
      await tx.checkpoints.save(consumer, [{
        partition: 0,
        offset: "done",
        state: json({ ...state, deadLetter: ids[0] }),
      }]);
      return ids;
    });
    this.#log.warn("File cannot be read: dead-lettered", { ...event, deadLetter: id, error: bad });
    await this.#finish(rel, sha256);
    this.#options.onFile?.({ ...event, outcome: "dead_lettered", error: bad });
    return false;
  }

  /** Keeps the first `maxDeadLetterBytes` of the file, as it was on disk, with the error chain. */
  async #deadLetter(
    path: string,
    info: { path: string; sha256: string; run: string; size: number; error: unknown },
  ): Promise<NewDeadLetter> {
    const cap = this.#options.maxDeadLetterBytes ?? DEFAULT_MAX_DEAD_LETTER_BYTES;
    const original = await readPrefix(path, cap);
    const outer: ErrorLink = {
      name: "FileRejected",
      message: `File cannot be read: ${info.path}` +
        (original.length < info.size ? `: first ${original.length} of ${info.size} bytes kept` : ""),
      details: {
        path: info.path,
        sha256: info.sha256,
        size: info.size,
        kept: original.length,
        ...(this.#config.after === "move" ? { movedTo: this.#config.moveTo } : {}),
      },
    };
    const line = (info.error as { line?: unknown })?.line;
    return {
      pipeline: this.#plan.name,
      runId: (await this.#context.store.runs.get(info.run)) ? info.run : null,
      stage: "source.file",
      original,
      line: typeof line === "number" ? line : null,
      errors: [outer, ...errorChain(info.error)],
    };
  }

  /** Moves the file away (`after: move`) and remembers that this stat is handled. */
  async #finish(rel: string, sha256: string): Promise<void> {
    const known = this.#known.get(rel);
    if (known) known.done = true;
    if (this.#config.after !== "move") return;
    const from = `${this.#dir}/${rel}`;
    let to = `${this.#moveDir}/${rel}`;
    try {
      await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
      if (await exists(to)) {
        const dot = to.lastIndexOf(".") > to.lastIndexOf("/") ? to.indexOf(".", to.lastIndexOf("/") + 1) : -1;
        const tag = `-${sha256.slice(0, 12)}`;
        to = dot === -1 ? to + tag : to.slice(0, dot) + tag + to.slice(dot);
      }
      await Deno.rename(from, to);
      this.#known.delete(rel);
    } catch (error) {
      // Remembered in the store either way: the file is not ingested again, only left where it is.
      this.#log.warn("Cannot move a processed file", { from, to, error });
    }
  }
}

/** Opens `plan`'s file source; see {@linkcode FileSource.start}. */
export function startFileSource(
  plan: PipelinePlan,
  context: IngestContext & FileSourceOptions,
): Promise<FileSource> {
  return FileSource.start(plan, context);
}

// An outage or an abort is worth a retry on the next scan; anything else about the file will not change.
function isTransient(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e.name === "AbortError") return true;
    if (e instanceof PipelineError && e.retriable) return true;
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound) return true;
  }
  return false;
}

async function readPrefix(path: string, cap: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  return (await readAt(file, 0, cap)).slice();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function json(value: JsonValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function resolvePath(base: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${base}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
