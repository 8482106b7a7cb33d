import assert from "node:assert/strict";
import { keepsNoBatch } from "./runner.ts";
import { fileSink, kafkaSink, postgresSink, redisSink } from "./sinks/mod.ts";
import { deriveSpec, filterSpec, lookupSpec } from "./transforms/mod.ts";

Deno.test("keepsNoBatch tells which pipelines may give finished batches back", async (t) => {
  const capturing: { name: string; keepsNoBatch?: boolean } = { name: "capture" };
  const cases = [
    {
      name: "database and stream sinks",
      transforms: [],
      sinks: [postgresSink, kafkaSink, redisSink],
      want: true,
    },
    {
      name: "built-in transforms",
      transforms: [deriveSpec, filterSpec, lookupSpec],
      sinks: [postgresSink],
      want: true,
    },
    { name: "a file sink", transforms: [], sinks: [postgresSink, fileSink], want: true },
    { name: "an unknown sink", transforms: [], sinks: [capturing], want: false },
    { name: "an unknown transform", transforms: [capturing], sinks: [postgresSink], want: false },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const spec = (s: { keepsNoBatch?: boolean }) => ({ spec: s });
      assert.equal(keepsNoBatch({ transforms: c.transforms.map(spec), sinks: c.sinks.map(spec) }), c.want);
    });
  }
});
