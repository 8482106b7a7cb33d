/**
 * A/B of builds of the kernel module on the record scanner as the chunker drives it (`scanRecords` with
 * `copyTo`): each 64 KiB piece is copied into linear memory, scanned and copied out. All builds run in one process, alternately,
 * and each reports its least CPU time (CPU time, not wall time: on a shared machine a preempted run does not
 * count against it). Copy `build/kernels/weir.wasm` aside before a change, rebuild, then:
 *
 * ```sh
 * deno run -A bench/scan_kernel_ab.ts /tmp/base.wasm [build/kernels/weir.wasm ...]
 * ROUNDS=30 FILE=other.csv deno run -A bench/scan_kernel_ab.ts /tmp/base.wasm
 * ```
 *
 * `FILE` is the CSV to scan (default: the 200 MB orders file), `ROUNDS` (default 20) runs per build. Every build
 * must count the same records and lines.
 *
 * @module
 */

import process from "node:process";
import { KernelCore } from "../kernels/core.ts";
import { compileKernels } from "../kernels/mod.ts";
import { SCAN_PIECE_BYTES, SCAN_STATE } from "../kernels/records.ts";
import { ordersFile } from "./data.ts";

if (import.meta.main) {
  const builds = Deno.args.length === 1 ? [Deno.args[0], "build/kernels/weir.wasm"] : Deno.args;
  if (builds.length < 2) throw new Error("Usage: scan_kernel_ab.ts BASELINE.wasm [CANDIDATE.wasm ...]");
  const rounds = Number(Deno.env.get("ROUNDS") ?? 20);
  const path = Deno.env.get("FILE") ?? (await ordersFile({ mb: 200, seed: 42, format: "csv" })).path;
  const bytes = await Deno.readFile(path);
  const piece = SCAN_PIECE_BYTES;
  const out = new Uint8Array(piece);
  const sides = await Promise.all(builds.map(async (build) => {
    const url = new URL(build, `file://${Deno.cwd()}/`);
    const core = new KernelCore(new WebAssembly.Instance(await compileKernels({ url }), {}));
    return {
      core,
      scan: core.fn("scan_records"),
      state: core.alloc(SCAN_STATE.SIZE),
      data: core.alloc(piece),
    };
  }));
  const best = builds.map(() => Infinity);
  const counts: string[] = [];
  // Round 0 is untimed: every build runs compiled code once before it is measured.
  for (let round = 0; round <= rounds; round++) {
    for (const [k, { core, scan, state, data }] of sides.entries()) {
      const view = core.view(data, piece);
      core.view(state, SCAN_STATE.SIZE).fill(0);
      const start = process.cpuUsage();
      for (let at = 0; at < bytes.length; at += piece) {
        const chunk = bytes.subarray(at, at + piece);
        view.set(chunk);
        scan(state, data, chunk.length, 0x2c, 0x22);
        out.set(view.subarray(0, chunk.length));
      }
      const used = process.cpuUsage(start);
      if (round > 0) best[k] = Math.min(best[k], (used.user + used.system) / 1000);
      const block = new DataView(core.view(state, SCAN_STATE.SIZE).slice().buffer);
      counts[k] = `${block.getBigUint64(SCAN_STATE.RECORDS, true)} records, ` +
        `${block.getBigUint64(SCAN_STATE.LINES, true)} lines`;
    }
  }
  for (const [k, build] of builds.entries()) {
    if (counts[k] !== counts[0]) throw new Error(`${build} counted ${counts[k]}, ${builds[0]} ${counts[0]}`);
    const perHundred = best[k] * 100e6 / bytes.length;
    console.log(`${build}: ${perHundred.toFixed(2)} ms CPU per 100 MB (${(best[k] / best[0]).toFixed(3)})`);
  }
  console.log(`${counts[0]}, best of ${rounds}`);
}
