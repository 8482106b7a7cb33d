import assert from "node:assert/strict";
import { KernelError } from "../pipeline/errors.ts";
import { KernelCore } from "./core.ts";
import { compileKernels } from "./mod.ts";
import { KERNEL_STATUS } from "./status.ts";

const module = await compileKernels();
const fresh = () => new KernelCore(new WebAssembly.Instance(module, {}));

Deno.test("KernelCore.alloc returns 16-byte-aligned, non-overlapping regions", async (t) => {
  const core = fresh();
  for (const sizes of [[1, 1, 1], [15, 17, 33], [0, 5, 0]]) {
    await t.step(sizes.join(","), () => {
      core.reset();
      const ptrs = sizes.map((size) => core.alloc(size));
      assert.ok(ptrs.every((ptr) => ptr % 16 === 0), `aligned: ${ptrs}`);
      for (let i = 1; i < ptrs.length; i++) assert.ok(ptrs[i] >= ptrs[i - 1] + sizes[i - 1]);
    });
  }
});

Deno.test("KernelCore.reset makes the arena reuse its memory", () => {
  const core = fresh();
  const first = core.alloc(100);
  core.alloc(100);
  core.reset();
  assert.equal(core.alloc(100), first);
});

Deno.test("KernelCore.alloc grows memory for a large region and keeps its bytes", () => {
  const core = fresh();
  const before = core.memoryBytes;
  const size = 32 * 1024 * 1024;
  const ptr = core.write(new Uint8Array(size).fill(9));
  assert.ok(core.memoryBytes >= before + size);
  assert.equal(core.view(ptr + size - 1, 1)[0], 9);
});

Deno.test("KernelCore.alloc reports out of memory as a status error", () => {
  const core = fresh();
  assert.throws(
    () => core.alloc(0xffff_ffff),
    (error: unknown) =>
      error instanceof KernelError && error.reason === "status" &&
      error.status === KERNEL_STATUS.OUT_OF_MEMORY,
  );
});

Deno.test("KernelCore.check passes data statuses and throws for failures", async (t) => {
  const core = fresh();
  const cases = [
    { status: 0, throws: false },
    { status: 1, throws: false },
    { status: -1, throws: true },
    { status: -2, throws: true },
    { status: -42, throws: true },
  ];
  for (const c of cases) {
    await t.step(`${c.status}`, () => {
      if (c.throws) assert.throws(() => core.check(c.status, "demo"), KernelError);
      else assert.equal(core.check(c.status, "demo"), c.status);
    });
  }
});
