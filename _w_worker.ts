self.onmessage = (e) => {
  if (e.data === "js") { let x = 0; for (;;) { x = (x * 31 + 1) | 0; } }
  const bytes = Deno.readFileSync(new URL("./build/kernels/weir.wasm", import.meta.url));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  (inst.exports.test_spin as (n: number) => number)(3000);
};
