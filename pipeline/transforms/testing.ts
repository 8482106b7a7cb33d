/**
 * Helpers for the transform tests: a context with a real logger (captured) and real telemetry.
 *
 * @module
 */

import type { Schema } from "../batch.ts";
import { createLogger } from "../../observability/logger.ts";
import { Telemetry } from "../../observability/metrics.ts";
import type { TransformContext } from "./context.ts";

/** A transform context over `input`, plus the log lines it wrote. */
export function testContext(
  input: Schema,
  extra: Partial<Pick<TransformContext, "database" | "redis">> = {},
): TransformContext & { logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  return {
    pipeline: "test",
    logger: createLogger({ level: "debug", write: (line) => logs.push(JSON.parse(line)) }),
    telemetry: new Telemetry(),
    input,
    logs,
    ...extra,
  };
}

/** The value of a Prometheus counter with exactly these labels, 0 when it has none yet. */
export async function counterValue(
  ctx: Pick<TransformContext, "telemetry">,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await ctx.telemetry.render();
  const want = Object.entries(labels).map(([k, v]) => `${k.replaceAll(".", "_")}="${v}"`).sort().join(",");
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && m[2].split(",").sort().join(",") === want) return Number(m[3]);
  }
  return 0;
}
