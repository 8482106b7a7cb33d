/**
 * weir's side of each benchmark, built on the kernels as they land. A side whose pieces are missing returns
 * `{ skip }` with the reason, so the harness prints `skipped …` and never a made-up number.
 *
 * @module
 */

import type { Contender, Unavailable } from "./harness.ts";
import { ORDER_STATUSES } from "./data.ts";
import { compileKernels } from "../kernels/mod.ts";
import { KernelCore } from "../kernels/core.ts";
import { type ValidateKernels, validateKernels } from "../kernels/validate.ts";
import { type JsonColumn, type JsonKernels, jsonKernels } from "../kernels/ndjson.ts";
import {
  type Columnar,
  type ColumnData,
  type ColumnRules,
  compileRules,
  validateBatch,
} from "../pipeline/validate.ts";

/** Options for {@linkcode weirCsvContender}. */
export interface WeirCsvOptions {
  /** Data rows in the file, for rows/s and the row-count check. */
  rows: number;
  /** Worker count. */
  workers: number;
}

async function exists(relative: string): Promise<boolean> {
  try {
    await Deno.stat(new URL(relative, import.meta.url));
    return true;
  } catch {
    return false;
  }
}

/** weir's typed CSV parse + validate of orders.csv through the worker pool. */
export async function weirCsvContender(
  _bytes: Uint8Array,
  options: WeirCsvOptions,
): Promise<Contender | Unavailable> {
  for (const f of ["../kernels/csv.ts", "../workers/pool.ts", "../pipeline/batch.ts"]) {
    if (!(await exists(f))) {
      return { skip: `${f.slice(3)} is not there yet (CSV kernel and worker pool pending)` };
    }
  }
  return { skip: `weir CSV side with ${options.workers} worker(s) is not wired yet` };
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
 * weir's validation over a typed orders batch built from `objects` outside the timed region. With
 * `patterns: false` the JS pattern pass is left out, to show what the kernels alone do.
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
  const rules = compileRules(declared, batch);
  return {
    name: "weir",
    bytes: options.bytes,
    rows: batch.length,
    run: () => validateBatch(kernels, batch, rules).valid.length,
  };
}
