import assert from "node:assert/strict";
import { COMPONENT_INSTRUMENTS, COMPONENT_LABELS, prometheusName, Telemetry } from "./metrics.ts";

Deno.test("prometheusName derives the Prometheus convention from the OTel name", async (t) => {
  const cases: [Parameters<typeof prometheusName>, string][] = [
    [[{ ...COMPONENT_INSTRUMENTS.received }, "counter"], "weir_component_received_events_total"],
    [[{ ...COMPONENT_INSTRUMENTS.bytes }, "counter"], "weir_component_received_bytes_total"],
    [
      [{ name: "weir.http.server.duration", description: "", unit: "s" }, "histogram"],
      "weir_http_server_duration_seconds",
    ],
    [[{ name: "weir.pool.queue.depth", description: "" }, "gauge"], "weir_pool_queue_depth"],
  ];
  for (const [args, expected] of cases) {
    await t.step(expected, () => assert.equal(prometheusName(...args), expected));
  }
});

Deno.test("Telemetry renders counters, histograms and gauges as Prometheus text", async () => {
  const telemetry = new Telemetry();
  const received = telemetry.counter({ ...COMPONENT_INSTRUMENTS.received, labels: COMPONENT_LABELS });
  received.add(3, { "component.kind": "source", "component.name": "http" });
  received.add(2, { "component.kind": "source", "component.name": "http" });
  assert.equal(telemetry.counter({ ...COMPONENT_INSTRUMENTS.received, labels: COMPONENT_LABELS }), received);
  telemetry.histogram({ name: "weir.job.duration", description: "Job time", unit: "s" }, [0.1, 1]).record(
    0.5,
  );
  let depth = 7;
  telemetry.gauge({ name: "weir.pool.queue.depth", description: "Queued jobs" }, () => [{ value: depth }]);
  depth = 9;
  const text = await telemetry.render();
  assert.match(
    text,
    /weir_component_received_events_total\{component_kind="source",component_name="http"\} 5/,
  );
  assert.match(text, /weir_job_duration_seconds_bucket\{le="1"\} 1/);
  assert.match(text, /weir_pool_queue_depth 9/);
});
