/**
 * Throughput of the CSV record-boundary scanner (the chunker's kernel) on generated order data: in this
 * thread at several chunk sizes, next to a plain copy of the same bytes (the wrapper copies each chunk
 * into linear memory) and a straightforward JavaScript scanner of the same rules; then through a
 * one-worker pool, where each chunk is transferred to the worker and the state block travels with it.
 * Every contender must count the same records.
 *
 * ```sh
 * deno task build:kernels --if-changed
 * deno run --allow-read bench/scan_bench.ts [MB]   # default 256
 * ```
 *
 * @module
 */

import { KernelCore } from "../kernels/core.ts";
import { compileKernels, instantiateKernels, RecordScanState } from "../kernels/mod.ts";
import { SCAN_STATE } from "../kernels/records.ts";
import { createLogger } from "../observability/logger.ts";
import { KernelPool } from "../workers/pool.ts";

const MiB = 1024 * 1024;
const RUNS = 3;
const size = Number(Deno.args[0] ?? 256) * 1e6;

/** Orders as CSV; one row in eight has a quoted note with a comma, a doubled quote or a line break. */
function generate(bytes: number): { data: Uint8Array; records: number } {
  const encoder = new TextEncoder();
  const data = new Uint8Array(bytes + MiB);
  const statuses = ["new", "paid", "shipped", "cancelled", "refunded"];
  const notes = ['"gift, wrapped"', '"said ""hi"""', '"line one\nline two"', "plain"];
  let at = 0, id = 0, block = "";
  data.set(encoder.encode("id,ts,country,amount,status,note\n"));
  at = 33;
  while (at < bytes) {
    for (let i = 0; i < 2000; i++, id++) {
      const note = id % 8 === 0 ? notes[(id >> 3) % notes.length] : "ok";
      block += `${id},2026-11-28T12:${String(id % 60).padStart(2, "0")}:00Z,DE,${(id % 9973) / 10},` +
        `${statuses[id % 5]},${note}\n`;
    }
    at += encoder.encodeInto(block, data.subarray(at)).written;
    block = "";
  }
  return { data: data.subarray(0, at), records: id + 1 };
}

/** The same rules as the kernel, one byte at a time, for scale. */
function scanJs(data: Uint8Array, delimiter = 0x2c, quote = 0x22): number {
  let records = 0, recordStart = 0, fieldStart = true;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (fieldStart && c === quote) {
      for (i++; i < data.length; i++) {
        if (data[i] === quote) {
          if (data[i + 1] !== quote) break;
          i++;
        }
      }
      fieldStart = false;
    } else if (c === 10 || c === 13) {
      if (c === 13 && data[i + 1] === 10) i++;
      if (i > recordStart) records++;
      recordStart = i + 1;
      fieldStart = true;
    } else {
      fieldStart = c === delimiter;
    }
  }
  return recordStart < data.length ? records + 1 : records;
}

function best(run: () => number, expected: number, label: string): number {
  let seconds = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const seen = run();
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    if (seen !== expected) console.error(`warning ${label}: counted ${seen} records, expected ${expected}`);
  }
  return seconds;
}

function report(label: string, bytes: number, seconds: number, baseline?: number): void {
  const ratio = baseline ? `  (${(baseline / seconds).toFixed(1)}x the JS scanner)` : "";
  console.log(`${label.padEnd(34)} ${(bytes / seconds / 1e9).toFixed(2).padStart(6)} GB/s${ratio}`);
}

const { data, records } = generate(size);
console.log(`record scanner, ${(data.length / 1e6).toFixed(0)} MB, ${records} records`);
const kernels = instantiateKernels(await compileKernels());

const js = best(() => scanJs(data), records, "js");
report("JS scanner, whole input", data.length, js);

for (const chunk of [64 * 1024, MiB, 4 * MiB, 16 * MiB]) {
  const kernel = best(
    () => {
      const state = new RecordScanState();
      let n = 0;
      for (let at = 0; at < data.length; at += chunk) {
        n += kernels.scanRecords(state, data.subarray(at, at + chunk)).records;
      }
      return n + kernels.finishRecords(state).records;
    },
    records,
    "kernel",
  );
  report(
    `kernel in-thread, ${chunk >= MiB ? `${chunk / MiB} MiB` : `${chunk / 1024} KiB`} chunks`,
    data.length,
    kernel,
    js,
  );
}

// The kernel alone: the input is already in linear memory (as it would be if a source read straight into
// the arena), one call over all of it.
{
  const core = new KernelCore(new WebAssembly.Instance(await compileKernels(), {}));
  const scan = core.fn("scan_records");
  const finish = core.fn("finish_records");
  const state = core.alloc(SCAN_STATE.SIZE);
  const input = core.write(data);
  const alone = best(
    () => {
      core.view(state, SCAN_STATE.SIZE).fill(0);
      scan(state, input, data.length, 0x2c, 0x22);
      const chunk = new DataView(core.view(state, SCAN_STATE.SIZE).slice().buffer).getUint32(
        SCAN_STATE.CHUNK_RECORDS,
        true,
      );
      finish(state);
      const last = new DataView(core.view(state, SCAN_STATE.SIZE).slice().buffer).getUint32(
        SCAN_STATE.CHUNK_RECORDS,
        true,
      );
      return chunk + last;
    },
    records,
    "kernel alone",
  );
  report("kernel alone, input in memory", data.length, alone, js);
}

const target = new Uint8Array(16 * MiB);
const copy = best(
  () => {
    for (let at = 0; at < data.length; at += target.length) target.set(data.subarray(at, at + target.length));
    return records;
  },
  records,
  "copy",
);
report("copy alone (what the wrapper adds)", data.length, copy);

const module = await compileKernels();
await using pool = await KernelPool.create({ module, workers: 1, logger: createLogger({ level: "error" }) });
for (const chunk of [MiB, 4 * MiB, 16 * MiB]) {
  let seconds = Infinity;
  for (let run = 0; run < RUNS; run++) {
    // Transfer detaches each chunk, so every run gets fresh copies, made outside the timed region.
    const chunks: ArrayBuffer[] = [];
    for (let at = 0; at < data.length; at += chunk) chunks.push(data.slice(at, at + chunk).buffer);
    const state = new RecordScanState();
    const params = () => ({ block: state.toBlock(), delimiter: ",", quote: '"' });
    let n = 0;
    const t0 = performance.now();
    for (const input of chunks) {
      const { value } = await pool.run("records.scan", { input, params: params() });
      state.setBlock(value.block);
      n += value.records;
    }
    n += (await pool.run("records.finish", { params: params() })).value.records;
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    if (n !== records) console.error(`warning pool: counted ${n} records, expected ${records}`);
  }
  report(`pool, 1 worker, ${chunk / MiB} MiB chunks`, data.length, seconds, js);
}
