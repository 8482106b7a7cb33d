/**
 * Reference documentation generated from the valibot schemas, so it is never written twice: the JSON Schema
 * editors use for weir.yaml, and docs/components.md listing every source, transform and sink with its fields,
 * types, defaults and descriptions. `deno task docs` writes both (tools/docs.ts).
 *
 * @module
 */
import { type ConversionConfig, type JsonSchema, toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { type Catalog, CheckSchema, ColumnSchema, type ComponentDescriptor, specSchemas } from "./spec.ts";

// Checks (`check`, `raw_check`) have no JSON Schema form; the loader enforces them, editors need not.
const CONVERSION: ConversionConfig = {
  typeMode: "input",
  errorMode: "throw",
  ignoreActions: ["check", "raw_check"],
};

/** The JSON Schema (draft-07) of weir.yaml for the components of `catalog`. */
export function specJsonSchema(catalog: Catalog): JsonSchema {
  const schemas = specSchemas(catalog);
  const { $schema, ...schema } = toJsonSchema(schemas.file, {
    ...CONVERSION,
    definitions: schemas.definitions,
  });
  return { $schema, $id: "https://weir.dev/schemas/weir.schema.json", title: "weir.yaml", ...schema };
}

const REF_ANCHORS: Record<string, string> = {
  Source: "sources",
  Transform: "transforms",
  Sink: "sinks",
  Column: "column-types",
  Check: "checks",
};

/** One row of a field table. */
interface FieldRow {
  name: string;
  type: string;
  default: string;
  description: string;
}

function convert(schema: v.GenericSchema, definitions?: Record<string, v.GenericSchema>): JsonSchema {
  const json = toJsonSchema(schema, { ...CONVERSION, definitions });
  delete json.$schema;
  return json;
}

/** A JSON Schema type as people read it: `string`, `list of "csv" | "ndjson"`, `map of string`. */
function typeText(s: JsonSchema): string {
  if (s.$ref) {
    const name = s.$ref.split("/").pop() ?? "";
    return `[${name}](#${REF_ANCHORS[name] ?? name.toLowerCase()})`;
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(" | ");
  if (s.anyOf) return s.anyOf.map((o) => typeText(o as JsonSchema)).join(" | ");
  if (s.not && Object.keys(s.not).length === 0) return "not supported";
  if (s.type === "array") return `list of ${typeText((s.items ?? {}) as JsonSchema)}`;
  if (s.type === "object" && !s.properties && typeof s.additionalProperties === "object") {
    return `map of ${typeText(s.additionalProperties as JsonSchema)}`;
  }
  if (s.type === "number" && s.minimum !== undefined && s.maximum !== undefined) {
    return `number ${s.minimum}–${s.maximum}`;
  }
  if (Array.isArray(s.type)) return s.type.join(" | ");
  return s.type ? String(s.type) : "any";
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** Field rows of an object schema; nested objects are flattened into `parent.child` rows. */
function fieldRows(s: JsonSchema, prefix = ""): FieldRow[] {
  const rows: FieldRow[] = [];
  const required = new Set(Array.isArray(s.required) ? s.required : []);
  for (const [name, raw] of Object.entries(s.properties ?? {})) {
    const p = raw as JsonSchema;
    const nested = p.type === "object" && p.properties !== undefined;
    rows.push({
      name: `${prefix}${name}`,
      type: nested ? "map" : typeText(p),
      default: p.default !== undefined
        ? `\`${JSON.stringify(p.default)}\``
        : required.has(name)
        ? "required"
        : "",
      description: p.description ?? "",
    });
    if (nested) rows.push(...fieldRows(p, `${prefix}${name}.`));
  }
  return rows;
}

function table(rows: FieldRow[]): string[] {
  if (rows.length === 0) return [];
  return [
    "| Field | Type | Default | Description |",
    "|---|---|---|---|",
    ...rows.map((r) => `| \`${r.name}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.description)} |`),
  ];
}

/** The section of one component: its summary and its config's fields (or the shape of a non-map config). */
function componentSection(c: ComponentDescriptor): string[] {
  const s = convert(c.config);
  const lines = [`### \`${c.name}\``, "", c.summary, ""];
  if (s.type === "object" && s.properties) {
    if (Object.keys(s.properties).length === 0) lines.push("No fields: write `{}`.", "");
    else lines.push(...table(fieldRows(s)), "");
  } else {
    lines.push(`Value: ${cell(typeText(s))}${s.description ? `. ${s.description}` : ""}`, "");
  }
  return lines;
}

/** The variants of a `type`/`expect`-discriminated schema, one table each. */
function variantSections(schema: v.GenericSchema, key: string): string[] {
  const s = convert(schema);
  const lines: string[] = [];
  for (const raw of s.oneOf ?? s.anyOf ?? []) {
    const o = raw as JsonSchema;
    const tag = (o.properties?.[key] ?? {}) as JsonSchema;
    const rows = fieldRows(o).filter((r) => r.name !== key);
    lines.push(`### \`${key}: ${String(tag.const)}\``, "", tag.description ?? "", "", ...table(rows), "");
  }
  return lines;
}

/** docs/components.md for the components of `catalog`. */
export function componentsMarkdown(catalog: Catalog): string {
  const schemas = specSchemas(catalog);
  const pipeline = convert(schemas.pipeline, { ...schemas.definitions });
  const lines = [
    "# weir.yaml reference",
    "",
    "<!-- Generated by `deno task docs` from the valibot schemas (pipeline/spec.ts, pipeline/registry.ts); do not edit. -->",
    "",
    "A weir.yaml declares `pipelines:`, a map from pipeline name (lowercase letters, digits, `_` and `-`,",
    "starting with a letter) to a pipeline. Every map is strict: an unknown key is an error. String values may",
    "use `${VAR}` and `${VAR:-default}` from the environment (`$${` is a literal `${`). Sizes are bytes or a",
    "string such as `64MiB`; durations a string such as `500ms`, `5s`, `1m`.",
    "",
    "`deno task weir check` validates a file without starting anything. Editors validate and complete it with",
    "[weir.schema.json](weir.schema.json).",
    "",
    "## Pipeline",
    "",
    ...table(fieldRows(pipeline)),
    "",
    "## Column types",
    "",
    "Each entry of `schema.columns` has a `type` and the rules that apply to it.",
    "",
    ...variantSections(ColumnSchema, "type"),
    "## Checks",
    "",
    "Each entry of `checks` names an expectation; failures are reported in the run's quality, rows are not rejected.",
    "",
    ...variantSections(CheckSchema, "expect"),
  ];
  const kinds: [string, string, readonly ComponentDescriptor[]][] = [
    ["Sources", "`source:` is a map with one key naming the source.", catalog.sources],
    [
      "Transforms",
      "Each `transforms:` entry is a map with one key naming the transform; they run in order.",
      catalog.transforms,
    ],
    ["Sinks", "Each `sinks:` entry is a map with one key naming the sink.", catalog.sinks],
  ];
  for (const [title, intro, specs] of kinds) {
    lines.push(`## ${title}`, "", intro, "");
    for (const c of specs) lines.push(...componentSection(c));
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}
