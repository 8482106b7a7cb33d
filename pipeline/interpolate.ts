/**
 * Environment interpolation in weir.yaml, as in Vector and Redpanda Connect configs, so one file serves every
 * environment and secrets stay out of it:
 *
 * - `${NAME}` is the value of the variable NAME; when NAME is not set, loading fails naming it.
 * - `${NAME:-default}` is the value of NAME, or `default` when NAME is unset or empty.
 * - `$${` is a literal `${`.
 *
 * Only string values are interpolated, never keys, and after the YAML is parsed: a variable's value cannot
 * add keys or change the document's structure. An unquoted value that is exactly one reference is typed the
 * way YAML types plain scalars (`port: ${PORT}` with PORT=5432 is the number 5432); a quoted one stays a
 * string.
 *
 * @module
 */
import { type Document, isPair, isScalar, isSeq, parse, type Scalar, visit } from "yaml";

/** Looks up an environment variable; `undefined` when it is not set. */
export type EnvLookup = (name: string) => string | undefined;

/** A reference that could not be resolved. */
export interface InterpolationProblem {
  /** Offset in the source text of the scalar holding the reference. */
  readonly offset: number;
  /** YAML path of the scalar. */
  readonly path: string;
  readonly message: string;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Result of {@linkcode interpolateString}. */
export type Interpolated = { ok: true; value: string } | { ok: false; message: string };

/**
 * Replaces the references in `text`.
 *
 * @example
 * ```ts
 * import { interpolateString } from "./interpolate.ts";
 * const r = interpolateString("postgres://${HOST:-localhost}/db", () => undefined);
 * if (!r.ok || r.value !== "postgres://localhost/db") throw new Error("unexpected");
 * ```
 */
export function interpolateString(text: string, env: EnvLookup): Interpolated {
  let problem: string | undefined;
  const value = text.replace(REFERENCE, (match, body: string | undefined) => {
    if (match === "$${") return "${";
    if (problem) return match;
    if (!match.endsWith("}")) {
      problem = `Unterminated environment reference: ${match}`;
      return match;
    }
    const sep = body!.indexOf(":-");
    const name = sep === -1 ? body! : body!.slice(0, sep);
    if (!NAME.test(name)) {
      problem = `Invalid environment variable name in ${match} (expected letters, digits and _)`;
      return match;
    }
    const found = env(name);
    if (sep !== -1) return found === undefined || found === "" ? body!.slice(sep + 2) : found;
    if (found === undefined) {
      problem = `Environment variable ${name} is not set (use \${${name}:-default} for a fallback)`;
      return match;
    }
    return found;
  });
  return problem ? { ok: false, message: problem } : { ok: true, value };
}

/** Replaces references in every string value of `doc` in place; returns the problems (empty: all resolved). */
export function interpolateEnv(doc: Document, env: EnvLookup): InterpolationProblem[] {
  const problems: InterpolationProblem[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      const r = interpolateString(node.value, env);
      if (!r.ok) {
        problems.push({ offset: node.range?.[0] ?? 0, path: pathOf(path, node), message: r.message });
        return;
      }
      node.value = retype(node, r.value);
    },
  });
  return problems;
}

/** A plain scalar that was a single reference takes the YAML type of its value (number, boolean). */
function retype(node: Scalar, value: string): unknown {
  if (node.type !== "PLAIN" || !/^\$\{[^}]*\}$/.test(String(node.source ?? ""))) return value;
  try {
    const typed: unknown = parse(value);
    return typeof typed === "number" || typeof typed === "boolean" ? typed : value;
  } catch {
    return value;
  }
}

function pathOf(ancestors: readonly unknown[], node: Scalar): string {
  let out = "";
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    const child = i + 1 < ancestors.length ? ancestors[i + 1] : node;
    // Maps hold pairs and pairs name the key; sequences are the only place an index comes from.
    if (isPair(a)) {
      const k = String(isScalar(a.key) ? a.key.value : a.key);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? (out ? `.${k}` : k) : `[${JSON.stringify(k)}]`;
    } else if (isSeq(a)) out += `[${a.items.indexOf(child as never)}]`;
  }
  return out;
}
