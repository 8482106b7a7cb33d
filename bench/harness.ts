/**
 * Measuring and reporting for `deno task bench`: every comparison prints the absolute throughput of each side
 * and one `ratio <benchmark> vs <peer>: <weir / peer>` line, or `skipped <benchmark>: <why>` when weir's side
 * cannot run yet. A missing side is never replaced by a made-up number.
 *
 * @module
 */

/** One side of a comparison: a job over a known amount of input. */
export interface Contender {
  /** `weir` or the peer's name, e.g. `papaparse`. */
  name: string;
  /** Bytes of input one run consumes (for MB/s). */
  bytes: number;
  /** Rows one run produces or checks (for rows/s). */
  rows: number;
  /** Does the work once; returns the number of rows it saw, which is checked against `rows`. */
  run(): number | Promise<number>;
  /** Releases what `run` kept alive (e.g. a table), outside the timed region. */
  after?(): void | Promise<void>;
  /** Extra result lines printed after this side's line (e.g. latency percentiles of its best run). */
  notes?(): string[];
}

/** What measuring a contender found. */
export interface Measured {
  /** Contender name. */
  name: string;
  /** Best wall time of the runs, in seconds. */
  seconds: number;
  /** Megabytes (10^6 bytes) per second. */
  mbps: number;
  /** Rows per second. */
  rowsps: number;
}

/** Options for {@linkcode measure}. */
export interface MeasureOptions {
  /** Timed runs; the best is kept because on a shared 2-core machine noise only ever slows a run down. */
  runs: number;
  /** Where progress and warnings go (stderr by default) so stdout carries only results. */
  log?: (line: string) => void;
}

/**
 * Runs `c.run()` once untimed, then times it `runs` times and keeps the best; warns when the row count it saw
 * is not the one expected. The untimed run lets every side reach compiled code first (JavaScript's JIT tiers,
 * the tier-up of WebAssembly from V8's baseline compiler), as a long-running service has: a first timed run
 * otherwise measures compilation, by as much as a third of weir's time.
 */
export async function measure(c: Contender, options: MeasureOptions): Promise<Measured> {
  const log = options.log ?? ((line: string) => console.error(line));
  let best = Infinity;
  for (let i = -1; i < options.runs; i++) {
    const t0 = performance.now();
    const seen = await c.run();
    const dt = (performance.now() - t0) / 1000;
    await c.after?.();
    if (seen !== c.rows) log(`warning ${c.name}: saw ${seen} rows, expected ${c.rows}`);
    if (i >= 0) best = Math.min(best, dt);
  }
  return { name: c.name, seconds: best, mbps: c.bytes / 1e6 / best, rowsps: c.rows / best };
}

/** Formats a rate with three significant digits and an SI suffix: `1.23 M`. */
export function si(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const units = ["", " k", " M", " G"];
  let u = 0;
  while (Math.abs(x) >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${x.toPrecision(3)}${units[u]}`;
}

/** The lines printed for one measured side. */
export function sideLine(benchmark: string, m: Measured): string {
  return `${m.name === "weir" ? "weir" : "peer"} ${benchmark} ${m.name}: ${m.mbps.toFixed(1)} MB/s, ${
    si(m.rowsps)
  }rows/s (${m.seconds.toFixed(3)} s)`;
}

/** The ratio line the issue asks for: weir throughput divided by the peer's. */
export function ratioLine(benchmark: string, weir: Measured, peer: Measured): string {
  return `ratio ${benchmark} vs ${peer.name}: ${(weir.rowsps / peer.rowsps).toFixed(2)}`;
}

/** The line printed instead of a ratio when weir's side is not runnable. */
export function skipLine(benchmark: string, why: string): string {
  return `skipped ${benchmark}: ${why}`;
}

/** A weir side that is not ready says why instead of producing a number. */
export interface Unavailable {
  /** Why weir's side cannot run, e.g. `kernels/csv.ts not present yet`. */
  skip: string;
}

/** What a benchmark hands the runner: weir's side (or why not) and its peers. */
export interface Comparison {
  /** weir's side, or the reason it is skipped. */
  weir: Contender | Unavailable;
  /** The peers, measured in the same process run. */
  peers: Contender[];
}

/** A named benchmark. `prepare` loads data once; the runner measures each side. */
export interface Benchmark {
  /** Name used on the command line and in output, e.g. `csv-orders`. */
  name: string;
  /** One line on what is compared. */
  summary: string;
  /** Builds the comparison for the given data size. */
  prepare(options: BenchOptions): Promise<Comparison>;
}

/** Knobs from the environment. */
export interface BenchOptions {
  /** Data size in MB (`BENCH_MB`, default 200). */
  mb: number;
  /** Data seed (`BENCH_SEED`, default 42). */
  seed: number;
  /** Timed runs per side (`BENCH_RUNS`, default 3). */
  runs: number;
}

/** Runs one benchmark, printing each side, then one ratio line per peer (or the skip line). */
export async function runBenchmark(
  b: Benchmark,
  options: BenchOptions,
  print: (line: string) => void = console.log,
): Promise<void> {
  const cmp = await b.prepare(options);
  const peers: Measured[] = [];
  for (const p of cmp.peers) {
    const m = await measure(p, { runs: options.runs });
    print(sideLine(b.name, m));
    for (const line of p.notes?.() ?? []) print(line);
    peers.push(m);
  }
  if ("skip" in cmp.weir) {
    print(skipLine(b.name, cmp.weir.skip));
    return;
  }
  const w = await measure(cmp.weir, { runs: options.runs });
  print(sideLine(b.name, w));
  for (const line of cmp.weir.notes?.() ?? []) print(line);
  for (const p of peers) print(ratioLine(b.name, w, p));
}
