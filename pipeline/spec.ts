/**
 * The weir.yaml schema and its loader. A file declares pipelines:
 *
 * ```yaml
 * pipelines:
 *   orders:
 *     source: { http: { formats: [csv, ndjson] } }
 *     schema:
 *       key: [id]
 *       columns:
 *         id:     { type: int64, required: true }
 *         amount: { type: decimal, precision: 12, scale: 2, min: 0 }
 *     sinks: [ { postgres: { table: orders, mode: upsert } } ]
 * ```
 *
 * Every object is strict (an unknown key is an error, never ignored), defaults live in the schema and every
 * field has a `description`, which the generated JSON Schema and docs/components.md show. A `source`, each
 * `transforms` entry and each `sinks` entry is a map with one key naming a component of the {@linkcode Catalog};
 * its value is checked by that component's own config schema. {@linkcode loadPipelines} reports every problem
 * at once, each with the YAML path and the line and column it comes from.
 *
 * The schema module takes the catalog as a parameter instead of importing pipeline/registry.ts: components
 * import this module for their types, and a cycle through the registry would load half-initialised arrays.
 *
 * @module
 */
import * as v from "valibot";
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { ConfigSchema, PipelineSchema } from "./component.ts";
import type { Field } from "./batch.ts";
import type { ColumnRules } from "./validate.ts";
import { ConfigError } from "./errors.ts";
import { byteSize } from "./units.ts";
import { type EnvLookup, interpolateEnv } from "./interpolate.ts";

/** What the spec needs to know of a component: its key in weir.yaml and its config schema. */
export interface ComponentDescriptor {
  readonly kind: "source" | "transform" | "sink";
  /** The key in weir.yaml: a noun for sources and sinks, a verb for transforms. */
  readonly name: string;
  /** One line for the docs. */
  readonly summary: string;
  /** A valibot schema for the value under the key. */
  readonly config: ConfigSchema<unknown>;
}

/** The components weir.yaml may name; pipeline/registry.ts provides the real one. */
export interface Catalog<
  So extends ComponentDescriptor = ComponentDescriptor,
  Tr extends ComponentDescriptor = ComponentDescriptor,
  Si extends ComponentDescriptor = ComponentDescriptor,
> {
  readonly sources: readonly So[];
  readonly transforms: readonly Tr[];
  readonly sinks: readonly Si[];
}

/** Names of pipelines: they appear in URLs, table names and metric attributes. */
export const PIPELINE_NAME = /^[a-z][a-z0-9_-]*$/;

/** Decimals are stored as int64 (value × 10^scale), so 18 digits is the most that always fits. */
export const MAX_DECIMAL_PRECISION = 18;

/** At most this many problems are listed; the rest are counted. */
export const MAX_REPORTED_ISSUES = 20;

// ---------------------------------------------------------------------------------------------------------
// Columns

const DECIMAL_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP_TEXT =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

const describe = <S extends v.GenericSchema>(schema: S, text: string) => v.pipe(schema, v.description(text));

const numberBound = (side: "min" | "max") =>
  describe(
    v.optional(v.number()),
    `Inclusive ${side === "min" ? "minimum" : "maximum"}: a row outside is rejected`,
  );

const decimalBound = (side: "min" | "max") =>
  describe(
    v.optional(
      v.union(
        [v.number(), v.pipe(v.string(), v.regex(DECIMAL_TEXT))],
        'expected a number or a decimal string such as "12.50"',
      ),
    ),
    `Inclusive ${side === "min" ? "minimum" : "maximum"}: a number, or a string to keep every digit exact`,
  );

const dateBound = (side: "min" | "max") =>
  describe(
    v.optional(
      v.pipe(
        v.string("expected an ISO date such as 2026-01-31"),
        v.check(
          (s) => DATE_TEXT.test(s) && !Number.isNaN(Date.parse(s)),
          "expected an ISO date such as 2026-01-31",
        ),
      ),
    ),
    `Inclusive ${side === "min" ? "earliest" : "latest"} date (ISO 8601, e.g. 2026-01-31)`,
  );

const timestampBound = (side: "min" | "max") =>
  describe(
    v.optional(
      v.pipe(
        v.string("expected an ISO timestamp such as 2026-01-31T12:00:00Z"),
        v.check(
          (s) => TIMESTAMP_TEXT.test(s) && !Number.isNaN(Date.parse(s)),
          "expected an ISO timestamp such as 2026-01-31T12:00:00Z",
        ),
      ),
    ),
    `Inclusive ${side === "min" ? "earliest" : "latest"} instant (ISO 8601, e.g. 2026-01-31T12:00:00Z)`,
  );

const columnBase = {
  required: describe(v.optional(v.boolean(), false), "A null or missing value rejects the row"),
  description: describe(v.optional(v.string()), "What the column means, for people reading the pipeline"),
};

const uniqueRule = describe(
  v.optional(v.boolean(), false),
  "No two rows of one batch share a value; a repeat rejects the later row",
);

// The validate kernel checks uniqueness on 64-bit columns only; saying so beats accepting and ignoring it.
const noUnique = describe(
  v.optional(v.never("unique is supported on int64, decimal and timestamp columns only")),
  "Not supported on this type",
);

const typeTag = <T extends string>(type: T, text: string) => describe(v.literal(type), text);

const whole = (what: string) =>
  v.optional(
    v.pipe(
      v.number(),
      v.integer(`expected a whole number for ${what}`),
      v.minValue(0, `expected ${what} ≥ 0`),
    ),
  );

/** One column: its type, and the rules a row must pass (pipeline/validate.ts enforces them). */
export const ColumnSchema = v.pipe(
  v.variant("type", [
    v.strictObject({
      type: typeTag("int64", "64-bit signed integer"),
      ...columnBase,
      min: numberBound("min"),
      max: numberBound("max"),
      unique: uniqueRule,
    }),
    v.strictObject({
      type: typeTag("float64", "64-bit floating point number"),
      ...columnBase,
      min: numberBound("min"),
      max: numberBound("max"),
      unique: noUnique,
    }),
    v.strictObject({
      type: typeTag("decimal", "Exact decimal number, stored as an int64 of value × 10^scale"),
      ...columnBase,
      precision: describe(
        v.optional(
          v.pipe(
            v.number(),
            v.integer("expected a whole number for precision"),
            v.minValue(1, "expected a precision of at least 1"),
            v.maxValue(
              MAX_DECIMAL_PRECISION,
              `expected a precision of at most ${MAX_DECIMAL_PRECISION} (decimals are stored as int64)`,
            ),
          ),
          MAX_DECIMAL_PRECISION,
        ),
        `Total significant digits, 1 to ${MAX_DECIMAL_PRECISION}`,
      ),
      scale: describe(
        v.optional(
          v.pipe(
            v.number(),
            v.integer("expected a whole number for scale"),
            v.minValue(0, "expected a scale of at least 0"),
          ),
          2,
        ),
        "Digits after the decimal point, at most the precision; more digits in a value reject the row",
      ),
      min: decimalBound("min"),
      max: decimalBound("max"),
      unique: uniqueRule,
    }),
    v.strictObject({
      type: typeTag("boolean", "true/false (also accepts 1/0, t/f, yes/no)"),
      ...columnBase,
      unique: noUnique,
    }),
    v.strictObject({
      type: typeTag("date", "Calendar date without time zone (ISO 8601, e.g. 2026-01-31)"),
      ...columnBase,
      min: dateBound("min"),
      max: dateBound("max"),
      unique: noUnique,
    }),
    v.strictObject({
      type: typeTag("timestamp", "Instant in time, stored in microseconds since the epoch (UTC)"),
      ...columnBase,
      min: timestampBound("min"),
      max: timestampBound("max"),
      unique: uniqueRule,
    }),
    v.strictObject({
      type: typeTag("string", "UTF-8 text"),
      ...columnBase,
      minLength: describe(whole("minLength"), "Fewest characters allowed"),
      maxLength: describe(whole("maxLength"), "Most characters allowed"),
      pattern: describe(
        v.optional(v.string()),
        "Regular expression (JavaScript syntax, Unicode mode) the whole value must match; anchors are implied",
      ),
      unique: noUnique,
    }),
    v.strictObject({
      type: typeTag("enum", "One of a fixed set of strings"),
      ...columnBase,
      values: describe(
        v.pipe(
          v.array(v.string()),
          v.minLength(1, "expected at least one value for an enum"),
          v.check((values) => new Set(values).size === values.length, "expected each enum value once"),
        ),
        "The allowed values, exactly as written in the input",
      ),
      unique: noUnique,
    }),
  ]),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const c = dataset.value;
    const at = (key: string, message: string) => addIssue({ message, path: [pathItem(c, key)] });
    if ("min" in c && c.min !== undefined && c.max !== undefined && compareBound(c.type, c.min, c.max) > 0) {
      at("max", `Max is less than min: ${String(c.max)} < ${String(c.min)}`);
    }
    if (c.type === "string") {
      if (c.minLength !== undefined && c.maxLength !== undefined && c.minLength > c.maxLength) {
        at("maxLength", `maxLength is less than minLength: ${c.maxLength} < ${c.minLength}`);
      }
      if (c.pattern !== undefined) {
        const problem = patternProblem(c.pattern);
        if (problem) at("pattern", `Pattern does not compile: ${problem}`);
      }
    }
    if (c.type === "decimal" && c.scale > c.precision) {
      at("scale", `Scale is greater than precision: ${c.scale} > ${c.precision}`);
    }
  }),
);

/** A validated column declaration (without its name). */
export type ColumnDeclaration = v.InferOutput<typeof ColumnSchema>;

/** A column of a loaded pipeline: its declaration plus its name. */
export type ColumnSpec = ColumnDeclaration & { readonly name: string };

function pathItem(input: Record<string, unknown>, key: string): v.ObjectPathItem {
  return { type: "object", origin: "value", input, key, value: input[key] };
}

function compareBound(type: string, a: number | string, b: number | string): number {
  if (type === "date" || type === "timestamp") return Date.parse(String(a)) - Date.parse(String(b));
  return Number(a) - Number(b);
}

/** Compiles `pattern` the way pipeline/validate.ts will, so a pattern that loads is a pattern that runs. */
function patternProblem(pattern: string): string | undefined {
  try {
    new RegExp(`^(?:${pattern.replace(/^\^|\$$/g, "")})$`, "u");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Schema, checks, limits

// Key columns are checked against the columns with the whole pipeline (referenceProblems), so a bad column
// elsewhere does not hide them.
/** A pipeline's declared columns and key. */
export const TableSchema = v.strictObject({
  key: describe(
    v.optional(v.array(v.string()), []),
    "Columns that identify a row: upserts, Kafka record keys and idempotent writes use them; key columns are required. Empty for append-only pipelines",
  ),
  columns: describe(
    v.pipe(
      v.record(v.pipe(v.string(), v.nonEmpty("expected a column name")), ColumnSchema),
      v.check((columns) => Object.keys(columns).length > 0, "expected at least one column"),
    ),
    "The columns, in order, by name (matched to CSV headers and JSON keys)",
  ),
});

/** Problems with names that refer to columns: key columns and check columns. */
function referenceProblems(pipeline: unknown): { path: [PathKey, ...PathKey[]]; message: string }[] {
  const problems: { path: [PathKey, ...PathKey[]]; message: string }[] = [];
  if (!isPlainObject(pipeline) || !isPlainObject(pipeline.schema)) return problems;
  const { key, columns } = pipeline.schema;
  if (!isPlainObject(columns)) return problems;
  const names = Object.keys(columns).join(", ");
  if (Array.isArray(key)) {
    const seen = new Set<unknown>();
    key.forEach((name, i) => {
      if (typeof name !== "string") return;
      const path: [PathKey, ...PathKey[]] = ["schema", "key", i];
      if (!Object.hasOwn(columns, name)) {
        problems.push({ path, message: `Key column ${name} is not in columns (expected one of ${names})` });
      } else if (seen.has(name)) problems.push({ path, message: `Key column ${name} is listed twice` });
      seen.add(name);
    });
  }
  if (Array.isArray(pipeline.checks)) {
    pipeline.checks.forEach((check, i) => {
      if (!isPlainObject(check) || typeof check.column !== "string") return;
      const path: [PathKey, ...PathKey[]] = ["checks", i, "column"];
      const column = Object.hasOwn(columns, check.column) ? columns[check.column] : undefined;
      const type = isPlainObject(column) ? column.type : undefined;
      if (column === undefined) {
        problems.push({ path, message: `Unknown column: ${check.column} (expected one of ${names})` });
      } else if (
        (check.expect === "min" || check.expect === "max" || check.expect === "mean") &&
        typeof type === "string" && !["int64", "float64", "decimal"].includes(type)
      ) {
        problems.push({
          path,
          message: `expect: ${check.expect} needs a numeric column, ${check.column} is ${type}`,
        });
      }
    });
  }
  return problems;
}

/** Valibot path items for `keys` walked from `input`. */
function pathItems(
  input: unknown,
  keys: readonly [PathKey, ...PathKey[]],
): [v.IssuePathItem, ...v.IssuePathItem[]] {
  let node = input;
  return keys.map((key) => {
    const parent = node as Record<string | number, unknown>;
    node = parent?.[key];
    return typeof key === "number"
      ? { type: "array", origin: "value", input: parent as unknown as unknown[], key, value: node }
      : { type: "object", origin: "value", input: parent, key, value: node };
  }) as [v.IssuePathItem, ...v.IssuePathItem[]];
}

const ratio = v.pipe(
  v.number(),
  v.minValue(0, "expected a ratio from 0 to 1"),
  v.maxValue(1, "expected a ratio from 0 to 1"),
);

const checkBase = {
  description: describe(v.optional(v.string()), "Why the check exists, shown in quality reports"),
};
const checkColumn = describe(v.string(), "The column checked");

/** A data-quality expectation, evaluated over every run; failures are reported, rows are not rejected. */
export const CheckSchema = v.pipe(
  v.variant("expect", [
    v.strictObject({
      expect: typeTag("null_ratio", "The share of nulls in a column"),
      column: checkColumn,
      min: describe(v.optional(ratio), "Lowest acceptable share of nulls, 0 to 1"),
      max: describe(v.optional(ratio), "Highest acceptable share of nulls, 0 to 1"),
      ...checkBase,
    }),
    v.strictObject({
      expect: typeTag("unique", "No value of the column repeats within the run"),
      column: checkColumn,
      ...checkBase,
    }),
    v.strictObject({
      expect: typeTag("row_count", "The number of accepted rows in the run"),
      min: describe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))), "Fewest acceptable rows"),
      max: describe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))), "Most acceptable rows"),
      ...checkBase,
    }),
    ...(["min", "max", "mean"] as const).map((stat) =>
      v.strictObject({
        expect: typeTag(stat, `The ${stat === "mean" ? "mean" : `${stat}imum`} of a numeric column`),
        column: checkColumn,
        min: describe(v.optional(v.number()), `Lowest acceptable ${stat}`),
        max: describe(v.optional(v.number()), `Highest acceptable ${stat}`),
        ...checkBase,
      })
    ),
  ]),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed || dataset.value.expect === "unique") return;
    const { min, max } = dataset.value;
    if (min === undefined && max === undefined) addIssue({ message: "Expected min, max or both" });
    else if (min !== undefined && max !== undefined && min > max) {
      addIssue({ message: `Max is less than min: ${max} < ${min}`, path: [pathItem(dataset.value, "max")] });
    }
  }),
);

/** A validated check. */
export type CheckSpec = v.InferOutput<typeof CheckSchema>;

/** Bounds on the work one pipeline takes on. */
export const LimitsSchema = v.strictObject({
  chunkSize: describe(
    v.optional(byteSize({ min: 64 * 1024 }), "4MiB"),
    "Bytes of input handed to a worker at a time (cut at record boundaries)",
  ),
  maxInFlight: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024))),
    "Chunks being parsed at once per ingest before the body stops being read; default: twice the worker count",
  ),
  maxConcurrentIngests: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 16),
    "Ingests running at once for this pipeline; more are answered 429 with Retry-After",
  ),
  maxRejectRatio: describe(
    v.optional(ratio, 1),
    "A run whose share of rejected rows exceeds this fails as a whole and commits nothing (1: never)",
  ),
  responseRejects: describe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10_000)), 100),
    "How many rejects an ingest response lists (all of them are in the dead-letter queue)",
  ),
});

/** Validated limits. */
export type Limits = v.InferOutput<typeof LimitsSchema>;

/** What happens to rejected rows. */
export const REJECT_POLICIES = ["dlq", "drop", "fail"] as const;

// ---------------------------------------------------------------------------------------------------------
// Components and the whole file

type PathKey = string | number;

const KIND_WORDS = { source: "source", transform: "transform", sink: "sink" } as const;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Fails with `message`, pointing at `key` of `input` when given. */
function failing(message: string, input?: Record<string, unknown>, key?: string) {
  return v.pipe(
    v.unknown(),
    v.rawCheck(({ addIssue }) =>
      addIssue({
        message,
        path: input && key !== undefined
          ? [{ type: "object", origin: "key", input, key, value: input[key] }]
          : undefined,
      })
    ),
  );
}

/**
 * A one-key map naming a component, whose value that component's config schema checks. Validation dispatches
 * on the key (so an unknown name gets one clear error instead of a union's every mismatch); the JSON Schema is
 * the union of one strict object per component, which toJsonSchema reaches by calling the getter with
 * `undefined`.
 */
function componentEntry(kind: ComponentDescriptor["kind"], specs: readonly ComponentDescriptor[]) {
  const word = KIND_WORDS[kind];
  const names = specs.map((s) => s.name).join(", ");
  const byName = new Map(
    specs.map((s) => [s.name, v.pipe(v.strictObject({ [s.name]: s.config }), v.description(s.summary))]),
  );
  const union = v.union([...byName.values()]);
  const shape = `expected a ${word} as a map with one key naming it (one of ${names})`;
  return {
    union,
    schema: v.lazy((input): v.GenericSchema => {
      if (input === undefined) return union;
      if (!isPlainObject(input)) return failing(`${shape}, got ${received(input)}`);
      const keys = Object.keys(input);
      if (keys.length !== 1) return failing(`${shape}, got ${keys.length} keys: ${keys.join(", ")}`);
      const schema = byName.get(keys[0]);
      if (schema) return schema;
      return failing(`Unknown ${word}: ${keys[0]} (expected one of ${names})`, input, keys[0]);
    }),
  };
}

function received(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "a list";
  return typeof x === "string" ? JSON.stringify(x) : String(x);
}

/** The valibot schema of a whole weir.yaml, plus the named definitions its JSON Schema refers to. */
export interface SpecSchemas {
  /** The schema {@linkcode loadPipelines} validates with. */
  readonly file: v.GenericSchema;
  /** One pipeline. */
  readonly pipeline: v.GenericSchema;
  /** Named parts for the JSON Schema's `definitions` (components, columns, checks). */
  readonly definitions: Readonly<Record<string, v.GenericSchema>>;
}

/** Builds the weir.yaml schema for the components of `catalog`. */
export function specSchemas(catalog: Catalog): SpecSchemas {
  const source = componentEntry("source", catalog.sources);
  const transform = componentEntry("transform", catalog.transforms);
  const sink = componentEntry("sink", catalog.sinks);

  const pipeline = v.pipe(
    v.strictObject({
      description: describe(v.optional(v.string()), "What the pipeline is for, for people"),
      source: describe(source.schema, "Where rows come from: one source, e.g. `{ http: {} }`"),
      schema: describe(TableSchema, "The columns rows must have and the rules they must pass"),
      transforms: describe(
        v.optional(v.array(transform.schema), []),
        'Steps applied in order to valid rows, each a one-key map naming a transform, e.g. `{ filter: "amount > 0" }`',
      ),
      checks: describe(
        v.optional(v.array(CheckSchema), []),
        "Data-quality expectations reported for each run",
      ),
      sinks: describe(
        v.pipe(v.array(sink.schema), v.minLength(1, "expected at least one sink")),
        "Where valid rows go; an ingest is committed when every sink has committed",
      ),
      rejects: describe(
        v.optional(v.picklist(REJECT_POLICIES), "dlq"),
        "What happens to a rejected row: `dlq` keeps it with its reason in the dead-letter queue, `drop` counts and forgets it, `fail` fails the whole ingest",
      ),
      limits: describe(v.optional(LimitsSchema, {}), "Bounds on the work the pipeline takes on"),
      windows: describe(
        v.optional(v.never("Windows are not supported yet")),
        "Windowed aggregation: not supported yet",
      ),
    }),
    // Runs even when parts of the pipeline are invalid (valibot keeps running validations after issues), so
    // a wrong key column shows up together with everything else.
    v.rawCheck(({ dataset, addIssue }) => {
      for (const problem of referenceProblems(dataset.value)) {
        addIssue({ message: problem.message, path: pathItems(dataset.value, problem.path) });
      }
    }),
  );

  const file = describe(
    v.strictObject({
      pipelines: describe(
        v.record(
          v.pipe(
            v.string(),
            v.regex(
              PIPELINE_NAME,
              "expected a pipeline name of lowercase letters, digits, _ and -, starting with a letter",
            ),
            v.maxLength(63, "expected a pipeline name of at most 63 characters"),
          ),
          pipeline,
        ),
        "The pipelines, by name; the name appears in URLs (/v1/pipelines/<name>/ingest)",
      ),
    }),
    "weir pipeline definitions (weir.yaml)",
  );
  return {
    file,
    pipeline,
    definitions: {
      Source: source.union,
      Transform: transform.union,
      Sink: sink.union,
      Column: ColumnSchema,
      Check: CheckSchema,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Loaded pipelines

/** A component named in weir.yaml: its spec, its validated config and where it was declared. */
export interface ComponentUse<S extends ComponentDescriptor = ComponentDescriptor> {
  readonly spec: S;
  /** The config, validated by `spec.config`, defaults applied. */
  readonly config: unknown;
  /** YAML path, e.g. `pipelines.orders.sinks[0].postgres`, for errors raised when the plan is built. */
  readonly path: string;
  /** `file:line:column` of the declaration. */
  readonly at: string;
}

/** One validated pipeline: the input from which plan.ts builds something that runs. */
export interface PipelineSpec<C extends Catalog = Catalog> {
  readonly name: string;
  readonly description?: string;
  readonly source: ComponentUse<C["sources"][number]>;
  /** The key columns (required by implication). */
  readonly key: readonly string[];
  /** The columns in declaration order. */
  readonly columns: readonly ColumnSpec[];
  readonly transforms: readonly ComponentUse<C["transforms"][number]>[];
  readonly checks: readonly CheckSpec[];
  readonly sinks: readonly ComponentUse<C["sinks"][number]>[];
  readonly rejects: typeof REJECT_POLICIES[number];
  readonly limits: Limits;
  /** `file:line:column` of the pipeline's name. */
  readonly at: string;
}

/** A loaded weir.yaml. */
export interface PipelinesSpec<C extends Catalog = Catalog> {
  /** The file name used in messages. */
  readonly file: string;
  /** Pipelines by name (a Map: names come from URLs, and `constructor` must not find Object's). */
  readonly pipelines: ReadonlyMap<string, PipelineSpec<C>>;
}

/** One problem in a weir.yaml. */
export interface SpecIssue {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** YAML path, e.g. `pipelines.orders.sinks[0].postgres.mode`; empty for the document itself. */
  readonly path: string;
  readonly message: string;
}

/** `file:line:column: path: message`, the way compilers print it so editors can jump to it. */
export function formatIssue(issue: SpecIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${
    issue.path ? `${issue.path}: ` : ""
  }${issue.message}`;
}

/** A weir.yaml with problems; `issues` lists them (at most {@linkcode MAX_REPORTED_ISSUES}) in file order. */
export class SpecError extends ConfigError {
  override name = "SpecError";
  /** The problems, in file order. */
  readonly issues: readonly SpecIssue[];
  /** How many problems there were, including those not listed. */
  readonly total: number;

  constructor(file: string, issues: readonly SpecIssue[], total = issues.length) {
    const more = total > issues.length ? `\n… and ${total - issues.length} more` : "";
    super(
      `Invalid pipeline spec: ${file} has ${total} problem${total === 1 ? "" : "s"}:\n${
        issues.map((i) => `  ${formatIssue(i)}`).join("\n")
      }${more}`,
      { path: issues[0]?.path ?? "" },
    );
    this.issues = issues;
    this.total = total;
  }
}

/** Options of {@linkcode loadPipelines}. */
export interface LoadOptions<C extends Catalog> {
  /** The components pipelines may use; pipeline/registry.ts's `REGISTRY` in weir. */
  catalog: C;
  /** The file name shown in messages; default `weir.yaml`. */
  file?: string;
  /** Looks up environment variables for `${VAR}`; default: the process environment. */
  env?: EnvLookup;
}

/**
 * Parses and validates the text of a weir.yaml. `${VAR}` and `${VAR:-default}` in string values are replaced
 * from the environment first (see pipeline/interpolate.ts). Throws a {@linkcode SpecError} listing every
 * problem with its line and column.
 *
 * @example
 * ```ts
 * import { loadPipelines } from "./spec.ts";
 * const spec = loadPipelines("pipelines: {}\n", { catalog: { sources: [], transforms: [], sinks: [] } });
 * if (spec.pipelines.size !== 0) throw new Error("expected no pipelines");
 * ```
 */
export function loadPipelines<C extends Catalog>(text: string, options: LoadOptions<C>): PipelinesSpec<C> {
  const file = options.file ?? "weir.yaml";
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const pos = (offset: number) => lineCounter.linePos(offset);
  const issues: SpecIssue[] = [];

  for (const error of doc.errors) {
    const [start] = error.linePos ?? [pos(error.pos[0])];
    issues.push({
      file,
      line: start.line,
      column: start.col,
      path: "",
      message: `YAML syntax error: ${
        error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")
      }`,
    });
  }
  if (issues.length > 0) throw specError(file, issues);

  for (const problem of interpolateEnv(doc, options.env ?? ((name) => Deno.env.get(name)))) {
    const p = pos(problem.offset);
    issues.push({ file, line: p.line, column: p.col, path: problem.path, message: problem.message });
  }
  if (issues.length > 0) throw specError(file, issues);

  const schemas = specSchemas(options.catalog);
  const result = v.safeParse(schemas.file, doc.toJS({ maxAliasCount: 100 }) ?? null);
  if (!result.success) {
    for (const issue of result.issues) {
      const keys = (issue.path ?? []).map((p) => p.key as PathKey);
      const described = describeIssue(issue, schemas.file);
      const offset = locate(doc, described.path ?? keys, described.at);
      const p = pos(offset);
      issues.push({
        file,
        line: p.line,
        column: p.col,
        path: formatPath(described.path ?? keys),
        message: described.message,
      });
    }
    throw specError(file, dedupe(issues));
  }

  const output = result.output as { pipelines: Record<string, RawPipeline> };
  const where = (keys: PathKey[], at: "key" | "value" = "value") => {
    const p = pos(locate(doc, keys, at));
    return `${file}:${p.line}:${p.col}`;
  };
  const pipelines = new Map<string, PipelineSpec<C>>();
  for (const name of Object.keys(output.pipelines)) {
    const raw = output.pipelines[name];
    const base: PathKey[] = ["pipelines", name];
    const use = <S extends ComponentDescriptor>(
      specs: readonly S[],
      entry: Record<string, unknown>,
      keys: PathKey[],
    ): ComponentUse<S> => {
      const [component] = Object.keys(entry);
      const spec = specs.find((s) => s.name === component);
      if (!spec) throw new Error(`Validated component is missing from the catalog: ${component}`);
      return {
        spec,
        config: entry[component],
        path: formatPath([...keys, component]),
        at: where([...keys, component], "key"),
      };
    };
    const order = columnOrder(doc, [...base, "schema", "columns"]);
    const names = Object.keys(raw.schema.columns).sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
    pipelines.set(name, {
      name,
      description: raw.description,
      source: use(options.catalog.sources, raw.source, [...base, "source"]),
      key: raw.schema.key,
      columns: names.map((n) => ({ ...raw.schema.columns[n], name: n })),
      transforms: raw.transforms.map((t, i) =>
        use(options.catalog.transforms, t, [...base, "transforms", i])
      ),
      checks: raw.checks,
      sinks: raw.sinks.map((s, i) => use(options.catalog.sinks, s, [...base, "sinks", i])),
      rejects: raw.rejects,
      limits: raw.limits,
      at: where(base, "key"),
    });
  }
  return { file, pipelines };
}

interface RawPipeline {
  description?: string;
  source: Record<string, unknown>;
  schema: { key: string[]; columns: Record<string, ColumnDeclaration> };
  transforms: Record<string, unknown>[];
  checks: CheckSpec[];
  sinks: Record<string, unknown>[];
  rejects: typeof REJECT_POLICIES[number];
  limits: Limits;
}

function specError(file: string, issues: SpecIssue[]): SpecError {
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  return new SpecError(file, issues.slice(0, MAX_REPORTED_ISSUES), issues.length);
}

function dedupe(issues: SpecIssue[]): SpecIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = formatIssue(i);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Columns keep the order they were written in, even names like `2024` that JS objects would move first. */
function columnOrder(doc: Document, keys: PathKey[]): Map<string, number> {
  const node = doc.getIn(keys, true);
  const order = new Map<string, number>();
  if (isMap(node)) {
    node.items.forEach((pair, i) => order.set(String(isScalar(pair.key) ? pair.key.value : pair.key), i));
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------------
// Issues → messages and positions

/** A YAML path as people read it: `pipelines.orders.sinks[0].postgres.mode`. */
export function formatPath(keys: readonly PathKey[]): string {
  let out = "";
  for (const k of keys) {
    if (typeof k === "number") out += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

interface Described {
  message: string;
  /** Where to point: at a key (unknown or, for missing ones, the parent's key) or at a value. */
  at: "key" | "value";
  /** A different path to report than the issue's own. */
  path?: PathKey[];
}

const TYPE_WORDS: Record<string, string> = { Object: "a map", Array: "a list", never: "nothing" };

function words(text: string): string {
  // valibot wraps alternatives in parentheses: `("a" | "b")`; people read `"a" | "b"`.
  if (/^\([^()]*\)$/.test(text)) text = text.slice(1, -1);
  return text.replace(/\b(Object|Array)\b/g, (w) => TYPE_WORDS[w] ?? w);
}

function describeIssue(issue: v.BaseIssue<unknown>, root: v.GenericSchema): Described {
  const path = issue.path ?? [];
  const last = path[path.length - 1];
  // valibot's object schemas take arrays for objects (their indices become keys); a list is one mistake.
  if (last?.origin === "key" && Array.isArray(last.input)) {
    return {
      message: "expected a map, got a list",
      at: "value",
      path: path.slice(0, -1).map((p) => p.key as PathKey),
    };
  }
  if (last?.origin === "key" && issue.type === "strict_object" && issue.expected === "never") {
    const parent = schemaAt(root, path.slice(0, -1));
    // Keys reserved for later (`windows`) are in the schema as `never`; they are not offered.
    const allowed = parent?.entries
      ? Object.keys(parent.entries).filter((k) => resolve(parent.entries![k], undefined)?.type !== "never")
      : [];
    const key = String(last.key);
    const hint = closest(key, allowed);
    return {
      message: `Unknown key${hint ? `, did you mean ${hint}?` : ""} (expected one of ${allowed.join(", ")})`,
      at: "key",
    };
  }
  if (last?.origin === "key" && issue.input === undefined && issue.kind === "schema") {
    return {
      message: `Missing key: ${String(last.key)}`,
      at: "key",
      path: path.slice(0, -1).map((p) => p.key as PathKey),
    };
  }
  if (last?.origin === "key" && issue.type === "record") {
    return { message: issue.message, at: "key" };
  }
  const custom = !issue.message.startsWith("Invalid ");
  if (custom) {
    const scalar = issue.input === null || typeof issue.input !== "object";
    const showGot = issue.message.startsWith("expected") && scalar && !issue.message.includes(", got ");
    return {
      message: showGot ? `${issue.message}, got ${words(issue.received)}` : issue.message,
      at: last?.origin === "key" ? "key" : "value",
    };
  }
  return {
    message: issue.expected
      ? `expected ${words(issue.expected)}, got ${words(issue.received)}`
      : issue.message,
    at: "value",
  };
}

/** A loose view of valibot schema objects, enough to walk to the object an issue is about. */
interface SchemaNode {
  readonly type: string;
  readonly entries?: Record<string, SchemaNode>;
  readonly wrapped?: SchemaNode;
  readonly item?: SchemaNode;
  readonly value?: SchemaNode;
  readonly options?: readonly SchemaNode[];
  readonly key?: unknown;
  readonly literal?: unknown;
  readonly getter?: (input: unknown) => SchemaNode;
}

function resolve(schema: SchemaNode | undefined, input: unknown): SchemaNode | undefined {
  let s = schema;
  for (let i = 0; s && i < 16; i++) {
    if (s.type === "optional" || s.type === "nullable" || s.type === "nullish") s = s.wrapped;
    else if (s.type === "lazy" && s.getter) s = s.getter(input);
    else if (s.type === "variant" && typeof s.key === "string" && isPlainObject(input)) {
      const k = s.key;
      s = s.options?.find((o) => o.entries?.[k]?.literal === input[k]);
    } else return s;
  }
  return s;
}

/** The schema at `path` (resolving lazies and variants with the input the path items carry). */
function schemaAt(root: v.GenericSchema, path: readonly v.IssuePathItem[]): SchemaNode | undefined {
  const input0 = path[0]?.input;
  let s = resolve(root as unknown as SchemaNode, input0);
  for (let i = 0; s && i < path.length; i++) {
    const item = path[i];
    const next = path[i + 1]?.input ?? item.value;
    const key = String(item.key);
    let child: SchemaNode | undefined;
    if (s.entries) child = s.entries[key];
    else if (s.type === "array") child = s.item;
    else if (s.type === "record") child = s.value;
    s = resolve(child, next);
  }
  return s;
}

/** The allowed key closest to `key` by edit distance, when it is close enough to be a typo. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const a of allowed) {
    const d = editDistance(key.toLowerCase(), a.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [a, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The source offset to point at for `keys`: the value's node, or with `at: "key"` the key's node. When the
 * path leaves the document (a missing key), the deepest key that exists.
 */
function locate(doc: Document, keys: readonly PathKey[], at: "key" | "value"): number {
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(k));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value;
      if (i === keys.length - 1 && at === "key") return start(keyNode) ?? 0;
    } else if (isSeq(node) && typeof k === "number" && k < node.items.length) {
      node = node.items[k];
      keyNode = undefined;
    } else break;
  }
  const n = node as Node | null | undefined;
  // An empty value (`source:`) has a zero-width range at the end of the line; its key reads better.
  if (n?.range && n.range[1] > n.range[0]) return n.range[0];
  return start(keyNode) ?? start(n ?? undefined) ?? 0;
}

function start(node: Node | undefined): number | undefined {
  return node?.range?.[0];
}

// ---------------------------------------------------------------------------------------------------------
// Spec → what the runtime uses

/** The batch schema of a pipeline: enum columns are strings, decimals keep precision and scale. */
export function toPipelineSchema(pipeline: Pick<PipelineSpec, "columns" | "key">): PipelineSchema {
  const fields: Field[] = pipeline.columns.map((c) => {
    switch (c.type) {
      case "decimal":
        return { name: c.name, type: "decimal", precision: c.precision, scale: c.scale };
      case "enum":
        return { name: c.name, type: "string" };
      default:
        return { name: c.name, type: c.type };
    }
  });
  return { fields, key: pipeline.key };
}

/** The validation rules of a pipeline's columns, for pipeline/validate.ts; key columns are required. */
export function toColumnRules(pipeline: Pick<PipelineSpec, "columns" | "key">): Record<string, ColumnRules> {
  const rules: Record<string, ColumnRules> = {};
  for (const c of pipeline.columns) {
    const r: ColumnRules = {};
    if (c.required || pipeline.key.includes(c.name)) r.required = true;
    if ("min" in c && c.min !== undefined) r.min = c.min;
    if ("max" in c && c.max !== undefined) r.max = c.max;
    if ("unique" in c && c.unique) r.unique = true;
    if (c.type === "string") {
      if (c.minLength !== undefined) r.minLength = c.minLength;
      if (c.maxLength !== undefined) r.maxLength = c.maxLength;
      if (c.pattern !== undefined) r.pattern = c.pattern;
    }
    if (c.type === "enum") r.enum = c.values;
    rules[c.name] = r;
  }
  return rules;
}
