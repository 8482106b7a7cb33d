/**
 * A kernel worker: a module Web Worker that instantiates the kernel module once, from the compiled
 * `WebAssembly.Module` the pool posts, and runs jobs one at a time. After a trap it reports and waits
 * to be terminated; its instance is never used again.
 *
 * @module
 */

import { instantiateKernels, type Kernels } from "../kernels/mod.ts";
import { BufferFreeList } from "../pipeline/bytes.ts";
import { CsvSyntaxError, KernelError } from "../pipeline/errors.ts";
import { type KernelOp, type OpName, OPS } from "./ops.ts";
import { type JobMessage, OUTPUT_REUSE_MIN_BYTES, type PoolMessage, type WorkerMessage } from "./protocol.ts";

/** The parts of the dedicated worker scope this file uses, without pulling in the worker lib types. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<PoolMessage>) => void) | null;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let kernels: Kernels | null = null;
let trapped = false;
/**
 * Output buffers given back by consumers, for ops to copy results into: a few per job in flight (a batch of a
 * default 4 MiB chunk takes about one 4 MiB buffer), of 8 MiB each at most on average.
 */
const outputs = new BufferFreeList(4, { maxBytes: 4 * (8 << 20), minBytes: OUTPUT_REUSE_MIN_BYTES });

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "init") {
    try {
      kernels = instantiateKernels(message.module);
      scope.postMessage({ type: "ready" });
    } catch (error) {
      scope.postMessage({ type: "init_failed", message: errorMessage(error) });
    }
  } else if (message.type === "job") {
    void runJob(message);
  }
};

async function runJob(job: JobMessage): Promise<void> {
  for (const buffer of job.spare) outputs.give(buffer);
  try {
    if (kernels === null || trapped) throw new Error("Kernel worker has no usable instance");
    const op = (OPS as Record<string, KernelOp<unknown, unknown>>)[job.op as OpName];
    if (op === undefined) throw new TypeError(`Unknown kernel op: ${job.op}`);
    const { value, output, transfer = [] } = await op.run(job.input, job.params, {
      kernels,
      attempt: job.attempt,
      buffers: outputs,
    });
    const moved = output ? [output, ...transfer] : transfer;
    scope.postMessage({ type: "result", id: job.id, value, output: output ?? null }, moved);
  } catch (error) {
    const kind = error instanceof WebAssembly.RuntimeError
      ? "trap"
      : error instanceof KernelError && error.reason === "status"
      ? "status"
      : "error";
    if (kind === "trap") trapped = true;
    // Hand the input back when the op left it intact, so a retry needs no copy.
    const input = job.input !== null && !job.input.detached ? job.input : null;
    scope.postMessage(
      {
        type: "error",
        id: job.id,
        kind,
        message: errorMessage(error),
        status: error instanceof KernelError ? error.status : undefined,
        csv: error instanceof CsvSyntaxError ? { line: error.line, column: error.column } : undefined,
        input,
      },
      input ? [input] : [],
    );
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
