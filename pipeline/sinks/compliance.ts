/**
 * The compliance check every sink's tests run against the real destination: two batches written, one written
 * again (which must change nothing), the output read back and compared row by row, the component counters
 * checked and a clean close.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Batch, batchFromRows, cellValue, type Field } from "../batch.ts";
import type { PipelineSchema, Sink } from "../component.ts";
import { COMPONENT_INSTRUMENTS, prometheusName, Telemetry } from "../../observability/metrics.ts";

/** A row as the compliance check compares it: every value as text (see {@linkcode canonicalRow}), null as null. */
export type TextRow = Record<string, string | null>;

/** The schema of the compliance batches: every column type, keyed by `id`. */
export const COMPLIANCE_SCHEMA: PipelineSchema = {
  key: ["id"],
  fields: [
    { name: "id", type: "int64" },
    { name: "name", type: "string" },
    { name: "amount", type: "decimal", precision: 12, scale: 2 },
    { name: "ratio", type: "float64" },
    { name: "paid", type: "boolean" },
    { name: "day", type: "date" },
    { name: "ts", type: "timestamp" },
  ] satisfies Field[],
};

const A_ROWS = [
  [1n, "plain", "12.30", 0.5, true, "2026-01-02", "2026-01-02T03:04:05.123456Z"],
  [2n, 'comma, "quotes"\nand a newline', "-0.07", -1.25, false, "1999-12-31", "1970-01-01T00:00:00Z"],
  [3n, null, null, null, null, null, null],
  [9007199254740993n, "", "9999999999.99", 1e-300, true, "2400-02-29", "2262-04-11T23:47:16.854775Z"],
];
const B_ROWS = [
  [4n, "ünïcødé ✓ 日本", "0.00", 3, false, "2026-11-28", "2026-11-28T12:00:00.000001Z"],
  [5n, "tab\tseparated", "1.5", 2.5, true, "2026-06-30", "2026-06-30T23:59:59.999999Z"],
];

/** The first compliance batch (4 rows: every type, nulls, an int64 beyond 2^53, quoting and an empty string). */
export const BATCH_A: Batch = batchFromRows(COMPLIANCE_SCHEMA.fields, A_ROWS);
/** The second compliance batch (2 rows). */
export const BATCH_B: Batch = batchFromRows(COMPLIANCE_SCHEMA.fields, B_ROWS);

/** Row `row` of `batch` with every value as text, as a read-back is expected to present it. */
export function canonicalRow(batch: Batch, row: number): TextRow {
  const out: TextRow = {};
  for (const f of batch.schema.fields) {
    const value = cellValue(batch.columns[f.name], row);
    out[f.name] = value === null ? null : String(value);
  }
  return out;
}

/** Options for {@linkcode sinkCompliance}. */
export interface SinkComplianceOptions {
  /** The sink's name, as its counters label it (`component.name`). */
  name: string;
  /** Builds a fresh sink over a fresh destination, recording into `telemetry`. */
  makeSink(telemetry: Telemetry): Promise<Sink>;
  /** Reads everything the sink wrote, each row as {@linkcode TextRow} (order does not matter). */
  readBack(): Promise<TextRow[]>;
}

async function counter(
  telemetry: Telemetry,
  spec: { name: string; unit?: string; description: string },
  name: string,
) {
  const metric = telemetry.registry.getSingleMetric(prometheusName(spec, "counter"));
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => v.labels.component_kind === "sink" && v.labels.component_name === name)
    .reduce((n, v) => n + v.value, 0);
}

/**
 * Runs the compliance steps on a sink: writes {@linkcode BATCH_A} and {@linkcode BATCH_B} as sequences 0 and 1
 * of one run, writes sequence 0 again, then checks that the destination holds each row exactly once, that the
 * counters say so, that `healthcheck` resolves and that `close` is clean.
 */
export async function sinkCompliance(t: Deno.TestContext, options: SinkComplianceOptions): Promise<void> {
  const telemetry = new Telemetry();
  const sink = await options.makeSink(telemetry);
  const runId = `r_compliance_${crypto.randomUUID()}`;
  const signal = new AbortController().signal;
  let closed = false;
  try {
    await t.step("writes two batches and ignores a rewrite of the first", async () => {
      await sink.write(BATCH_A, { runId, sequence: 0, signal });
      await sink.write(BATCH_B, { runId, sequence: 1, signal });
      await sink.write(BATCH_A, { runId, sequence: 0, signal });
    });
    await t.step("holds every row exactly once", async () => {
      const expected = [
        ...Array.from({ length: BATCH_A.length }, (_, i) => canonicalRow(BATCH_A, i)),
        ...Array.from({ length: BATCH_B.length }, (_, i) => canonicalRow(BATCH_B, i)),
      ];
      const byId = (a: TextRow, b: TextRow) => (BigInt(a.id ?? 0) < BigInt(b.id ?? 0) ? -1 : 1);
      assert.deepEqual((await options.readBack()).sort(byId), expected.sort(byId));
    });
    await t.step("counts received, sent and bytes, and no errors", async () => {
      const rows = BATCH_A.length + BATCH_B.length;
      assert.equal(
        await counter(telemetry, COMPONENT_INSTRUMENTS.received, options.name),
        rows + BATCH_A.length,
      );
      assert.equal(await counter(telemetry, COMPONENT_INSTRUMENTS.sent, options.name), rows);
      assert.ok(
        (await counter(telemetry, COMPONENT_INSTRUMENTS.bytes, options.name)) > 0,
        "expected bytes counted",
      );
      assert.equal(await counter(telemetry, COMPONENT_INSTRUMENTS.errors, options.name), 0);
    });
    await t.step("passes its healthcheck and closes cleanly", async () => {
      await sink.healthcheck(signal);
      closed = true;
      await sink.close();
      await assert.rejects(sink.write(BATCH_B, { runId, sequence: 2, signal }), /closed/i);
    });
  } finally {
    if (!closed) await sink.close();
  }
}

/** Reads one component counter of sink `name` from `telemetry` (0 when never recorded). */
export function sinkCounter(
  telemetry: Telemetry,
  which: keyof typeof COMPONENT_INSTRUMENTS,
  name: string,
): Promise<number> {
  return counter(telemetry, COMPONENT_INSTRUMENTS[which], name);
}
