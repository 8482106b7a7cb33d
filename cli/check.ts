/**
 * `weir check [FILE]`: validates a weir.yaml without starting anything (no store, no services, no network)
 * and prints a summary of its pipelines, or every problem with its line and column. main.ts dispatches
 * `check` here.
 *
 * @module
 */
import { type Catalog, formatIssue, loadPipelines, type PipelinesSpec, SpecError } from "../pipeline/spec.ts";
import { REGISTRY } from "../pipeline/registry.ts";
import type { EnvLookup } from "../pipeline/interpolate.ts";

/** Where the command reads and writes; tests pass their own. */
export interface CheckCommandIo {
  /** Reads the whole file at `path`. */
  readText(path: string): Promise<string>;
  /** Looks up environment variables (`WEIR_CONFIG` and `${VAR}` references). */
  env: EnvLookup;
  /** Writes a line of output. */
  stdout(line: string): void;
  /** Writes a line of diagnostics. */
  stderr(line: string): void;
}

/** The real terminal, file system and environment. */
export const denoCheckIo: CheckCommandIo = {
  readText: (path) => Deno.readTextFile(path),
  env: (name) => Deno.env.get(name),
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
};

const USAGE = `Usage: weir check [FILE]

Validates FILE (default: $WEIR_CONFIG, else ./weir.yaml) without starting anything: the YAML, every
pipeline's source, schema, transforms, checks and sinks, and the \${VAR} references it uses. Prints a
summary, or each problem as FILE:LINE:COLUMN: PATH: MESSAGE. Exits 0 when valid, 1 when not.`;

/** Options of {@linkcode checkCommand}. */
export interface CheckCommandOptions {
  io?: CheckCommandIo;
  /** The components pipelines may use; default: the registry. */
  catalog?: Catalog;
}

/**
 * Runs `weir check` with `args` (those after `check`); resolves with the exit code: 0 when the file is valid,
 * 1 when it is not or cannot be read, 2 on a usage error.
 */
export async function checkCommand(
  args: readonly string[],
  options: CheckCommandOptions = {},
): Promise<number> {
  const io = options.io ?? denoCheckIo;
  let path: string | undefined;
  for (const a of args) {
    if (a === "-h" || a === "--help") {
      io.stdout(USAGE);
      return 0;
    }
    if (a.startsWith("-") && a !== "-") {
      io.stderr(`Unknown option: ${a}\n${USAGE}`);
      return 2;
    }
    if (path !== undefined) {
      io.stderr(`Unexpected argument: ${a}\n${USAGE}`);
      return 2;
    }
    path = a;
  }
  path ??= io.env("WEIR_CONFIG") ?? "weir.yaml";
  let text: string;
  try {
    text = await io.readText(path);
  } catch (e) {
    io.stderr(`Cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  try {
    const spec = loadPipelines(text, { file: path, catalog: options.catalog ?? REGISTRY, env: io.env });
    for (const line of summary(spec)) io.stdout(line);
    return 0;
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    for (const issue of e.issues) io.stderr(formatIssue(issue));
    const more = e.total - e.issues.length;
    io.stderr(`${path}: ${count(e.total, "problem")}${more > 0 ? ` (${more} not shown)` : ""}`);
    return 1;
  }
}

/** One line per pipeline after a headline: what a reviewer wants to see before deploying. */
export function summary(spec: PipelinesSpec): string[] {
  const n = spec.pipelines.size;
  const lines = [`${spec.file}: ok, ${n} pipeline${n === 1 ? "" : "s"}`];
  for (const p of spec.pipelines.values()) {
    const key = p.key.length ? ` (key ${p.key.join(", ")})` : "";
    lines.push(
      `  ${p.name}: source ${p.source.spec.name}; ${p.columns.length} column${
        p.columns.length === 1 ? "" : "s"
      }${key}; ` +
        `${count(p.transforms.length, "transform")}${names(p.transforms)}; ${
          count(p.checks.length, "check")
        }; ` +
        `sinks ${p.sinks.map((s) => s.spec.name).join(", ")}; rejects ${p.rejects}`,
    );
  }
  return lines;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function names(uses: readonly { spec: { name: string } }[]): string {
  return uses.length ? ` (${uses.map((u) => u.spec.name).join(", ")})` : "";
}
