/**
 * weir's side of each benchmark, built on the kernels as they land. A side whose pieces are missing returns
 * `{ skip }` with the reason, so the harness prints `skipped …` and never a made-up number.
 *
 * @module
 */

import type { Contender, Unavailable } from "./harness.ts";
import { ORDER_STATUSES } from "./data.ts";
import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import type { Field } from "../pipeline/batch.ts";
import { chunkRecords, csvHeader } from "../pipeline/chunker.ts";
import { parseCsvFile } from "../pipeline/file_ranges.ts";
import { REGISTRY } from "../pipeline/registry.ts";
import { loadPipelines, toColumnRules, toPipelineSchema } from "../pipeline/spec.ts";
import { createLogger } from "../observability/logger.ts";
import { KernelPool } from "../workers/pool.ts";
import type { JobResult } from "../workers/pool.ts";
import { KernelCore } from "../kernels/core.ts";
import { type ValidateKernels, validateKernels } from "../kernels/validate.ts";
import { type JsonColumn, type JsonKernels, jsonKernels } from "../kernels/ndjson.ts";
import {
  type Columnar,
  type ColumnData,
  type ColumnRules,
  compileRules,
  kernelColumn,
} from "../pipeline/validate.ts";

/** Options for {@linkcode weirCsvContender}. */
export interface WeirCsvOptions {
  /** Data rows in the file, for rows/s and the row-count check. */
  rows: number;
  /** Worker count. */
  workers: number;
  /**
   * The file the bytes came from: given, the workers read their own byte ranges of it (`parseCsvFile`) and the
   * main thread neither scans nor copies the data.
   */
  path?: string;
}

/**
 * The columns of the generated orders.csv as the weir.yaml `orders` pipeline declares them (types and rules via
 * `toPipelineSchema`/`toColumnRules`), plus the two columns the file carries that the pipeline does not
 * declare (`paid`, `note`), typed like DuckDB's side so both do the same typed job on all nine columns.
 */
export async function ordersCsvPlan(): Promise<{
  columns: (Field & { required?: boolean })[];
  rules: Record<string, ColumnRules>;
}> {
  const text = await Deno.readTextFile(new URL("../weir.yaml", import.meta.url));
  const orders = loadPipelines(text, { catalog: REGISTRY }).pipelines.get("orders");
  if (!orders) throw new Error("weir.yaml has no orders pipeline");
  const rules = toColumnRules(orders);
  const columns: (Field & { required?: boolean })[] = toPipelineSchema(orders).fields.map((f) => ({
    ...f,
    required: rules[f.name]?.required ?? false,
  }));
  columns.push({ name: "paid", type: "boolean" }, { name: "note", type: "string" });
  return { columns, rules };
}

/** Chunk size of weir's CSV side: the ingest path's default. */
const CSV_CHUNK_BYTES = 4 << 20;
/** Parse jobs each worker may have in flight: one running, one queued, one waiting to be merged. */
const CSV_IN_FLIGHT_PER_WORKER = 3;

/**
 * weir's typed CSV parse + validate of orders.csv in a `KernelPool` of `workers` workers, started outside the
 * timed region like a server's; results taken in order, each batch's buffer given back for later chunks.
 *
 * - With `path` (`csv-orders-2w`): `parseCsvFile`, each worker reading its own ~4 MiB byte range of the file,
 *   so the main thread neither scans nor copies the data; on the 2-core machine that leaves both cores to the
 *   workers (100 MB: 2 workers 50.7-54.2 ms against 60.2-63.0 the other way). With one worker the other way
 *   is faster (85 against 90 ms): the worker's read from the page cache costs more than the copy it saves,
 *   and the main thread's work runs on the idle core.
 * - Without: as the ingest path does it for a stream, the chunker cuts ~4 MiB chunks at record boundaries on
 *   the main thread (record-scanner kernel) into buffers of a free-list, moved to the workers and back.
 */
export async function weirCsvContender(
  bytes: Uint8Array,
  options: WeirCsvOptions,
): Promise<Contender | Unavailable> {
  let module: WebAssembly.Module;
  try {
    module = await compileKernels();
  } catch (e) {
    return { skip: `kernel module not loadable: ${e instanceof Error ? e.message : String(e)}` };
  }
  const { columns, rules } = await ordersCsvPlan();
  const pool = await KernelPool.create({
    module,
    workers: options.workers,
    logger: createLogger({ level: "error" }),
  });
  const local = instantiateKernels(module);
  const dialect = { delimiter: ",", quote: '"', header: true, nullTokens: [""] };
  const maxInFlight = options.workers * CSV_IN_FLIGHT_PER_WORKER;
  const path = options.path;
  if (path !== undefined) {
    return {
      name: "weir",
      bytes: bytes.length,
      rows: options.rows,
      run: async () => {
        let rows = 0;
        let rejects = 0;
        const chunks = parseCsvFile(pool, path, {
          columns,
          rules,
          dialect,
          targetBytes: CSV_CHUNK_BYTES,
          inFlightPerWorker: CSV_IN_FLIGHT_PER_WORKER,
          kernels: local,
        });
        for await (const { batch, rejects: rejected } of chunks) {
          rows += batch.length;
          rejects += rejected.length;
          // Done with the batch: its buffer goes back for a worker to copy a later batch into.
          pool.giveBack(batch);
        }
        if (rejects > 0) console.error(`weir csv: ${rejects} rows rejected`);
        return rows;
      },
    };
  }
  return {
    name: "weir",
    bytes: bytes.length,
    rows: options.rows,
    run: async () => {
      let rows = 0;
      let rejects = 0;
      let header: { bytes: Uint8Array; lines: number } | null = null;
      const inFlight: Promise<JobResult<"parse.chunk">>[] = [];
      // As the ingest runner does: the pool's, reused across runs as a server's ingests reuse them.
      const buffers = pool.buffers;
      const take = async () => {
        const { value, output } = await inFlight.shift()!;
        rows += value.batch.length;
        rejects += value.rejects.length;
        buffers.give(output!);
        // Done with the batch: its buffer goes back for a worker to copy a later batch into.
        pool.giveBack(value.batch);
      };
      const input = (async function* () {
        yield bytes;
      })();
      const chunks = chunkRecords(input, {
        format: "csv",
        kernels: local,
        targetBytes: CSV_CHUNK_BYTES,
        buffers,
      });
      for await (const chunk of chunks) {
        if (chunk.sequence === 0) header = csvHeader(chunk.bytes, dialect.quote);
        // The chunker hands out chunks in their own buffers: moved to the worker, not copied.
        const job = await pool.submit("parse.chunk", {
          input: chunk.bytes.buffer,
          params: {
            format: "csv",
            columns,
            rules,
            firstLine: chunk.firstLine,
            length: chunk.bytes.length,
            lines: chunk.lines,
            dialect,
            header: chunk.sequence === 0 ? null : header,
          },
        });
        inFlight.push(job.result);
        if (inFlight.length >= maxInFlight) await take();
      }
      while (inFlight.length > 0) await take();
      // A rejected order is not a row: it shows as a row-count warning from the harness.
      if (rejects > 0) console.error(`weir csv: ${rejects} rows rejected`);
      return rows;
    },
  };
}

/** The orders columns as weir declares them for JSON input: every one required, as in {@linkcode ORDERS_RULES}. */
export const ORDERS_JSON_COLUMNS: readonly JsonColumn[] = [
  { name: "id", type: "int64", required: true },
  { name: "ts", type: "timestamp", required: true },
  { name: "customer", type: "string", required: true },
  { name: "country", type: "string", required: true },
  { name: "amount", type: "decimal", precision: 12, scale: 2, required: true },
  { name: "qty", type: "int64", required: true },
  { name: "status", type: "string", required: true },
  { name: "paid", type: "boolean", required: true },
  { name: "note", type: "string", required: true },
];

/** Chunk size the NDJSON side pushes, like an HTTP body read in 1 MiB pieces. */
const NDJSON_CHUNK_BYTES = 1 << 20;

/** weir's NDJSON reader into typed orders `Batch`es, from bytes, in 1 MiB chunks, on one kernel instance. */
export async function weirNdjsonContender(
  bytes: Uint8Array,
  options: { rows: number },
): Promise<Contender | Unavailable> {
  let kernels: JsonKernels;
  try {
    kernels = jsonKernels(new KernelCore(new WebAssembly.Instance(await compileKernels())));
  } catch (e) {
    return { skip: `kernel module not loadable: ${e instanceof Error ? e.message : String(e)}` };
  }
  return {
    name: "weir",
    bytes: bytes.length,
    rows: options.rows,
    run: () => {
      const parser = kernels.createJsonParser({ columns: ORDERS_JSON_COLUMNS });
      let rows = 0;
      for (let at = 0; at < bytes.length; at += NDJSON_CHUNK_BYTES) {
        rows += parser.push(bytes.subarray(at, at + NDJSON_CHUNK_BYTES)).batch.length;
      }
      // Rejected orders are not rows, so a reject shows as a row-count warning from the harness.
      return rows + parser.finish().batch.length;
    },
  };
}

/** The orders rules as weir declares them: the peers' rules plus uniqueness of `id`. */
export const ORDERS_RULES: Record<string, ColumnRules> = {
  id: { required: true, min: 1, unique: true },
  ts: { required: true },
  customer: { required: true, minLength: 1, maxLength: 200 },
  country: { required: true, pattern: "^[A-Z]{2}$" },
  amount: { required: true, min: 0, max: 1_000_000 },
  qty: { required: true, min: 1, max: 1000 },
  status: { required: true, enum: [...ORDER_STATUSES] },
  paid: { required: true },
  note: { required: true },
};

interface OrderObject {
  id: number;
  ts: string;
  customer: string;
  country: string;
  amount: number;
  qty: number;
  status: string;
  paid: boolean;
  note: string;
}

function stringColumn(values: readonly string[]): ColumnData {
  const enc = new TextEncoder();
  const parts = values.map((v) => enc.encode(v));
  const offsets = new Int32Array(values.length + 1);
  parts.forEach((p, i) => (offsets[i + 1] = offsets[i] + p.length));
  const data = new Uint8Array(offsets[values.length]);
  parts.forEach((p, i) => data.set(p, offsets[i]));
  return { type: "string", offsets, data };
}

/** Builds the typed orders batch a parser would produce (outside any timed region). */
export function ordersColumnar(objects: readonly unknown[]): Columnar {
  const rows = objects as readonly OrderObject[];
  const n = rows.length;
  const paid = new Uint8Array((n + 7) >> 3);
  rows.forEach((o, i) => o.paid && (paid[i >> 3] |= 1 << (i & 7)));
  return {
    length: n,
    lines: Int32Array.from({ length: n }, (_, i) => i + 1),
    columns: {
      id: { type: "int64", values: BigInt64Array.from(rows, (o) => BigInt(o.id)) },
      ts: { type: "timestamp", values: BigInt64Array.from(rows, (o) => BigInt(Date.parse(o.ts)) * 1000n) },
      customer: stringColumn(rows.map((o) => o.customer)),
      country: stringColumn(rows.map((o) => o.country)),
      amount: {
        type: "decimal",
        scale: 2,
        values: BigInt64Array.from(rows, (o) => BigInt(Math.round(o.amount * 100))),
      },
      qty: { type: "int64", values: BigInt64Array.from(rows, (o) => BigInt(o.qty)) },
      status: stringColumn(rows.map((o) => o.status)),
      paid: { type: "boolean", values: paid },
      note: stringColumn(rows.map((o) => o.note)),
    },
  };
}

/**
 * weir's validation over a typed orders batch built from `objects` outside the timed region and placed in the
 * kernel instance's memory, as the parser leaves its output (the ingest path validates there, before copying
 * rows out). With `patterns: false` the pattern rule is left out, to show what it costs.
 */
export async function weirValidateContender(
  objects: readonly unknown[],
  options: { bytes: number; patterns?: boolean },
): Promise<Contender | Unavailable> {
  let kernels: ValidateKernels;
  try {
    kernels = validateKernels(new KernelCore(new WebAssembly.Instance(await compileKernels())));
  } catch (e) {
    return { skip: `kernel module not loadable: ${e instanceof Error ? e.message : String(e)}` };
  }
  const batch = ordersColumnar(objects);
  const declared = options.patterns === false
    ? Object.fromEntries(Object.entries(ORDERS_RULES).map(([k, r]) => [k, { ...r, pattern: undefined }]))
    : ORDERS_RULES;
  const rules = compileRules(declared, batch.columns);
  if (rules.patterns.some((p) => p !== undefined)) {
    return { skip: "an orders pattern is not a kernel pattern" };
  }
  const n = batch.length;
  const placed = kernels.place(rules.names.map((name) => kernelColumn(batch.columns[name])), rules.kernel, n);
  return {
    name: "weir",
    bytes: options.bytes,
    rows: n,
    run: () => n - kernels.validatePlaced(placed, rules.kernel, n).rows.length,
  };
}
