/**
 * `weir run PIPELINE FILE… [--format csv|ndjson|json] [--new-run]`: runs a pipeline of weir.yaml over files from
 * the command line, through the same runtime as the server (the embedded store under `WEIR_DATA_DIR` unless
 * `DATABASE_URL` and friends are set), one file after another, each as its own run.
 *
 * A file's run id derives from the pipeline and the file's content (SHA-256), so running an unchanged file again
 * writes nothing (the summary says it was already committed), and a run that was interrupted (Ctrl-C, a crash)
 * is continued where it stopped, the sinks skipping the chunks they committed. `--new-run` gives each file a
 * fresh run instead, which writes the rows again.
 *
 * Ctrl-C stops reading: the chunk being committed finishes (or rolls back), the run is left `interrupted`, the
 * summary so far is printed and the exit status is 130. A second Ctrl-C exits at once.
 *
 * The format goes by extension (.csv/.tsv, .ndjson/.jsonl, .json, each optionally .gz, which is decompressed)
 * unless `--format` names it. Progress goes to stderr: a redrawn bar (bytes of the file read, rows/s, ETA
 * from the file's size on disk) when stderr is a terminal, a plain line every few seconds and one per
 * finished file otherwise. A summary table goes to stdout at the end. Logs below `warn` are off unless
 * `WEIR_LOG_LEVEL` says otherwise, so that they do not tear the bar.
 *
 * Exit status: 0 when every file committed, 1 when any did not (rows a sink refused, a file that cannot be
 * read), 2 for a usage error (unknown pipeline or option, no files), 130 after Ctrl-C.
 *
 * @module
 */
import { loadEnv } from "../config/env.ts";
import { createLogger } from "../observability/logger.ts";
import { Telemetry } from "../observability/metrics.ts";
import type { IngestCounts, IngestResult } from "../pipeline/runner.ts";
import { runIngest } from "../pipeline/runner.ts";
import { contentRunId, newRunId } from "../pipeline/run_ids.ts";
import { formatOfName, hashFile, openFileInput } from "../pipeline/sources/file/mod.ts";
import { PipelineError } from "../pipeline/errors.ts";
import { type Format, FORMATS } from "../pipeline/sources/dialect.ts";
import { openRuntime, type Runtime } from "../server/runtime.ts";
import type { PipelinePlan } from "../pipeline/plan.ts";

const USAGE = `Usage: weir run PIPELINE FILE… [--format csv|ndjson|json] [--new-run]

Runs PIPELINE of weir.yaml (WEIR_CONFIG) over each FILE, one run per file; .gz files are decompressed.
A file already committed is not written again, and an interrupted one continues, unless --new-run.`;

/** The exit status after Ctrl-C, as shells report a process ended by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** One file's outcome, as the summary table shows it. */
export interface FileSummary {
  file: string;
  /** Bytes of the file on disk. */
  size: number;
  received: number;
  accepted: number;
  rejected: number;
  /** Bytes after decompression, as the run counts them. */
  bytes: number;
  /** Milliseconds. */
  ms: number;
  run: string;
  committed: boolean;
  /** The file's content was already committed by its run: nothing was written. */
  unchanged?: boolean;
  /** Ctrl-C stopped it; its run continues next time. */
  interrupted?: boolean;
  /** The quality score, when the pipeline has checks. */
  quality?: number;
  /** The names of the failed checks. */
  failedChecks?: string[];
  /** Why the file failed as a whole. */
  error?: string;
}

/** Where the command writes and what it runs with; tests pass their own. */
export interface RunCommandOptions {
  env?: Record<string, string>;
  /** Progress and errors. */
  stderr?: (text: string) => void;
  /** The summary table. */
  stdout?: (text: string) => void;
  /** Whether stderr is a terminal (a redrawn bar) or not (plain lines). Default: asks Deno. */
  isTerminal?: boolean;
  /** Milliseconds between plain progress lines. Default 5000. */
  lineIntervalMs?: number;
  /** Stops the command as Ctrl-C does. Default: SIGINT (a second one exits the process at once). */
  interrupt?: AbortSignal;
}

const encoder = new TextEncoder();
const writeSync = (file: { writeSync(p: Uint8Array): number }) => (text: string) => {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
};

/** Runs the command and resolves to the exit status. */
export async function runCommand(args: string[], options: RunCommandOptions = {}): Promise<number> {
  const stderr = options.stderr ?? writeSync(Deno.stderr);
  const stdout = options.stdout ?? writeSync(Deno.stdout);
  const parsed = parseArgs(args);
  if ("error" in parsed) {
    stderr(`weir run: ${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  const env = options.env ?? Deno.env.toObject();
  const config = loadEnv(env);
  const logger = createLogger({
    level: env.WEIR_LOG_LEVEL ? config.WEIR_LOG_LEVEL : "warn",
    fields: { service: "weir" },
    write: (line) => stderr(`${options.isTerminal ?? Deno.stderr.isTerminal() ? "\r\x1b[K" : ""}${line}\n`),
  });
  const runtime = await openRuntime(config, { logger, telemetry: new Telemetry(), sources: false });
  try {
    const plan = runtime.pipelines.get(parsed.pipeline);
    if (!plan) {
      const names = [...runtime.pipelines.keys()].join(", ") || "none";
      stderr(`weir run: unknown pipeline: ${parsed.pipeline} (${config.WEIR_CONFIG} has ${names})\n`);
      return 2;
    }
    const progress = new Progress({
      write: stderr,
      terminal: options.isTerminal ?? Deno.stderr.isTerminal(),
      lineIntervalMs: options.lineIntervalMs ?? 5000,
    });
    const summaries: FileSummary[] = [];
    using interrupt = options.interrupt
      ? { signal: options.interrupt, [Symbol.dispose]: () => {} }
      : onCtrlC(() => stderr("\nweir run: stopping after the commit in flight (Ctrl-C again to quit now)\n"));
    for (const file of parsed.files) {
      if (interrupt.signal.aborted) break;
      summaries.push(
        await runFile(file, {
          plan,
          runtime,
          progress,
          format: parsed.format,
          newRun: parsed.newRun,
          interrupt,
        }),
      );
    }
    stdout(summaryTable(summaries));
    if (interrupt.signal.aborted) return EXIT_INTERRUPTED;
    return summaries.every((s) => s.committed) ? 0 : 1;
  } finally {
    await runtime.close();
  }
}

/**
 * The first SIGINT aborts the returned signal (with a retriable error: the run is interrupted, not failed) and
 * calls `first`; a second one exits the process at once.
 */
function onCtrlC(first: () => void): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const listener = () => {
    if (controller.signal.aborted) Deno.exit(EXIT_INTERRUPTED);
    first();
    controller.abort(new PipelineError("Interrupted by Ctrl-C", { component: "cli.run", retriable: true }));
  };
  Deno.addSignalListener("SIGINT", listener);
  return { signal: controller.signal, [Symbol.dispose]: () => Deno.removeSignalListener("SIGINT", listener) };
}

function parseArgs(
  args: string[],
): { pipeline: string; files: string[]; format?: Format; newRun: boolean } | { error: string } {
  const positional: string[] = [];
  let format: Format | undefined;
  let newRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--format" || arg.startsWith("--format=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (!(FORMATS as readonly string[]).includes(value ?? "")) {
        return { error: `--format expects one of ${FORMATS.join(", ")}, got ${value ?? "nothing"}` };
      }
      format = value as Format;
    } else if (arg === "--new-run") {
      newRun = true;
    } else if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    } else if (arg.startsWith("--")) return { error: `unknown option: ${arg}` };
    else positional.push(arg);
  }
  const [pipeline, ...files] = positional;
  if (pipeline === undefined) return { error: "expected a pipeline name" };
  if (files.length === 0) return { error: "expected at least one file" };
  return { pipeline, files, format, newRun };
}

async function runFile(
  file: string,
  context: {
    plan: PipelinePlan;
    runtime: Runtime;
    progress: Progress;
    format?: Format;
    /** A fresh run instead of the one the file's content derives. */
    newRun: boolean;
    interrupt: { signal: AbortSignal };
  },
): Promise<FileSummary> {
  const { plan, runtime, progress } = context;
  const started = performance.now();
  const summary: FileSummary = {
    file,
    size: 0,
    received: 0,
    accepted: 0,
    rejected: 0,
    bytes: 0,
    ms: 0,
    run: "",
    committed: false,
  };
  try {
    summary.size = (await Deno.stat(file)).size;
    summary.run = context.newRun ? newRunId() : await contentRunId(plan.name, await hashFile(file));
    const previous = await runtime.store.runs.get(summary.run);
    if (previous?.status === "committed") {
      // The sinks hold this content already; reading it again would only find every chunk checkpointed.
      summary.unchanged = true;
      summary.committed = true;
      summary.ms = performance.now() - started;
      progress.finish(summary);
      return summary;
    }
    const byName = formatOfName(file);
    const format = context.format ?? byName.format;
    if (format === undefined) {
      throw new Error(`Unknown format of ${file}: name it with --format (${FORMATS.join(", ")})`);
    }
    const read = { bytes: 0 };
    const input = await openFileInput(file, { format, gzip: byName.gzip, onRead: (n) => (read.bytes += n) });
    progress.start(file, summary.size);
    const result: IngestResult = await runIngest(plan, input, {
      store: runtime.store,
      pool: runtime.pool,
      kernels: runtime.kernels,
      logger: runtime.logger,
      runId: summary.run,
      signal: context.interrupt.signal,
      resumable: !context.newRun,
      onProgress: (counts) => progress.update(read.bytes, counts),
    });
    Object.assign(summary, {
      received: result.received,
      accepted: result.accepted,
      rejected: result.rejected,
      bytes: result.bytes,
      committed: result.committed,
      ...(result.quality ? { quality: result.quality.score, failedChecks: result.quality.failed } : {}),
    });
  } catch (error) {
    summary.interrupted = context.interrupt.signal.aborted;
    summary.error = error instanceof Error ? error.message : String(error);
  }
  summary.ms = performance.now() - started;
  progress.finish(summary);
  return summary;
}

/** Renders progress on stderr: a redrawn bar on a terminal, plain lines otherwise. */
class Progress {
  readonly #write: (text: string) => void;
  readonly #terminal: boolean;
  readonly #lineIntervalMs: number;
  #file = "";
  #size = 0;
  #started = 0;
  #lastDraw = 0;

  constructor(options: { write: (text: string) => void; terminal: boolean; lineIntervalMs: number }) {
    this.#write = options.write;
    this.#terminal = options.terminal;
    this.#lineIntervalMs = options.lineIntervalMs;
  }

  start(file: string, size: number): void {
    this.#file = file;
    this.#size = size;
    this.#started = performance.now();
    this.#lastDraw = this.#started;
    if (this.#terminal) this.#write(`\r\x1b[K${this.#line(0, 0)}`);
  }

  update(read: number, counts: IngestCounts): void {
    const now = performance.now();
    // A bar redrawn ten times a second is smooth enough; plain lines are for logs, so much rarer.
    if (now - this.#lastDraw < (this.#terminal ? 100 : this.#lineIntervalMs)) return;
    this.#lastDraw = now;
    const line = this.#line(read, counts.received);
    this.#write(this.#terminal ? `\r\x1b[K${line}` : `${line}\n`);
  }

  finish(summary: FileSummary): void {
    const status = summary.unchanged
      ? `unchanged: already committed by run ${summary.run}, nothing written`
      : summary.interrupted
      ? `interrupted: run ${summary.run} continues where it stopped next time`
      : summary.error
      ? `failed: ${summary.error}`
      : summary.committed
      ? "committed"
      : "not committed: see the dead-letter queue";
    const checks = summary.failedChecks?.length ? `, failed checks: ${summary.failedChecks.join(", ")}` : "";
    const line = `${summary.file}: ${summary.received} rows in ${formatDuration(summary.ms)}, ` +
      `${summary.accepted} accepted, ${summary.rejected} rejected, ${status}${checks}`;
    this.#write(this.#terminal ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  #line(read: number, rows: number): string {
    const seconds = (performance.now() - this.#started) / 1000;
    const share = this.#size > 0 ? Math.min(1, read / this.#size) : 0;
    const rate = seconds > 0 ? rows / seconds : 0;
    const eta = share > 0 && share < 1 ? formatDuration((seconds / share - seconds) * 1000) : "--";
    const width = 24;
    const filled = Math.round(share * width);
    const bar = this.#terminal ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
    return `${this.#file} ${bar}${(share * 100).toFixed(0).padStart(3)}% ` +
      `${formatBytes(read)}/${formatBytes(this.#size)} ${Math.round(rate).toLocaleString("en-US")} rows/s ` +
      `ETA ${eta}`;
  }
}

/** Bytes in binary units, e.g. `12.3 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Milliseconds as `850ms`, `12.3s` or `1:02:03`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor(total / 60) % 60;
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** The summary table: one row per file, a total row when there are several. */
export function summaryTable(summaries: readonly FileSummary[]): string {
  const header = ["file", "received", "accepted", "rejected", "bytes", "time", "run", "committed", "quality"];
  const row = (s: FileSummary) => [
    s.file,
    String(s.received),
    String(s.accepted),
    String(s.rejected),
    formatBytes(s.bytes),
    formatDuration(s.ms),
    s.run,
    s.unchanged
      ? "yes (unchanged)"
      : s.committed
      ? "yes"
      : s.interrupted
      ? "no (interrupted)"
      : s.error
      ? "no (failed)"
      : "no",
    s.quality === undefined ? "-" : s.quality.toFixed(4),
  ];
  const rows = summaries.map(row);
  if (summaries.length > 1) {
    const sum = (f: (s: FileSummary) => number) => summaries.reduce((a, s) => a + f(s), 0);
    rows.push([
      "total",
      String(sum((s) => s.received)),
      String(sum((s) => s.accepted)),
      String(sum((s) => s.rejected)),
      formatBytes(sum((s) => s.bytes)),
      formatDuration(sum((s) => s.ms)),
      "",
      `${summaries.filter((s) => s.committed).length}/${summaries.length}`,
      "",
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // Text left, numbers right, as people read tables.
  const numeric = new Set([1, 2, 3, 4, 5]);
  const format = (cells: string[]) =>
    cells.map((c, i) => numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ").trimEnd();
  const lines = [format(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(format)];
  const errors = summaries.filter((s) => s.error && !s.interrupted).map((s) => `${s.file}: ${s.error}`);
  const notes = summaries.filter((s) => s.unchanged).map((s) =>
    `${s.file}: unchanged since run ${s.run} committed it: nothing written (--new-run writes it again)`
  );
  return [
    ...lines,
    ...(errors.length > 0 ? ["", ...errors] : []),
    ...(notes.length > 0 ? ["", ...notes] : []),
  ]
    .join("\n") + "\n";
}
