/**
 * Every job a kernel worker can run, by name. This registry is the one place ops are listed; the pool
 * derives its typed `submit()` from it and the worker dispatches on it.
 *
 * @module
 */

import { type Kernels, RecordScanState } from "../kernels/mod.ts";
import type { BufferFreeList } from "../pipeline/bytes.ts";
import { parseChunk, type ParseChunkParams, type ParsedChunk } from "./parse.ts";

/** What an op gets besides its input and parameters. */
export interface OpContext {
  /** This worker's instance. */
  kernels: Kernels;
  /** Which attempt this is, from 1; a job is retried after its worker trapped or crashed. */
  attempt: number;
  /**
   * This worker's free-list of output buffers that consumers gave back (`KernelPool.giveBack`): an op copies
   * its results into them rather than into new buffers, whose pages must be zeroed and faulted in.
   */
  buffers?: BufferFreeList;
}

/** What an op returns: a structured-clonable value and an optional buffer to transfer back. */
export interface OpOutput<R> {
  value: R;
  output?: ArrayBuffer;
  /** Buffers inside `value` (e.g. a batch's columns) to move back instead of copying. */
  transfer?: ArrayBuffer[];
}

/** One job type. `P` is its parameters, `R` its result value. */
export interface KernelOp<P, R> {
  run(input: ArrayBuffer | null, params: P, context: OpContext): OpOutput<R> | Promise<OpOutput<R>>;
}

/** Declares an op with its parameter and result types spelled out, so the pool can derive them. */
export function defineOp<P, R>(run: KernelOp<P, R>["run"]): KernelOp<P, R> {
  return { run };
}

/** Parameters of `records.scan`: the stream's state block and its delimiter and quote. */
export interface ScanRecordsParams {
  block: Uint8Array;
  delimiter: string;
  quote: string;
}

/** Result of `records.scan` and `records.finish`: the advanced state block and what the scan found. */
export interface ScanRecordsValue {
  block: Uint8Array;
  status: number;
  records: number;
  cut: number | null;
}

function needInput(input: ArrayBuffer | null, op: string): ArrayBuffer {
  if (input === null) throw new TypeError(`Op ${op} needs an input buffer`);
  return input;
}

function restore(params: ScanRecordsParams): RecordScanState {
  const state = new RecordScanState({ delimiter: params.delimiter, quote: params.quote });
  state.setBlock(params.block);
  return state;
}

/** The op registry. Names are `area.verb`; `test.*` ops are test hooks, not for the data path. */
export const OPS = {
  /** Returns the input untouched: the pool's own round-trip cost. */
  "echo": defineOp<null, number>((input) => {
    const buffer = needInput(input, "echo");
    return { value: buffer.byteLength, output: buffer };
  }),

  /** Scans one chunk of a CSV stream for record boundaries (see kernels/records.ts). */
  "records.scan": defineOp<ScanRecordsParams, ScanRecordsValue>((input, params, { kernels }) => {
    const state = restore(params);
    const scan = kernels.scanRecords(state, new Uint8Array(needInput(input, "records.scan")));
    return { value: { block: state.toBlock(), ...scan } };
  }),

  /** Ends a CSV stream: reports its last record. */
  "records.finish": defineOp<ScanRecordsParams, ScanRecordsValue>((_input, params, { kernels }) => {
    const state = restore(params);
    const scan = kernels.finishRecords(state);
    return { value: { block: state.toBlock(), ...scan } };
  }),

  /** Parses one chunk of CSV or NDJSON into a typed batch and validates it (see workers/parse.ts). */
  "parse.chunk": defineOp<ParseChunkParams, ParsedChunk>((input, params, { kernels, buffers }) =>
    parseChunk(kernels, params.file ? null : needInput(input, "parse.chunk"), params, { buffers })
  ),

  /** Test hook: traps on attempts up to `trapAttempts`, then returns the attempt number and the input. */
  "test.trap": defineOp<{ trapAttempts: number }, number>((input, params, { kernels, attempt }) => {
    kernels.testTrap(attempt <= params.trapAttempts);
    return { value: attempt, output: input ?? undefined };
  }),

  /** Test hook: spins in the kernel for roughly `ms` milliseconds. */
  "test.spin": defineOp<{ ms: number }, number>((_input, params, { kernels }) => ({
    value: kernels.testSpin(params.ms),
  })),

  /** Test hook: crashes the worker with an uncaught error and never answers. */
  "test.crash": defineOp<null, never>(() => {
    setTimeout(() => {
      throw new Error("Test hook: worker crash");
    });
    return new Promise<never>(() => {});
  }),
} as const;

/** The name of an op. */
export type OpName = keyof typeof OPS;

/** The parameters of op `N`. */
export type OpParams<N extends OpName> = (typeof OPS)[N] extends KernelOp<infer P, infer _R> ? P : never;

/** The result value of op `N`. */
export type OpValue<N extends OpName> = (typeof OPS)[N] extends KernelOp<infer _P, infer R> ? R : never;
