/**
 * Every sink, listed explicitly for the registry (pipeline/registry.ts).
 *
 * @module
 */

import type { SinkSpec } from "../component.ts";

/** The sinks, in the order the docs list them. */
export const SINK_SPECS: readonly SinkSpec[] = [];
