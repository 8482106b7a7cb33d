/**
 * Metrics, defined once and recorded twice: through @opentelemetry/api (exported by Deno's built-in SDK when
 * `OTEL_DENO=true`) and into a prom-client registry served as Prometheus text at `/metrics`. Deno's SDK has no
 * Prometheus exporter, and the OTel API cannot read its own values back, hence the second recording.
 *
 * Names follow OpenTelemetry conventions (`weir.component.received.events`); the Prometheus name is derived
 * (`weir_component_received_events_total`), never written by hand.
 *
 * @module
 */
import { type Attributes, metrics as otelMetrics } from "@opentelemetry/api";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Label values by label name. */
export type Labels = Record<string, string>;

/** A monotonically increasing count. */
export interface CounterInstrument {
  add(value: number, labels?: Labels): void;
}

/** A distribution of observed values, e.g. durations in seconds. */
export interface HistogramInstrument {
  record(value: number, labels?: Labels): void;
}

/** The definition of one instrument. */
export interface InstrumentSpec {
  /** OpenTelemetry name, dot separated, e.g. `weir.pool.jobs.completed`. */
  name: string;
  /** One sentence for `# HELP` and the OTel description. */
  description: string;
  /** UCUM unit, e.g. `s`, `By`, `{job}`. */
  unit?: string;
  /** Label names this instrument takes, in a fixed order. */
  labels?: readonly string[];
}

/** Telemetry names, defined once for every component (see ARCHITECTURE.md §5). */
export const COMPONENT_INSTRUMENTS = {
  received: {
    name: "weir.component.received.events",
    description: "Events a component received",
    unit: "{event}",
  },
  sent: { name: "weir.component.sent.events", description: "Events a component sent on", unit: "{event}" },
  dropped: {
    name: "weir.component.dropped.events",
    description: "Events a component dropped",
    unit: "{event}",
  },
  errors: { name: "weir.component.errors", description: "Errors a component raised", unit: "{error}" },
  bytes: { name: "weir.component.received.bytes", description: "Bytes a component received", unit: "By" },
} as const satisfies Record<string, Omit<InstrumentSpec, "labels">>;

/** The labels every component instrument carries. */
export const COMPONENT_LABELS = ["component.kind", "component.name"] as const;

/** Converts an OTel name and unit to the Prometheus convention. */
export function prometheusName(spec: InstrumentSpec, kind: "counter" | "gauge" | "histogram"): string {
  const base = spec.name.replaceAll(".", "_");
  const unitSuffix = spec.unit === "s" ? "_seconds" : spec.unit === "By" ? "_bytes" : "";
  const withUnit = base.endsWith(unitSuffix) ? base : base + unitSuffix;
  return kind === "counter" ? `${withUnit}_total` : withUnit;
}

const promLabel = (label: string) => label.replaceAll(".", "_");
const promLabels = (labels: Labels | undefined) =>
  Object.fromEntries(Object.entries(labels ?? {}).map(([key, value]) => [promLabel(key), value]));

/** The process's instruments and the registry `/metrics` renders. */
export class Telemetry {
  /** The Prometheus registry behind `/metrics`. */
  readonly registry: Registry = new Registry();
  readonly #meter = otelMetrics.getMeter("weir");
  readonly #instruments = new Map<string, unknown>();

  /** A counter; asking twice for one name returns the same instrument. */
  counter(spec: InstrumentSpec): CounterInstrument {
    return this.#once(spec.name, () => {
      const otel = this.#meter.createCounter(spec.name, { description: spec.description, unit: spec.unit });
      const prom = new Counter({
        name: prometheusName(spec, "counter"),
        help: spec.description,
        labelNames: (spec.labels ?? []).map(promLabel),
        registers: [this.registry],
      });
      return {
        add: (value: number, labels?: Labels) => {
          otel.add(value, labels as Attributes);
          prom.inc(promLabels(labels), value);
        },
      };
    });
  }

  /** A histogram with Prometheus buckets `buckets` (seconds by default). */
  histogram(spec: InstrumentSpec, buckets?: number[]): HistogramInstrument {
    return this.#once(spec.name, () => {
      const otel = this.#meter.createHistogram(spec.name, { description: spec.description, unit: spec.unit });
      const prom = new Histogram({
        name: prometheusName(spec, "histogram"),
        help: spec.description,
        labelNames: (spec.labels ?? []).map(promLabel),
        ...(buckets ? { buckets } : {}),
        registers: [this.registry],
      });
      return {
        record: (value: number, labels?: Labels) => {
          otel.record(value, labels as Attributes);
          prom.observe(promLabels(labels), value);
        },
      };
    });
  }

  /** A gauge read from `read` whenever either side collects, e.g. the worker pool's queue depth. */
  gauge(spec: InstrumentSpec, read: () => { value: number; labels?: Labels }[]): void {
    this.#once(spec.name, () => {
      const otel = this.#meter.createObservableGauge(spec.name, {
        description: spec.description,
        unit: spec.unit,
      });
      otel.addCallback((result) => {
        for (const { value, labels } of read()) result.observe(value, labels as Attributes);
      });
      new Gauge({
        name: prometheusName(spec, "gauge"),
        help: spec.description,
        labelNames: (spec.labels ?? []).map(promLabel),
        registers: [this.registry],
        collect() {
          this.reset();
          for (const { value, labels } of read()) this.set(promLabels(labels), value);
        },
      });
      return true;
    });
  }

  /** The registry as Prometheus text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  #once<T>(name: string, create: () => T): T {
    if (!this.#instruments.has(name)) this.#instruments.set(name, create());
    return this.#instruments.get(name) as T;
  }
}
