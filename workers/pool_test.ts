import assert from "node:assert/strict";
import { compileKernels, instantiateKernels, RecordScanState } from "../kernels/mod.ts";
import { createLogger } from "../observability/logger.ts";
import type { Batch } from "../pipeline/batch.ts";
import { KernelError } from "../pipeline/errors.ts";
import { KernelPool, type KernelPoolOptions } from "./pool.ts";

const module = await compileKernels();
const quiet = createLogger({ write: () => {} });

/** Runs `body` with a fresh pool and always closes it, so a failed assertion leaks no worker. */
async function withPool(
  options: KernelPoolOptions,
  body: (pool: KernelPool) => Promise<void>,
): Promise<void> {
  const pool = await KernelPool.create({ module, logger: quiet, ...options });
  try {
    await body(pool);
  } finally {
    await pool.close({ drain: false });
  }
}

function isKernelError(reason: KernelError["reason"]) {
  return (error: unknown) => error instanceof KernelError && error.reason === reason;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("KernelPool transfers buffers to the worker and back without copying", async (t) => {
  for (const size of [1024, 16 * 1024 * 1024]) {
    await t.step(`${size} bytes`, async () => {
      await withPool({ workers: 1 }, async (pool) => {
        const input = new ArrayBuffer(size);
        new Uint8Array(input).fill(7, size - 16);
        const submitted = await pool.submit("echo", { input, params: null });
        assert.equal(input.byteLength, 0, "the sender's buffer is detached");
        const { value, output } = await submitted.result;
        assert.equal(value, size);
        assert.ok(output);
        assert.deepStrictEqual([...new Uint8Array(output, size - 17)], [0, ...Array(16).fill(7)]);
      });
    });
  }
});

Deno.test("KernelPool runs the record scanner in a worker like in-process", async () => {
  const text = 'a,b\n"c\nd",e\r\nf';
  const local = new RecordScanState();
  const expected = instantiateKernels(module).scanRecords(local, new TextEncoder().encode(text));
  await withPool({ workers: 1 }, async (pool) => {
    const state = new RecordScanState();
    const { value } = await pool.run("records.scan", {
      input: new TextEncoder().encode(text).buffer,
      params: { block: state.toBlock(), delimiter: ",", quote: '"' },
    });
    state.setBlock(value.block);
    assert.deepStrictEqual(
      { status: value.status, records: value.records, cut: value.cut, total: state.records },
      { ...expected, total: local.records },
    );
  });
});

Deno.test("KernelPool.submit waits while the queue is full", async () => {
  await withPool({ workers: 1, queueSize: 1 }, async (pool) => {
    const running = await pool.submit("test.spin", { params: { ms: 300 } });
    await pool.submit("test.spin", { params: { ms: 1 } });
    let runningDone = false;
    running.result.then(() => runningDone = true);
    let accepted = false;
    const third = pool.submit("echo", { input: new ArrayBuffer(8), params: null }).then((job) => {
      accepted = true;
      return job;
    });
    await delay(50);
    assert.deepStrictEqual({ accepted, queued: pool.stats().queued, busy: pool.stats().busy }, {
      accepted: false,
      queued: 1,
      busy: 1,
    });
    const job = await third;
    assert.equal(runningDone, true, "room appeared only when the running job finished");
    assert.equal((await job.result).value, 8);
  });
});

Deno.test("KernelPool times out a job and replaces its worker", async () => {
  await withPool({ workers: 1 }, async (pool) => {
    await assert.rejects(
      pool.run("test.spin", { params: { ms: 300 }, timeoutMs: 30 }),
      isKernelError("timeout"),
    );
    assert.deepStrictEqual({ timeouts: pool.stats().timeouts, restarts: pool.stats().restarts }, {
      timeouts: 1,
      restarts: 1,
    });
    assert.equal((await pool.run("echo", { input: new ArrayBuffer(4), params: null })).value, 4);
  });
});

Deno.test("KernelPool retries a job whose worker trapped", async (t) => {
  await t.step("a trap on the first attempt only succeeds on the retry, input intact", async () => {
    await withPool({ workers: 1, maxAttempts: 3 }, async (pool) => {
      const input = new Uint8Array([1, 2, 3]).buffer;
      const result = await pool.run("test.trap", { input, params: { trapAttempts: 1 } });
      assert.deepStrictEqual(
        { value: result.value, attempts: result.attempts, output: [...new Uint8Array(result.output!)] },
        { value: 2, attempts: 2, output: [1, 2, 3] },
      );
      assert.deepStrictEqual({ restarts: pool.stats().restarts, retries: pool.stats().retries }, {
        restarts: 1,
        retries: 1,
      });
    });
  });
  await t.step("a job that always traps fails with reason trap after the limit", async () => {
    await withPool({ workers: 1, maxAttempts: 2 }, async (pool) => {
      await assert.rejects(pool.run("test.trap", { params: { trapAttempts: 99 } }), isKernelError("trap"));
      assert.deepStrictEqual(
        { restarts: pool.stats().restarts, failed: pool.stats().failed, workers: pool.stats().workers },
        { restarts: 2, failed: 1, workers: 1 },
      );
    });
  });
});

Deno.test("KernelPool survives a worker that crashes", async () => {
  await withPool({ workers: 1, maxAttempts: 2 }, async (pool) => {
    await assert.rejects(pool.run("test.crash", { params: null }), isKernelError("worker"));
    assert.equal(pool.stats().restarts, 2);
    assert.equal((await pool.run("echo", { input: new ArrayBuffer(2), params: null })).value, 2);
  });
});

Deno.test("KernelPool.close finishes or rejects pending work", async (t) => {
  await t.step("drain finishes queued and running jobs", async () => {
    const pool = await KernelPool.create({ module, logger: quiet, workers: 1, queueSize: 4 });
    const jobs = await Promise.all([1, 2, 3].map(() => pool.submit("test.spin", { params: { ms: 20 } })));
    await pool.close();
    const results = await Promise.all(jobs.map((job) => job.result));
    assert.equal(results.length, 3);
    assert.deepStrictEqual({ workers: pool.stats().workers, completed: pool.stats().completed }, {
      workers: 0,
      completed: 3,
    });
    await assert.rejects(pool.submit("echo", { params: null }), isKernelError("closed"));
  });
  await t.step("without drain rejects queued and running jobs", async () => {
    const pool = await KernelPool.create({ module, logger: quiet, workers: 1, queueSize: 4 });
    const running = await pool.submit("test.spin", { params: { ms: 100 } });
    const queued = await pool.submit("test.spin", { params: { ms: 1 } });
    await pool.close({ drain: false });
    await assert.rejects(running.result, isKernelError("closed"));
    await assert.rejects(queued.result, isKernelError("closed"));
  });
  await t.step("rejects a submit waiting for room", async () => {
    const pool = await KernelPool.create({ module, logger: quiet, workers: 1, queueSize: 1 });
    await pool.submit("test.spin", { params: { ms: 50 } });
    await pool.submit("test.spin", { params: { ms: 1 } });
    const waiting = assert.rejects(pool.submit("echo", { params: null }), isKernelError("closed"));
    await pool.close();
    await waiting;
  });
});

Deno.test("KernelPool.submit honours an AbortSignal", async (t) => {
  await t.step("already aborted", async () => {
    await withPool({ workers: 1 }, async (pool) => {
      const input = new ArrayBuffer(8);
      await assert.rejects(
        pool.submit("echo", { input, params: null, signal: AbortSignal.abort(new Error("stop")) }),
        /stop/,
      );
      assert.equal(input.byteLength, 8, "a refused job leaves the buffer with its owner");
    });
  });
  await t.step("while queued", async () => {
    await withPool({ workers: 1, queueSize: 2 }, async (pool) => {
      await pool.submit("test.spin", { params: { ms: 100 } });
      const controller = new AbortController();
      const queued = await pool.submit("echo", { params: null, signal: controller.signal });
      controller.abort(new Error("client went away"));
      await assert.rejects(queued.result, /client went away/);
      assert.equal(pool.stats().queued, 0);
    });
  });
  await t.step("while waiting for room", async () => {
    await withPool({ workers: 1, queueSize: 1 }, async (pool) => {
      await pool.submit("test.spin", { params: { ms: 100 } });
      await pool.submit("test.spin", { params: { ms: 1 } });
      const controller = new AbortController();
      const waiting = assert.rejects(
        pool.submit("echo", { params: null, signal: controller.signal }),
        /gave up/,
      );
      controller.abort(new Error("gave up"));
      await waiting;
    });
  });
});

Deno.test("KernelPool.stats counts workers and jobs", async () => {
  await withPool({ workers: 2 }, async (pool) => {
    await pool.run("echo", { input: new ArrayBuffer(1), params: null });
    assert.deepStrictEqual(pool.stats(), {
      workers: 2,
      queued: 0,
      busy: 0,
      completed: 1,
      failed: 0,
      restarts: 0,
      timeouts: 0,
      retries: 0,
    });
  });
});

Deno.test("KernelPool.create fails with reason load when workers cannot use the module", async () => {
  const empty = await WebAssembly.compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  await assert.rejects(
    KernelPool.create({ module: empty, logger: quiet, workers: 1 }),
    isKernelError("load"),
  );
});

Deno.test("KernelPool fails only the trapped job between parse jobs and parses on the replaced worker", async () => {
  const csv = "id,amount\n1,2.50\n2,x\n3,4.00\n";
  const params = {
    format: "csv" as const,
    columns: [
      { name: "id", type: "int64" as const, required: true },
      { name: "amount", type: "decimal" as const, precision: 12, scale: 2 },
    ],
    rules: { id: { required: true } },
    firstLine: 1,
    dialect: { delimiter: ",", quote: '"', header: true, nullTokens: [""] },
    header: null,
  };
  const parse = async (
    job: Promise<{ value: { batch: { length: number; lines: Int32Array }; rejects: unknown[] } }>,
  ) => {
    const { value } = await job;
    return { rows: value.batch.length, lines: [...value.batch.lines], rejects: value.rejects };
  };
  const expected = {
    rows: 2,
    lines: [2, 4],
    rejects: [{ line: 3, column: "amount", rule: "type", value: "x" }],
  };
  // One worker and room for every job: the trap hits the worker between two parse jobs, and the second parse
  // job can only run on the worker that replaced it.
  await withPool({ workers: 1, queueSize: 3, maxAttempts: 1 }, async (pool) => {
    const input = () => new TextEncoder().encode(csv).buffer;
    const before = await pool.submit("parse.chunk", { input: input(), params });
    const trap = await pool.submit("test.trap", { input: new ArrayBuffer(8), params: { trapAttempts: 1 } });
    const after = await pool.submit("parse.chunk", { input: input(), params });
    assert.deepStrictEqual(await parse(before.result), expected);
    await assert.rejects(trap.result, isKernelError("trap"));
    assert.deepStrictEqual(await parse(after.result), expected);
    assert.deepStrictEqual(
      { restarts: pool.stats().restarts, failed: pool.stats().failed, completed: pool.stats().completed },
      { restarts: 1, failed: 1, completed: 2 },
    );
  });
});

Deno.test("parse.chunk reads only the chunk at the start of a longer, reused buffer and hands the buffer back", async () => {
  const csv = new TextEncoder().encode("id,name\n1,a\n2,b\n");
  const params = {
    format: "csv" as const,
    columns: [{ name: "id", type: "int64" as const }, { name: "name", type: "string" as const }],
    rules: {},
    firstLine: 1,
    dialect: { delimiter: ",", quote: '"', header: true, nullTokens: [""] },
    header: null,
  };
  await withPool({ workers: 1 }, async (pool) => {
    // What an earlier, longer chunk left behind the new one must not be read.
    const buffer = new ArrayBuffer(csv.length + 64);
    new Uint8Array(buffer).fill(0x39);
    new Uint8Array(buffer).set(csv);
    const { value, output } = await pool.run("parse.chunk", {
      input: buffer,
      params: { ...params, length: csv.length },
    });
    assert.deepStrictEqual([...value.batch.lines], [2, 3]);
    assert.deepStrictEqual(value.rejects, []);
    assert.equal(output!.byteLength, csv.length + 64);
    assert.deepStrictEqual(new Uint8Array(output!, 0, csv.length), csv);
    pool.buffers.give(output!);
    assert.equal(pool.buffers.size, 1);
  });
});

/** A CSV of `rows` rows whose values all depend on `seed`, and the ids and names it holds. */
function seededCsv(rows: number, seed: number): ArrayBuffer {
  let text = "id,name\n";
  for (let i = 0; i < rows; i++) text += `${seed * 1_000_000 + i},s${seed}r${i}\n`;
  return new TextEncoder().encode(text).buffer;
}

function parseCsv(pool: KernelPool, rows: number, seed: number) {
  return pool.run("parse.chunk", {
    input: seededCsv(rows, seed),
    params: {
      format: "csv",
      columns: [{ name: "id", type: "int64" }, { name: "name", type: "string" }],
      rules: {},
      firstLine: 1,
      dialect: { delimiter: ",", quote: '"', nullTokens: [""] },
      header: null,
    },
  });
}

/** Whether `batch` holds exactly the rows of `seededCsv(rows, seed)`. */
function holdsSeeded(batch: Batch, rows: number, seed: number): boolean {
  if (batch.length !== rows) return false;
  const id = batch.columns.id;
  const name = batch.columns.name;
  if (id.type !== "int64" || name.type !== "string") return false;
  const decoder = new TextDecoder();
  for (let i = 0; i < rows; i++) {
    if (id.values[i] !== BigInt(seed * 1_000_000 + i) || batch.lines[i] !== i + 2) return false;
    const text = decoder.decode(name.data.subarray(name.offsets[i], name.offsets[i + 1]));
    if (text !== `s${seed}r${i}`) return false;
  }
  return true;
}

Deno.test("KernelPool.giveBack detaches the batch at once", async () => {
  await withPool({ workers: 1 }, async (pool) => {
    const { value } = await parseCsv(pool, 100_000, 1);
    const buffer = value.batch.lines.buffer as ArrayBuffer;
    pool.giveBack(value.batch);
    assert.ok(buffer.detached);
    assert.equal(value.batch.lines.length, 0);
    assert.equal(value.batch.columns.id.length, 100_000, "the column's length field stays");
    assert.equal(
      (value.batch.columns.id as { values: BigInt64Array }).values.length,
      0,
      "but its values are gone",
    );
  });
});

Deno.test("KernelPool has a worker copy a later result into a given-back buffer, but not a small one", async () => {
  await withPool({ workers: 1 }, async (pool) => {
    const big = (await parseCsv(pool, 100_000, 1)).value.batch;
    const bigBytes = big.lines.buffer.byteLength;
    assert.ok(bigBytes >= 1 << 20, "large enough to be kept");
    pool.giveBack(big);
    // A batch under 1 MiB gets a new buffer: it must not pin the large one for as long as it lives.
    const small = (await parseCsv(pool, 1000, 2)).value.batch;
    assert.ok(small.lines.buffer.byteLength < 1 << 20, "a small batch in a buffer of its own");
    assert.ok(holdsSeeded(small, 1000, 2));
    const smaller = (await parseCsv(pool, 50_000, 3)).value.batch;
    assert.equal(smaller.lines.buffer.byteLength, bigBytes, "a smaller batch in the big given-back buffer");
    assert.ok(holdsSeeded(smaller, 50_000, 3));
  });
});

Deno.test("KernelPool results stay intact over many chunks while others are given back", async () => {
  for (const workers of [1, 2]) {
    await withPool({ workers }, async (pool) => {
      // Held results must never change, whatever the workers copy into the given-back buffers meanwhile.
      const held: { batch: Batch; rows: number; seed: number }[] = [];
      const jobs = Array.from({ length: 24 }, (_, seed) => ({ seed, rows: 60_000 + seed * 997 }));
      for (let at = 0; at < jobs.length; at += 3) {
        const results = await Promise.all(jobs.slice(at, at + 3).map((j) => parseCsv(pool, j.rows, j.seed)));
        results.forEach(({ value }, k) => {
          const { seed, rows } = jobs[at + k];
          assert.ok(holdsSeeded(value.batch, rows, seed), `chunk ${seed} parsed right`);
          if (seed % 2 === 0) pool.giveBack(value.batch);
          else held.push({ batch: value.batch, rows, seed });
        });
      }
      for (const { batch, rows, seed } of held) {
        assert.ok(holdsSeeded(batch, rows, seed), `chunk ${seed} held`);
      }
    });
  }
});
