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
import type { BufferFreeList } from "../pipeline/bytes.ts";
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

/** Options of {@linkcode readBatch}. */
export interface ReadBatchOptions {
  /**
   * Where the batch's buffer comes from: a free-list of buffers that consumers gave back (see
   * `KernelPool.giveBack`), so steady work copies into memory already mapped instead of zeroing new pages.
   * Default: a new buffer.
   */
  buffers?: BufferFreeList;
}

/**
 * Copies the outputs of `regions.rows` rows out of the arena into a batch whose arrays all sit in one
 * transferable buffer (8-byte aligned, as in Arrow's IPC body): one allocation and one transfer per batch
 * instead of one per array, and one buffer to give back for reuse.
 */
export function readBatch(core: KernelCore, regions: BatchRegions, options: ReadBatchOptions = {}): Batch {
  const { slots, rows } = regions;
  const mem = core.view(0, 0).buffer;
  const bitmapBytes = (rows + 7) >> 3;
  // First the sizes, then one buffer, then the copies.
  const nullCounts = slots.map((slot) => countNulls(new Uint8Array(mem, slot.validity, bitmapBytes), rows));
  const dataBytes = slots.map((slot) =>
    slot.field.type === "string" ? new Int32Array(mem, slot.values, rows + 1)[rows] : 0
  );
  let size = align8(rows * 4);
  slots.forEach((slot, i) => {
    if (nullCounts[i] > 0) size += align8(bitmapBytes);
    size += align8(valueBytes(slot.field, rows)) + align8(dataBytes[i]);
  });
  // A reused buffer is not zeroed: an earlier batch's bytes remain in the alignment gaps and past `size`. Every
  // array below is a view with its own offset and length, so nothing reads them.
  const out = options.buffers?.take(size) ?? new ArrayBuffer(size);
  let at = 0;
  /** Copies `bytes` bytes at `ptr` into the batch buffer and returns where they went. */
  const put = (ptr: number, bytes: number): number => {
    const start = at;
    new Uint8Array(out, start, bytes).set(new Uint8Array(mem, ptr, bytes));
    at = align8(start + bytes);
    return start;
  };
  const lines = new Int32Array(out, put(regions.linesPtr, rows * 4), rows);
  const columns: Record<string, Column> = {};
  slots.forEach((slot, i) => {
    const f = slot.field;
    const nullCount = nullCounts[i];
    const base = {
      name: f.name,
      length: rows,
      nullCount,
      ...(nullCount > 0
        ? { validity: new Uint8Array(out, put(slot.validity, bitmapBytes), bitmapBytes) }
        : {}),
    };
    const values = put(slot.values, valueBytes(f, rows));
    if (f.type === "string") {
      const offsets = new Int32Array(out, values, rows + 1);
      const data = new Uint8Array(out, at, dataBytes[i]);
      // The drained parts first, then what is still in the arena.
      let d = 0;
      for (const p of slot.parts) {
        data.set(p, d);
        d += p.length;
      }
      data.set(new Uint8Array(mem, slot.data, dataBytes[i] - slot.dataBase), d);
      at = align8(at + dataBytes[i]);
      columns[f.name] = { type: "string", offsets, data, ...base };
    } else {
      // The field carries the type (and a decimal's precision and scale); only the values differ in layout.
      columns[f.name] = { ...f, values: fixedValues(out, values, f, rows), ...base } as Column;
    }
  });
  return { schema: { fields: slots.map((s) => s.field) }, length: rows, lines, columns };
}

function align8(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Bytes of a column's values (a string column's offsets). */
function valueBytes(field: Field, rows: number): number {
  switch (field.type) {
    case "boolean":
      return (rows + 7) >> 3;
    case "date":
      return rows * 4;
    case "string":
      return (rows + 1) * 4;
    default:
      return rows * 8;
  }
}

/** A view of the values of a column that is not a string: a bitmap, i32 days, f64 or i64. */
function fixedValues(buffer: ArrayBuffer, at: number, field: Field, rows: number) {
  switch (field.type) {
    case "boolean":
      return new Uint8Array(buffer, at, (rows + 7) >> 3);
    case "date":
      return new Int32Array(buffer, at, rows);
    case "float64":
      return new Float64Array(buffer, at, rows);
    default:
      return new BigInt64Array(buffer, at, rows);
  }
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
