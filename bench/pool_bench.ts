/**
 * Kernel pool round-trip cost: a job that does nothing (`echo` hands its input straight back), so what is
 * measured is queueing, postMessage, the transfer of the buffer both ways and the promise plumbing.
 * Prints µs per job, sequential (one job in flight) and pipelined (the pool kept full), for 1 KiB,
 * 1 MiB, 4 MiB and 16 MiB buffers.
 *
 * ```sh
 * deno task build:kernels --if-changed
 * deno run --allow-read bench/pool_bench.ts [SMALL_JOBS] [LARGE_JOBS]   # defaults 1000 and 100
 * ```
 *
 * @module
 */

import { compileKernels } from "../kernels/mod.ts";
import { createLogger } from "../observability/logger.ts";
import { KernelPool } from "../workers/pool.ts";

interface Case {
  label: string;
  bytes: number;
  jobs: number;
}

const smallJobs = Number(Deno.args[0] ?? 1000);
const largeJobs = Number(Deno.args[1] ?? 100);
// The small case runs first on purpose: once an isolate has been through a GC, V8 answers every arriving
// buffer above roughly 8 MiB with an incremental mark-compact (~10-20 ms; `--v8-flags=--trace-gc` shows
// "GC in old space requested" per message), while 1-4 MiB buffers keep moving in ~0.1 ms. A fresh process
// moving only 16 MiB buffers does not show it, which would flatter the number.
const MiB = 1024 * 1024;
const CASES: Case[] = [
  { label: "1 KiB", bytes: 1024, jobs: smallJobs },
  { label: "1 MiB", bytes: MiB, jobs: largeJobs },
  { label: "4 MiB", bytes: 4 * MiB, jobs: largeJobs },
  { label: "16 MiB", bytes: 16 * MiB, jobs: largeJobs },
];

/** One job at a time; the output buffer of each job is the input of the next, so nothing is allocated. */
async function sequential(pool: KernelPool, c: Case): Promise<number> {
  let buffer = new ArrayBuffer(c.bytes);
  const t0 = performance.now();
  for (let i = 0; i < c.jobs; i++) {
    const { output } = await pool.run("echo", { input: buffer, params: null });
    buffer = output!;
  }
  return (performance.now() - t0) * 1000 / c.jobs;
}

/** Keeps every worker busy: `inFlight` buffers circulate, each resubmitted as soon as it comes back. */
async function pipelined(pool: KernelPool, c: Case, inFlight: number): Promise<number> {
  let left = c.jobs;
  const t0 = performance.now();
  const lane = async () => {
    let buffer = new ArrayBuffer(c.bytes);
    while (left-- > 0) buffer = (await pool.run("echo", { input: buffer, params: null })).output!;
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return (performance.now() - t0) * 1000 / c.jobs;
}

const module = await compileKernels();
const logger = createLogger({ level: "error" });
console.log(`kernel pool round trip (echo), ${navigator.hardwareConcurrency} cores`);
for (const workers of [1, 2]) {
  await using pool = await KernelPool.create({ module, workers, queueSize: workers * 2, logger });
  for (const c of CASES.filter((c) => c.jobs > 0)) {
    await sequential(pool, { ...c, jobs: Math.min(c.jobs, 20) }); // warm-up
    const seq = await sequential(pool, c);
    const pipe = await pipelined(pool, c, workers * 2);
    const gbps = (us: number) => (c.bytes / (us / 1e6) / 1e9).toFixed(2);
    console.log(
      `workers=${workers} ${c.label.padEnd(6)} x${String(c.jobs).padEnd(5)} ` +
        `sequential ${seq.toFixed(1).padStart(7)} µs/job (${gbps(seq)} GB/s)  ` +
        `pipelined ${pipe.toFixed(1).padStart(7)} µs/job (${gbps(pipe)} GB/s)`,
    );
  }
}
