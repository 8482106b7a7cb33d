/**
 * Concatenation of batches with one schema into one batch, column by column (typed arrays, bitmaps and string
 * offsets are rebuilt once), so that many small inputs can share one sink write.
 *
 * @module
 */
import type { Batch, Column } from "./batch.ts";

/**
 * One batch holding the rows of `batches` in order. All must have the same fields (names and types, in order);
 * a single batch is returned as it is.
 *
 * @example
 * ```ts
 * import { batchFromRows, rowValues } from "./batch.ts";
 * import { concatBatches } from "./batch_concat.ts";
 * const fields = [{ name: "id", type: "int64" }, { name: "tag", type: "string" }] as const;
 * const all = concatBatches([batchFromRows(fields, [[1n, "a"]]), batchFromRows(fields, [[2n, null]])]);
 * if (all.length !== 2 || rowValues(all, 1)[1] !== null) throw new Error("expected two rows");
 * ```
 */
export function concatBatches(batches: readonly Batch[]): Batch {
  if (batches.length === 0) throw new RangeError("Expected at least one batch to concatenate");
  if (batches.length === 1) return batches[0];
  const schema = batches[0].schema;
  const signature = fieldSignature(batches[0]);
  for (const batch of batches) {
    if (fieldSignature(batch) !== signature) {
      throw new TypeError(`Batches differ in their fields: ${signature} and ${fieldSignature(batch)}`);
    }
  }
  const length = batches.reduce((n, b) => n + b.length, 0);
  const lines = new Int32Array(length);
  let at = 0;
  for (const batch of batches) {
    lines.set(batch.lines.subarray(0, batch.length), at);
    at += batch.length;
  }
  const columns: Record<string, Column> = {};
  for (const field of schema.fields) {
    columns[field.name] = concatColumn(batches.map((b) => b.columns[field.name]), length);
  }
  return { schema, length, lines, columns };
}

function fieldSignature(batch: Batch): string {
  return batch.schema.fields.map((f) =>
    f.type === "decimal" ? `${f.name}:decimal(${f.precision},${f.scale})` : `${f.name}:${f.type}`
  ).join(",");
}

function concatColumn(parts: readonly Column[], length: number): Column {
  const first = parts[0];
  const nullCount = parts.reduce((n, c) => n + c.nullCount, 0);
  const validity = nullCount > 0
    ? concatBits(parts.map((c) => [c.validity, c.length] as const), length)
    : undefined;
  const base = { name: first.name, length, nullCount, ...(validity ? { validity } : {}) };
  switch (first.type) {
    case "int64":
    case "timestamp":
    case "decimal": {
      const values = new BigInt64Array(length);
      let at = 0;
      for (const c of parts as (Column & { values: BigInt64Array })[]) {
        values.set(c.values.subarray(0, c.length), at);
        at += c.length;
      }
      return { ...first, ...base, values } as Column;
    }
    case "float64": {
      const values = new Float64Array(length);
      let at = 0;
      for (const c of parts as (Column & { values: Float64Array })[]) {
        values.set(c.values.subarray(0, c.length), at);
        at += c.length;
      }
      return { ...first, ...base, values };
    }
    case "date": {
      const values = new Int32Array(length);
      let at = 0;
      for (const c of parts as (Column & { values: Int32Array })[]) {
        values.set(c.values.subarray(0, c.length), at);
        at += c.length;
      }
      return { ...first, ...base, values };
    }
    case "boolean": {
      const values = concatBits(
        parts.map((c) => [(c as Column & { values: Uint8Array }).values, c.length]),
        length,
      );
      return { ...first, ...base, values };
    }
    case "string": {
      const strings = parts as (Column & { type: "string" })[];
      const bytes = strings.reduce((n, c) => n + (c.offsets[c.length] - c.offsets[0]), 0);
      const data = new Uint8Array(bytes);
      const offsets = new Int32Array(length + 1);
      let row = 0;
      let pos = 0;
      for (const c of strings) {
        const start = c.offsets[0];
        data.set(c.data.subarray(start, c.offsets[c.length]), pos);
        for (let i = 1; i <= c.length; i++) offsets[row + i] = pos + c.offsets[i] - start;
        row += c.length;
        pos = offsets[row];
      }
      return { ...first, ...base, offsets, data };
    }
  }
}

/** Concatenates LSB-first bitmaps; an absent bitmap means all ones (all valid). */
function concatBits(
  parts: readonly (readonly [Uint8Array | undefined, number])[],
  length: number,
): Uint8Array {
  const out = new Uint8Array((length + 7) >> 3);
  let at = 0;
  for (const [bits, n] of parts) {
    if ((at & 7) === 0 && bits !== undefined) {
      // Byte-aligned: copy whole bytes, then clear the bits past the part's end.
      const whole = (n + 7) >> 3;
      out.set(bits.subarray(0, whole), at >> 3);
      if ((n & 7) !== 0) out[(at + n) >> 3] &= (1 << ((at + n) & 7)) - 1;
    } else {
      for (let i = 0; i < n; i++) {
        if (bits === undefined || ((bits[i >> 3] >> (i & 7)) & 1) === 1) {
          out[(at + i) >> 3] |= 1 << ((at + i) & 7);
        }
      }
    }
    at += n;
  }
  return out;
}
