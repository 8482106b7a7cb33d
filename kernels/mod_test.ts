import assert from "node:assert/strict";
import { KernelError } from "../pipeline/errors.ts";
import { compileKernels, instantiateKernels, KERNELS_WASM_URL } from "./mod.ts";

Deno.test("compileKernels names the build task when the module is missing", async () => {
  await assert.rejects(
    compileKernels({ url: new URL("./no_such_dir/weir.wasm", KERNELS_WASM_URL) }),
    (error: unknown) =>
      error instanceof KernelError && error.reason === "load" &&
      error.message.includes("deno task build:kernels"),
  );
});

Deno.test("compileKernels rejects a file that is not WebAssembly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/weir.wasm`, "not wasm");
    await assert.rejects(
      compileKernels({ url: new URL(`file://${dir}/weir.wasm`) }),
      (error: unknown) => error instanceof KernelError && error.reason === "load",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kernel module imports nothing and exports its memory", async () => {
  const module = await compileKernels();
  assert.deepStrictEqual(WebAssembly.Module.imports(module), []);
  assert.ok(WebAssembly.Module.exports(module).some((e) => e.name === "memory" && e.kind === "memory"));
});

Deno.test("instantiateKernels rejects a stale module by naming the missing export", () => {
  const empty = new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  assert.throws(
    () => instantiateKernels(empty),
    (error: unknown) =>
      error instanceof KernelError && error.reason === "load" && /memory/.test(error.message),
  );
});

Deno.test("test hooks trap and spin on demand", async (t) => {
  const kernels = instantiateKernels(await compileKernels());
  await t.step("testTrap(false) returns", () => kernels.testTrap(false));
  await t.step("testTrap(true) traps", () => {
    assert.throws(() => kernels.testTrap(true), WebAssembly.RuntimeError);
  });
  await t.step("testSpin does work proportional to its argument", () => {
    assert.notEqual(kernels.testSpin(1), kernels.testSpin(2));
  });
});
