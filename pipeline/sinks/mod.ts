/**
 * Every sink, listed explicitly for the registry (pipeline/registry.ts).
 *
 * @module
 */

import type { SinkSpec } from "../component.ts";
import { postgresSink } from "./postgres/mod.ts";
import { kafkaSink } from "./kafka/mod.ts";
import { redisSink } from "./redis/mod.ts";
import { fileSink } from "./file/mod.ts";

export { postgresSink } from "./postgres/mod.ts";
export { kafkaSink } from "./kafka/mod.ts";
export { redisSink } from "./redis/mod.ts";
export { fileSink } from "./file/mod.ts";

/** The sinks, in the order the docs list them. Their `build` needs only part of the context (see context.ts). */
export const SINK_SPECS: readonly SinkSpec[] = [postgresSink, kafkaSink, redisSink, fileSink];
