/**
 * `validate-orders`: rows/s of weir's validation kernel over a typed orders `Batch` against valibot `safeParse`
 * and an ajv compiled validator over the same rows as JS objects (built outside the timed region). weir checks
 * the same rules plus uniqueness of `id`, which the peers cannot express per row.
 *
 * @module
 */

import * as v from "valibot";
import { Ajv } from "ajv";
import type { Benchmark, Comparison, Contender } from "./harness.ts";
import { ORDER_STATUSES, ordersFile } from "./data.ts";
import { weirValidateContender } from "./weir_sides.ts";

/** The orders rules as valibot sees them. */
export const ordersValibot = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  ts: v.string(),
  customer: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  country: v.pipe(v.string(), v.regex(/^[A-Z]{2}$/)),
  amount: v.pipe(v.number(), v.minValue(0), v.maxValue(1_000_000)),
  qty: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)),
  status: v.picklist(ORDER_STATUSES),
  paid: v.boolean(),
  note: v.string(),
});

/** The same rules as JSON Schema for ajv. */
export const ordersJsonSchema = {
  type: "object",
  required: ["id", "ts", "customer", "country", "amount", "qty", "status", "paid", "note"],
  properties: {
    id: { type: "integer", minimum: 1 },
    ts: { type: "string" },
    customer: { type: "string", minLength: 1, maxLength: 200 },
    country: { type: "string", pattern: "^[A-Z]{2}$" },
    amount: { type: "number", minimum: 0, maximum: 1_000_000 },
    qty: { type: "integer", minimum: 1, maximum: 1000 },
    status: { enum: [...ORDER_STATUSES] },
    paid: { type: "boolean" },
    note: { type: "string" },
  },
} as const;

/** The `validate-orders` benchmark. */
export const validateOrders: Benchmark = {
  name: "validate-orders",
  summary: "validation rows/s over orders vs valibot safeParse and ajv compiled",
  async prepare(options): Promise<Comparison> {
    const file = await ordersFile({ mb: options.mb, seed: options.seed, format: "ndjson" });
    const text = await Deno.readTextFile(file.path);
    const objects: unknown[] = [];
    for (const line of text.split("\n")) if (line) objects.push(JSON.parse(line));
    const rows = objects.length;
    const countValid = (ok: (o: unknown) => boolean) => {
      let n = 0;
      for (let i = 0; i < objects.length; i++) if (ok(objects[i])) n++;
      return n;
    };
    const ajvValidate = new Ajv({ allErrors: false }).compile(ordersJsonSchema);
    const peers: Contender[] = [
      {
        name: "valibot",
        bytes: file.bytes,
        rows,
        run: () => countValid((o) => v.safeParse(ordersValibot, o).success),
      },
      { name: "ajv", bytes: file.bytes, rows, run: () => countValid((o) => ajvValidate(o)) },
    ];
    // The kernels without the JS pattern pass, as a peer line of its own, show where the time goes.
    const kernelsOnly = await weirValidateContender(objects, { bytes: file.bytes, patterns: false });
    if (!("skip" in kernelsOnly)) peers.push({ ...kernelsOnly, name: "weir-without-pattern" });
    return { weir: await weirValidateContender(objects, { bytes: file.bytes }), peers };
  },
};
