/**
 * A/B of two builds of the kernel module on the CSV kernel alone: both run in one process, alternately, so
 * machine noise hits them alike; each reports its best run. Copy `build/kernels/weir.wasm` aside before a
 * change, rebuild, then:
 *
 * ```sh
 * deno run -A bench/csv_kernel_ab.ts /tmp/base.wasm [build/kernels/weir.wasm]
 * ROUNDS=10 COLUMNS=ts,amount BENCH_MB=100 deno run -A bench/csv_kernel_ab.ts /tmp/base.wasm
 * ```
 *
 * `COLUMNS` declares only the named orders columns (all nine by default); `ROUNDS` (default 6) runs per build.
 * Trust the median of the rounds' ratios: the order of the two builds alternates by round, because the one
 * that runs second tends to be a few % faster.
 *
 * @module
 */

import { compileKernels } from "../kernels/mod.ts";
import { KernelCore } from "../kernels/core.ts";
import { ORDERS_FIELDS, runCsvKernelBench } from "./csv_kernel_bench.ts";
import { ordersFile } from "./data.ts";

/** A fresh instance of the module at `path` (relative to the working directory). */
async function coreOf(path: string): Promise<KernelCore> {
  const url = new URL(path, `file://${Deno.cwd()}/`);
  return new KernelCore(new WebAssembly.Instance(await compileKernels({ url }), {}));
}

if (import.meta.main) {
  const [baseline, candidate = "build/kernels/weir.wasm"] = Deno.args;
  if (!baseline) throw new Error("Usage: csv_kernel_ab.ts BASELINE.wasm [CANDIDATE.wasm]");
  const rounds = Number(Deno.env.get("ROUNDS") ?? 6);
  const names = Deno.env.get("COLUMNS")?.split(",");
  const fields = names ? ORDERS_FIELDS.filter((f) => names.includes(f.name)) : ORDERS_FIELDS;
  const file = await ordersFile({ mb: Number(Deno.env.get("BENCH_MB") ?? 100), seed: 42, format: "csv" });
  const data = await Deno.readFile(file.path);
  const builds = [baseline, candidate];
  const cores = await Promise.all(builds.map(coreOf));
  const best = [Infinity, Infinity];
  // Per round, candidate / baseline. The build that runs second in a round tends to run a few % faster, so
  // the order alternates and the median of the rounds' ratios is the figure to trust.
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const ms = [0, 0];
    for (const k of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const r = await runCsvKernelBench(data, { fields, runs: 1, core: cores[k] });
      if (r.rows !== file.rows) throw new Error(`${builds[k]}: expected ${file.rows} rows, parsed ${r.rows}`);
      ms[k] = r.ms;
      best[k] = Math.min(best[k], r.ms);
    }
    ratios.push(ms[1] / ms[0]);
  }
  ratios.sort((a, b) => a - b);
  const median = ratios.length % 2 === 1
    ? ratios[ratios.length >> 1]
    : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
  const mb = data.length / 1e6;
  for (let k = 0; k < 2; k++) {
    console.log(`${builds[k]}: ${best[k].toFixed(1)} ms, ${(mb / (best[k] / 1000)).toFixed(0)} MB/s`);
  }
  console.log(
    `candidate / baseline: median of rounds ${median.toFixed(3)}, best ${(best[1] / best[0]).toFixed(3)} ` +
      `(${fields.length} columns, ${rounds} rounds, order alternating)`,
  );
}
