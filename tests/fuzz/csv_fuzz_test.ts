import assert from "node:assert/strict";
import { fuzzCsv } from "./csv_fuzz.ts";

Deno.test("CSV kernel survives 100k seeded random and mutated inputs", async () => {
  const report = await fuzzCsv({ count: 100_000, seed: 1 });
  assert.deepStrictEqual(report.failures, []);
  assert.equal(report.inputs, 100_000);
  // The run must reach every outcome, or it proves less than it claims.
  assert.ok(report.rows > 0 && report.rejects > 0 && report.syntaxErrors > 0, JSON.stringify(report));
  assert.ok(report.compared > 5_000, `only ${report.compared} chunked parses were compared with whole ones`);
  // Every call resets the arena, so memory stays at what the largest single input needs.
  assert.ok(report.memoryBytes <= 4 << 20, `memory grew to ${report.memoryBytes} bytes`);
});
