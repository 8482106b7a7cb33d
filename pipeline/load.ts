/**
 * Reads weir.yaml for the server: a missing file means no pipelines (the server still answers health checks), a
 * wrong one stops the start with every problem listed.
 *
 * @module
 */
import type { Logger } from "../observability/logger.ts";
import { ConfigError } from "./errors.ts";
import { REGISTRY, type Registry } from "./registry.ts";
import { loadPipelines, type PipelineSpec } from "./spec.ts";

/** The pipelines declared in `path`, validated. */
export async function loadPipelineFile(path: string, logger: Logger): Promise<PipelineSpec<Registry>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      logger.warn("No pipeline file: serving without pipelines", { path });
      return [];
    }
    throw new ConfigError(`Cannot read ${path}: ${error instanceof Error ? error.message : error}`, {
      path: "WEIR_CONFIG",
      cause: error,
    });
  }
  const spec = loadPipelines(text, { catalog: REGISTRY, file: path });
  return [...spec.pipelines.values()];
}
