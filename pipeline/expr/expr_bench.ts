/**
 * Throughput of the expression evaluator on a 1M-row batch: `deno bench pipeline/expr/expr_bench.ts`.
 * Rows per second are 1,000,000 / the time per iteration.
 *
 * @module
 */

import type { Batch } from "../batch.ts";
import { compileExpression } from "./mod.ts";

const N = 1_000_000;

function orders(n: number): Batch {
  const amount = new BigInt64Array(n);
  const qty = new BigInt64Array(n);
  const statuses = ["new", "paid", "shipped", "cancelled", "refunded"].map((s) =>
    new TextEncoder().encode(s)
  );
  const offsets = new Int32Array(n + 1);
  const data = new Uint8Array(n * 9);
  let at = 0;
  let seed = 42;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    amount[i] = BigInt(seed % 100_000); // up to 999.99
    qty[i] = BigInt(1 + (i % 7));
    const s = statuses[i % statuses.length];
    data.set(s, at);
    at += s.length;
    offsets[i + 1] = at;
  }
  return {
    length: n,
    lines: new Int32Array(n),
    schema: {
      fields: [
        { name: "amount", type: "decimal", precision: 12, scale: 2 },
        { name: "qty", type: "int64" },
        { name: "status", type: "string" },
      ],
    },
    columns: {
      amount: {
        name: "amount",
        type: "decimal",
        precision: 12,
        scale: 2,
        values: amount,
        length: n,
        nullCount: 0,
      },
      qty: { name: "qty", type: "int64", values: qty, length: n, nullCount: 0 },
      status: { name: "status", type: "string", offsets, data: data.slice(0, at), length: n, nullCount: 0 },
    },
  };
}

const batch = orders(N);
const compile = (source: string) => compileExpression(source, { schema: batch.schema, path: "bench" });

for (const source of ["amount * qty", "qty * 3 + 1", "upper(status)"]) {
  const expression = compile(source);
  Deno.bench(`derive ${source} (1M rows)`, { group: "derive" }, () => {
    expression.evaluateColumn(batch, { name: "out" });
  });
}

for (const source of ["status != 'cancelled'", "amount * qty > 1000 and status != 'cancelled'"]) {
  const expression = compile(source);
  Deno.bench(`filter ${source} (1M rows)`, { group: "filter" }, () => {
    expression.evaluateFilter(batch);
  });
}
