/**
 * Every transform, listed explicitly for the registry (pipeline/registry.ts).
 *
 * @module
 */

import type { TransformSpec } from "../component.ts";
import { castSpec } from "./cast.ts";
import { deriveSpec } from "./derive.ts";
import { dropSpec } from "./drop.ts";
import { filterSpec } from "./filter.ts";
import { lookupSpec } from "./lookup.ts";
import { renameSpec } from "./rename.ts";

export { castSpec, deriveSpec, dropSpec, filterSpec, lookupSpec, renameSpec };

/** The transforms weir.yaml can name, in the order the docs list them. */
export const TRANSFORM_SPECS: readonly TransformSpec[] = [
  renameSpec,
  castSpec,
  dropSpec,
  deriveSpec,
  filterSpec,
  lookupSpec,
];
