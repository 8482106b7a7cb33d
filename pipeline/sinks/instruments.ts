/**
 * The component counters every sink records, bound to its `component.kind`/`component.name` labels once so a
 * sink cannot get the names or labels wrong.
 *
 * @module
 */

import { COMPONENT_INSTRUMENTS, COMPONENT_LABELS, type Telemetry } from "../../observability/metrics.ts";

/** Counters of one sink. */
export interface SinkInstruments {
  /** Rows handed to `write`, duplicates included. */
  received(rows: number): void;
  /** Rows committed to the destination (a skipped duplicate write sends none). */
  sent(rows: number): void;
  /** Bytes encoded for the destination. */
  bytes(bytes: number): void;
  /** One failed write. */
  error(): void;
}

/** The counters of sink `name` (the protocol noun, e.g. `postgres`). */
export function sinkInstruments(telemetry: Telemetry, name: string): SinkInstruments {
  const labels = { "component.kind": "sink", "component.name": name };
  const counter = (spec: (typeof COMPONENT_INSTRUMENTS)[keyof typeof COMPONENT_INSTRUMENTS]) =>
    telemetry.counter({ ...spec, labels: COMPONENT_LABELS });
  const received = counter(COMPONENT_INSTRUMENTS.received);
  const sent = counter(COMPONENT_INSTRUMENTS.sent);
  const bytes = counter(COMPONENT_INSTRUMENTS.bytes);
  const errors = counter(COMPONENT_INSTRUMENTS.errors);
  return {
    received: (n) => received.add(n, labels),
    sent: (n) => sent.add(n, labels),
    bytes: (n) => bytes.add(n, labels),
    error: () => errors.add(1, labels),
  };
}
