/**
 * From a validated pipeline spec to something that runs: transforms and sinks built once per pipeline (their
 * checks against the schema run here, at load), the validation rules and the parse parameters.
 *
 * @module
 */
import type { ComponentContext, PipelineSchema, Sink, SinkSpec, Transform } from "./component.ts";
import type { Field } from "./batch.ts";
import { ConfigError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import type { HttpSourceConfig } from "./sources/http/config.ts";
import type { FileSourceConfig } from "./sources/file/config.ts";
import { type PipelineSpec, toColumnRules, toPipelineSchema } from "./spec.ts";
import type { ColumnRules } from "./validate.ts";

/** A built sink with its spec (for `isRetriable`) and a name for stages, logs and dead letters. */
export interface PlannedSink {
  /** `sink.<noun>` or `sink.<noun>.<index>` when a pipeline has two of one kind. */
  component: string;
  spec: SinkSpec;
  sink: Sink;
}

/** The CSV dialect with its defaults applied: what the chunker and the parse jobs read. */
export interface ParseDialect {
  readonly delimiter: string;
  readonly quote: string | null;
  readonly header: boolean;
  readonly nullTokens: readonly string[];
}

/** An executable pipeline. */
export interface PipelinePlan {
  readonly name: string;
  readonly spec: PipelineSpec<Registry>;
  /** The `http` source's config, when that is the source. */
  readonly http?: HttpSourceConfig;
  /** The `file` source's config, when that is the source. */
  readonly file?: FileSourceConfig;
  /** How CSV inputs are written (from the source's `csv` config, defaults applied). */
  readonly csv: ParseDialect;
  /** The typed input columns (with `required`, which the JSON reader enforces itself). */
  readonly columns: readonly (Field & { required?: boolean })[];
  /** The input schema with its key. */
  readonly schema: PipelineSchema;
  /** Validation rules by column. */
  readonly rules: Record<string, ColumnRules>;
  readonly transforms: readonly Transform[];
  readonly sinks: readonly PlannedSink[];
  /** Closes the sinks. */
  close(): Promise<void>;
}

/** Builds `spec`; a transform or sink that does not fit the schema fails with a `ConfigError` naming it. */
export async function buildPlan(
  spec: PipelineSpec<Registry>,
  ctx: Omit<ComponentContext, "pipeline">,
): Promise<PipelinePlan> {
  const context: ComponentContext = {
    ...ctx,
    pipeline: spec.name,
    logger: ctx.logger.child({ pipeline: spec.name }),
  };
  const schema = toPipelineSchema(spec);
  const rules = toColumnRules(spec);
  const columns = schema.fields.map((field) => ({
    ...field,
    required: rules[field.name]?.required ?? false,
  }));

  const transforms: Transform[] = [];
  let input = { fields: schema.fields };
  for (const use of spec.transforms) {
    const transform = await at(use, () => use.spec.build(use.config, { ...context, input }));
    transforms.push(transform);
    input = { fields: transform.schema.fields };
  }

  // Sinks receive what the transforms produce; the key must survive them.
  const output: PipelineSchema = {
    fields: input.fields,
    key: schema.key.filter((k) => input.fields.some((f) => f.name === k)),
  };
  const sinks: PlannedSink[] = [];
  const closeAll = async () => {
    for (const planned of sinks) await planned.sink.close().catch(() => {});
  };
  try {
    for (const [index, use] of spec.sinks.entries()) {
      const sameKind = spec.sinks.filter((s) => s.spec.name === use.spec.name).length > 1;
      const component = `sink.${use.spec.name}${sameKind ? `.${index}` : ""}`;
      const sink = await at(use, () => use.spec.build(use.config, { ...context, schema: output }));
      sinks.push({ component, spec: use.spec, sink });
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const source = spec.source;
  const http = source.spec.name === "http" ? source.config as HttpSourceConfig : undefined;
  const file = source.spec.name === "file" ? source.config as FileSourceConfig : undefined;
  const dialect = http?.csv ?? file?.csv;
  return {
    name: spec.name,
    spec,
    http,
    file,
    csv: {
      delimiter: dialect?.delimiter ?? ",",
      quote: dialect?.quote ?? '"',
      header: dialect?.header ?? true,
      nullTokens: dialect?.nullTokens ?? [""],
    },
    columns,
    schema,
    rules,
    transforms,
    sinks,
    close: closeAll,
  };
}

/** Runs a component's build, prefixing its config errors with where it was declared. */
async function at<T>(use: { path: string; at: string }, build: () => T | Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`${use.at}: ${use.path}: ${error.message}`, { path: use.path, cause: error });
    }
    throw error;
  }
}
