import assert from "node:assert/strict";
import { compileKernels, KERNEL_STATUS, kernelStatusName } from "./mod.ts";

Deno.test("KERNEL_STATUS mirrors the module's status codes", async () => {
  const exports = new WebAssembly.Instance(await compileKernels(), {}).exports;
  const fromModule: Record<string, number> = {};
  for (const [name, value] of Object.entries(exports)) {
    if (name.startsWith("STATUS_") && value instanceof WebAssembly.Global) {
      fromModule[name.slice("STATUS_".length)] = Number(value.value);
    }
  }
  assert.deepStrictEqual({ ...KERNEL_STATUS }, fromModule);
});

Deno.test("kernelStatusName names known codes only", async (t) => {
  const cases = [
    { code: 0, name: "OK" },
    { code: 1, name: "UNTERMINATED_QUOTE" },
    { code: -3, name: "BAD_STATE" },
    { code: 99, name: undefined },
  ];
  for (const c of cases) {
    await t.step(`${c.code}`, () => assert.deepStrictEqual(kernelStatusName(c.code), c.name));
  }
});
