/**
 * Host helpers shared by the CSV and JSON readers (`csv.ts`, `ndjson.ts`): allocating a column's output
 * regions in a kernel instance's arena, copying them out into {@linkcode Batch} columns, and reading the
 * reject records both kernels write. Both kernels lay out a column the same way: a validity bitmap, then
 * values (a bitmap for booleans, i32 days for dates, i64 or f64 otherwise, i32 offsets for strings) and,
 * for strings, a data region.
 *
 * @module
 */

import { type Batch, type Column, countNulls, type Field } from "../pipeline/batch.ts";
import type { KernelCore } from "./core.ts";

/** Bytes a kernel may write past a string data region (the CSV kernel copies short strings 32 bytes at once). */
export const DATA_PAD = 32;

/** One output column in the arena while a call runs. */
export interface ColumnSlot {
  /** The column. */
  field: Field;
  /** The kernel's type code for the column. */
  code: number;
  /** Validity bitmap pointer. */
  validity: number;
  /** Values pointer (string offsets for strings). */
  values: number;
  /** String data pointer, 0 for other types. */
  data: number;
  /** Room at `data`, in bytes. */
  dataCapacity: number;
  /** Strings: the offset at which `data` starts; the bytes before it were drained into `parts`. */
  dataBase: number;
  /** String data already drained out of the arena. */
  parts: Uint8Array[];
}

/** What {@linkcode allocColumnSlot} needs besides the field. */
export interface ColumnSlotOptions {
  /** The kernel's type code for the field's type. */
  code: number;
  /** Most rows the call can produce. */
  rows: number;
  /** Room for string data in bytes (ignored for other types). */
  dataCapacity: number;
}

/**
 * Allocates the regions of one output column for up to `options.rows` rows. Allocation may grow (and
 * move) memory, so take views only after every region is allocated.
 */
export function allocColumnSlot(core: KernelCore, field: Field, options: ColumnSlotOptions): ColumnSlot {
  const { code, rows } = options;
  const bitmapBytes = (rows + 7) >> 3;
  const slot: ColumnSlot = {
    field,
    code,
    validity: core.alloc(bitmapBytes),
    values: 0,
    data: 0,
    dataCapacity: 0,
    dataBase: 0,
    parts: [],
  };
  if (field.type === "string") {
    slot.values = core.alloc((rows + 1) * 4);
    slot.dataCapacity = options.dataCapacity;
    slot.data = core.alloc(slot.dataCapacity + DATA_PAD);
  } else {
    slot.values = core.alloc(field.type === "boolean" ? bitmapBytes : rows * (field.type === "date" ? 4 : 8));
  }
  return slot;
}

/** Where the rows of one call sit in the arena. */
export interface BatchRegions {
  /** The output columns. */
  slots: readonly ColumnSlot[];
  /** Rows produced. */
  rows: number;
  /** Pointer to the i32 line number of each row. */
  linesPtr: number;
}

/** Copies the outputs of `regions.rows` rows out of the arena into a batch of transferable buffers. */
export function readBatch(core: KernelCore, regions: BatchRegions): Batch {
  const { slots, rows } = regions;
  const buffer = core.view(0, 0).buffer;
  const lines = new Int32Array(buffer, regions.linesPtr, rows).slice();
  const bitmapBytes = (rows + 7) >> 3;
  const columns: Record<string, Column> = {};
  for (const slot of slots) {
    const f = slot.field;
    const validityView = new Uint8Array(buffer, slot.validity, bitmapBytes);
    const nullCount = countNulls(validityView, rows);
    const base = {
      name: f.name,
      length: rows,
      nullCount,
      ...(nullCount > 0 ? { validity: validityView.slice() } : {}),
    };
    if (f.type === "string") {
      const offsets = new Int32Array(buffer, slot.values, rows + 1).slice();
      columns[f.name] = { type: "string", offsets, data: stringData(buffer, slot, offsets[rows]), ...base };
    } else {
      // The field carries the type (and a decimal's precision and scale); only the values differ in layout.
      columns[f.name] = { ...f, values: fixedValues(buffer, slot, rows), ...base } as Column;
    }
  }
  return { schema: { fields: slots.map((s) => s.field) }, length: rows, lines, columns };
}

/** The values of a column that is not a string, copied out: a bitmap, i32 days, f64 or i64. */
function fixedValues(buffer: ArrayBufferLike, slot: ColumnSlot, rows: number) {
  switch (slot.field.type) {
    case "boolean":
      return new Uint8Array(buffer, slot.values, (rows + 7) >> 3).slice();
    case "date":
      return new Int32Array(buffer, slot.values, rows).slice();
    case "float64":
      return new Float64Array(buffer, slot.values, rows).slice();
    default:
      return new BigInt64Array(buffer, slot.values, rows).slice();
  }
}

/** A string column's data: the drained parts followed by what is still in the arena, `total` bytes. */
function stringData(buffer: ArrayBufferLike, slot: ColumnSlot, total: number): Uint8Array {
  const tailBytes = total - slot.dataBase;
  if (slot.parts.length === 0) {
    return tailBytes === 0 ? new Uint8Array(0) : new Uint8Array(buffer, slot.data, tailBytes).slice();
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const p of slot.parts) {
    data.set(p, at);
    at += p.length;
  }
  data.set(new Uint8Array(buffer, slot.data, tailBytes), at);
  return data;
}

/** A batch of no rows with these columns. */
export function emptyBatch(fields: readonly Field[]): Batch {
  const columns: Record<string, Column> = {};
  for (const f of fields) {
    const base = { name: f.name, length: 0, nullCount: 0 };
    switch (f.type) {
      case "string":
        columns[f.name] = { type: "string", offsets: new Int32Array(1), data: new Uint8Array(0), ...base };
        break;
      case "boolean":
        columns[f.name] = { type: "boolean", values: new Uint8Array(0), ...base };
        break;
      case "date":
        columns[f.name] = { type: "date", values: new Int32Array(0), ...base };
        break;
      case "float64":
        columns[f.name] = { type: "float64", values: new Float64Array(0), ...base };
        break;
      case "decimal":
        columns[f.name] = {
          type: "decimal",
          precision: f.precision,
          scale: f.scale,
          values: new BigInt64Array(0),
          ...base,
        };
        break;
      case "int64":
      case "timestamp":
        columns[f.name] = { type: f.type, values: new BigInt64Array(0), ...base };
        break;
    }
  }
  return { schema: { fields }, length: 0, lines: new Int32Array(0), columns };
}

/** One reject record as both kernels write it: `line, field, rule, offset, length` (i32 each). */
export interface RejectRecord {
  /** 1-based line where the row starts. */
  line: number;
  /** Input field (CSV) or column (JSON) that failed, or -1 for the whole row. */
  field: number;
  /** The kernel's rule code. */
  rule: number;
  /** Offset of the value from the input base. */
  offset: number;
  /** The value's bytes: a view of linear memory, valid until the next allocation. */
  value: Uint8Array;
}

/** Where a call's reject records are. */
export interface RejectRegion {
  /** Pointer to the records. */
  ptr: number;
  /** Number of records. */
  count: number;
  /** i32 slots per record (the kernel's `*_REJECT_SLOTS`). */
  slots: number;
  /** Address the records' offsets count from: the call's input. */
  base: number;
}

/** Reads the reject records of one call. */
export function readRejects(core: KernelCore, region: RejectRegion): RejectRecord[] {
  const { count: n, slots, base } = region;
  if (n === 0) return [];
  const r = core.i32(region.ptr, n * slots).slice();
  const mem = core.view(0, 0).buffer;
  const out: RejectRecord[] = [];
  for (let i = 0; i < n; i++) {
    const [line, field, rule, offset, length] = r.subarray(i * slots, (i + 1) * slots);
    out.push({ line, field, rule, offset, value: new Uint8Array(mem, base + offset, length) });
  }
  return out;
}

/**
 * Checks a declared column: the kernels hold a decimal in an i64.
 *
 * @throws {RangeError} for a decimal with precision outside 1..18 or scale outside 0..precision.
 */
export function checkDecimalField(field: Field): void {
  if (
    field.type === "decimal" &&
    !(field.precision >= 1 && field.precision <= 18 && field.scale >= 0 && field.scale <= field.precision)
  ) {
    throw new RangeError(
      `Decimal column ${field.name} needs 1 <= precision <= 18 and 0 <= scale <= precision`,
    );
  }
}
