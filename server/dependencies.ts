/**
 * Dependencies that readiness depends on: each configured service answers a cheap check.
 *
 * @module
 */

/** A service weir needs to do its work, checked by `GET /readyz`. */
export interface Dependency {
  /** Short name shown in the readiness report, e.g. `store`, `redis`, `kafka`. */
  readonly name: string;
  /** What backs it, e.g. `postgres`, `pglite`, `upstash`, `kafka`, `in-process`. */
  readonly kind: string;
  /** Resolves when the dependency is usable; rejects with the reason otherwise. */
  check(signal: AbortSignal): Promise<void>;
}

/** One dependency's state in a readiness report. */
export interface DependencyStatus {
  kind: string;
  status: "up" | "down";
  latencyMs: number;
  error?: string;
}

/** Options for {@linkcode checkDependencies}. */
export interface CheckOptions {
  /** How long one check may take before it counts as down. Default 2000 ms. */
  timeoutMs?: number;
}

/**
 * Checks every dependency concurrently, each under its own deadline.
 *
 * @example
 * ```ts
 * import { checkDependencies } from "./dependencies.ts";
 * const report = await checkDependencies([
 *   { name: "ok", kind: "test", check: () => Promise.resolve() },
 *   { name: "bad", kind: "test", check: () => Promise.reject(new Error("Connection refused")) },
 * ]);
 * if (report.ok.status !== "up" || report.bad.error !== "Connection refused") throw new Error("report");
 * ```
 */
export async function checkDependencies(
  dependencies: readonly Dependency[],
  options: CheckOptions = {},
): Promise<Record<string, DependencyStatus>> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const entries = await Promise.all(dependencies.map(async (dependency) => {
    const started = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(new Error(`No answer within ${timeoutMs} ms`)), {
        once: true,
      })
    );
    let status: DependencyStatus;
    try {
      await Promise.race([dependency.check(signal), timedOut]);
      status = { kind: dependency.kind, status: "up", latencyMs: elapsed(started) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      status = { kind: dependency.kind, status: "down", latencyMs: elapsed(started), error: message };
    }
    return [dependency.name, status] as const;
  }));
  return Object.fromEntries(entries);
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;
