import assert from "node:assert/strict";
import { buildKernels, KernelBuildError } from "./build_kernels.ts";

const ADD = "export function add(a: i32, b: i32): i32 { return a + b; }\n";

/** A scratch source tree and output path, removed afterwards. */
async function withScratch(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weir_build_" });
  try {
    await Deno.mkdir(`${dir}/src`);
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("buildKernels compiles, then skips with ifChanged until an input changes", async (t) => {
  await withScratch(async (dir) => {
    await Deno.writeTextFile(`${dir}/src/index.ts`, ADD);
    const options = { sourceDir: `${dir}/src`, outFile: `${dir}/out/weir.wasm`, ifChanged: true };
    const first = await buildKernels(options);

    await t.step("the first build writes a working module", async () => {
      assert.equal(first.built, true);
      const { instance } = await WebAssembly.instantiate(await Deno.readFile(first.outFile));
      assert.equal((instance.exports.add as (a: number, b: number) => number)(2, 3), 5);
    });
    await t.step("an unchanged tree is not rebuilt", async () => {
      const again = await buildKernels(options);
      assert.deepStrictEqual({ built: again.built, hash: again.hash }, { built: false, hash: first.hash });
    });
    await t.step("a changed source is rebuilt", async () => {
      await Deno.writeTextFile(`${dir}/src/more.ts`, "export const ANSWER: i32 = 42;\n");
      const changed = await buildKernels(options);
      assert.equal(changed.built, true);
      assert.notEqual(changed.hash, first.hash);
    });
    await t.step("a missing output is rebuilt", async () => {
      await Deno.remove(`${dir}/out/weir.wasm`);
      assert.equal((await buildKernels(options)).built, true);
    });
  });
});

Deno.test("buildKernels reports compiler diagnostics as a KernelBuildError", async () => {
  await withScratch(async (dir) => {
    await Deno.writeTextFile(`${dir}/src/index.ts`, 'export function f(): i32 { return "text"; }\n');
    await assert.rejects(
      buildKernels({ sourceDir: `${dir}/src`, outFile: `${dir}/out/weir.wasm` }),
      (error: unknown) =>
        error instanceof KernelBuildError && /TS2322/.test(error.diagnostics) &&
        /index\.ts/.test(error.message),
    );
  });
});

Deno.test("build_kernels.ts exits non-zero with one clear final line on a compile error", async () => {
  await withScratch(async (dir) => {
    await Deno.writeTextFile(`${dir}/src/index.ts`, "export function f(): i32 { return missing; }\n");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${dir}`,
        "--allow-env",
        new URL("./build_kernels.ts", import.meta.url).pathname,
        "--source",
        `${dir}/src`,
        "--out",
        `${dir}/out/weir.wasm`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(stderr).trimEnd().split("\n");
    assert.equal(code, 1);
    assert.match(lines.at(-1)!, /^weir: kernel build failed: .*index\.ts:1:35: TS2304: .*missing/);
    assert.ok(lines.some((line) => line.includes("TS2304")), "the compiler's diagnostics come first");
  });
});
