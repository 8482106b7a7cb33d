/**
 * Host side of the JSON kernel (`kernels/assembly/ndjson.ts`): a streaming reader that turns chunks of
 * NDJSON (one object per line) or of JSON arrays of objects into typed columnar {@linkcode Batch}es for a
 * declared schema, plus rejected records.
 *
 * ```ts ignore
 * const parser = kernels.createJsonParser({ columns: [{ name: "id", type: "int64", required: true }] });
 * for await (const chunk of body) handle(parser.push(chunk));
 * handle(parser.finish());
 * ```
 *
 * What a value may be, per column type (anything else rejects the record with rule `type`):
 *
 * | column      | JSON value                                                                      |
 * |-------------|---------------------------------------------------------------------------------|
 * | `string`    | a string (escapes decoded to UTF-8), or an object or array, kept as its JSON text as written |
 * | `int64`     | an integer number without fraction or exponent, within the int64 range, or its text in a string |
 * | `float64`   | a number, read exactly as `JSON.parse` reads it, or `"NaN"`, `"Infinity"`, `"-Infinity"`   |
 * | `decimal`   | a number without exponent that fits the precision (extra fraction digits zeros), or its text in a string |
 * | `boolean`   | `true` or `false`                                                                |
 * | `date`      | a string `YYYY-MM-DD`                                                            |
 * | `timestamp` | an ISO 8601 string, as the CSV reader accepts it (kernels/README.md)             |
 *
 * Numbers in strings are how JSON keeps them exact: ids beyond 2^53 and decimals, and the non-finite floats
 * JSON has no number for. weir's own JSON writers (pipeline/sinks/json_row.ts, pipeline/json_lines.ts) write
 * them so, and this reader reads that output back unchanged. The string's text (escapes decoded) must be a
 * JSON number by the same grammar and the same int64/decimal rules as an unquoted one: no sign `+`, no
 * leading zeros, no spaces, no exponent for decimals. Dates and timestamps take strings only: an epoch
 * number carries no unit (seconds, milliseconds, microseconds?), so reading one would be a guess.
 *
 * `null` or a missing key is a null, which rejects the record (rule `required`) when the column is
 * required. Keys the schema does not declare are ignored (their values are still checked as JSON); when a
 * key repeats, the last value wins, as with `JSON.parse`. A record that is not one JSON object is rejected
 * with rule `json`, one that is not valid UTF-8 with rule `utf8`. A lone surrogate escape (`\ud800`)
 * becomes U+FFFD, which is what `TextEncoder` makes of the string `JSON.parse` returns.
 *
 * Like the CSV reader, the parser's state lives on the host, and a call owns the instance's arena for its
 * duration (it resets it first).
 *
 * @module
 */

import { KernelError } from "../pipeline/errors.ts";
import type { Batch, Field } from "../pipeline/batch.ts";
import { concatBatches } from "../pipeline/batch_concat.ts";
import {
  allocColumnSlot,
  checkDecimalField,
  DATA_PAD,
  emptyBatch,
  readBatch,
  readRejects,
} from "./columns.ts";
import type { KernelCore, KernelFunction } from "./core.ts";
import { KERNEL_STATUS } from "./status.ts";

/** Layout version of the state block, mirrored from the module's `JSON_ABI_VERSION`. */
export const JSON_ABI_VERSION = 1;

/** State block slots (i32 index), mirrored from the module's `JSON_S_*` exports (checked by a test). */
export const JSON_STATE = Object.freeze(
  {
    ABI: 0,
    MODE: 1,
    COLUMNS: 2,
    COLUMNS_PTR: 3,
    HASH_PTR: 4,
    HASH_MASK: 5,
    SCRATCH_PTR: 6,
    LINE: 7,
    STARTED: 8,
    OUTER: 9,
    INPUT_PTR: 10,
    INPUT_LEN: 11,
    FINAL: 12,
    ROW_CAPACITY: 13,
    ROWS: 14,
    LINES_PTR: 15,
    REJECTS_PTR: 16,
    REJECT_CAPACITY: 17,
    REJECTS: 18,
    CONSUMED: 19,
    STOP: 20,
    MAX_RECORD: 21,
  } as const,
);

/** Slots in a state block, mirrored from `JSON_STATE_SLOTS`. */
export const JSON_STATE_SLOTS = 24;

/** Column descriptor slots, mirrored from the module's `JSON_C_*` exports. */
export const JSON_COLUMN = Object.freeze(
  {
    TYPE: 0,
    PRECISION: 1,
    SCALE: 2,
    REQUIRED: 3,
    KEY_PTR: 4,
    KEY_LEN: 5,
    VALIDITY: 6,
    VALUES: 7,
    DATA: 8,
    DATA_CAPACITY: 9,
    CELL: 10,
    VALUE_START: 11,
    VALUE_LEN: 12,
    SCRATCH: 13,
    KEY_LO: 14,
    KEY_HI: 15,
  } as const,
);

/** Slots in a column descriptor, mirrored from `JSON_COLUMN_SLOTS`. */
export const JSON_COLUMN_SLOTS = 16;

/** Column type codes, mirrored from the module's `JSON_TYPE_*` exports. */
export const JSON_TYPE = Object.freeze(
  {
    STRING: 0,
    INT64: 1,
    FLOAT64: 2,
    DECIMAL: 3,
    BOOLEAN: 4,
    DATE: 5,
    TIMESTAMP: 6,
  } as const,
);

/** Reject rule codes, mirrored from the module's `JSON_RULE_*` exports. */
export const JSON_RULE = Object.freeze({ JSON: 1, TYPE: 2, REQUIRED: 3, UTF8: 4, SIZE: 5 } as const);

/** Values of `size` rejects are cut to this many bytes, mirrored from `JSON_REJECT_VALUE_LIMIT`. */
export const JSON_REJECT_VALUE_LIMIT = 1024;

/** Why a call returned, mirrored from the module's `JSON_STOP_*` exports. */
export const JSON_STOP = Object.freeze({ END: 0, REJECTS_FULL: 1, ROWS_FULL: 2 } as const);

/** Input modes, mirrored from the module's `JSON_MODE_*` exports. */
export const JSON_MODE = Object.freeze({ NDJSON: 0, ARRAY: 1 } as const);

/** Slots per reject record, mirrored from `JSON_REJECT_SLOTS`. */
export const JSON_REJECT_SLOTS = 5;

/** Why a record was rejected. */
export type JsonRule = "json" | "type" | "required" | "utf8" | "size";

const RULE_NAMES: Record<number, JsonRule> = {
  [JSON_RULE.JSON]: "json",
  [JSON_RULE.TYPE]: "type",
  [JSON_RULE.REQUIRED]: "required",
  [JSON_RULE.UTF8]: "utf8",
  [JSON_RULE.SIZE]: "size",
};

/** A rejected record: where it starts, which column failed (null for the whole record), why, and the text. */
export interface JsonReject {
  /** 1-based line where the record starts in the input. */
  line: number;
  /** The column whose value failed, or null when the whole record failed (json, utf8, size). */
  column: string | null;
  /** The rule the record broke. */
  rule: JsonRule;
  /**
   * The offending JSON text as written: the value (strings with their quotes; `null` for a null
   * required value; empty for a missing one), or the whole record for `json` and `utf8`, or its first
   * 1 KiB for `size`.
   */
  value: string;
}

/** A declared column: a typed field, optionally required (missing or null rejects the record). */
export type JsonColumn = Field & { readonly required?: boolean };

/** Options for {@linkcode createJsonParser}. */
export interface JsonParserOptions {
  /**
   * `ndjson` (default): one object per line, LF or CRLF, blank lines skipped. `array`: the elements of a
   * top-level array `[ {...}, ... ]` (several arrays, or lone top-level objects, may follow each other);
   * an empty element or a trailing comma is a `json` reject, and an array cut off by the end of the input
   * keeps its complete elements.
   */
  format?: "ndjson" | "array";
  /** The columns, matched to keys by name. */
  columns: readonly JsonColumn[];
  /**
   * Largest record in bytes (NDJSON: the line; arrays: the trimmed element); a longer one is rejected
   * with rule `size`. In NDJSON an overlong line is rejected as soon as that many bytes of it arrived, and
   * the rest is skipped as it comes, so memory stays bounded. Default 8 MiB.
   */
  maxRecordBytes?: number;
}

/** What one call produced: the complete records of the input so far, and the rejected ones. */
export interface JsonChunkResult {
  /** The rows read by this call (possibly none). */
  batch: Batch;
  /** Records rejected by this call, in input order. */
  rejects: JsonReject[];
}

/** A streaming JSON reader for one input. */
export interface JsonParser {
  /** Reads the complete records of everything pushed so far; an incomplete last record waits for more. */
  push(chunk: Uint8Array): JsonChunkResult;
  /** Ends the input, after `last` when given (one call instead of `push(last)` then `finish()`), and reads the last record. */
  finish(last?: Uint8Array): JsonChunkResult;
  /** The columns of every batch. */
  readonly fields: readonly Field[];
}

/** The JSON kernel of one instance. */
export interface JsonKernels {
  /** Creates a streaming NDJSON / JSON-array reader on this instance; see {@linkcode createJsonParser}. */
  createJsonParser(options: JsonParserOptions): JsonParser;
}

/** Wraps the JSON kernel of `core`. */
export function jsonKernels(core: KernelCore): JsonKernels {
  return { createJsonParser: (options) => createJsonParser(core, options) };
}

/**
 * Creates a streaming NDJSON or JSON-array reader that runs on the kernel instance `core`.
 *
 * @throws {RangeError} for a repeated column name or a decimal type that cannot be used.
 */
export function createJsonParser(core: KernelCore, options: JsonParserOptions): JsonParser {
  return new JsonStreamParser(core, options);
}

// Bytes the kernel may read (and, at the record end, write) past an input.
const INPUT_PAD = 64;
const REJECTS_PER_CALL = 1024;
const DEFAULT_MAX_RECORD = 8 << 20;
// Input per kernel call: the string regions are sized by it, so a huge push is cut into slices.
const SLICE_BYTES = 4 << 20;

const TYPE_CODES: Record<Field["type"], number> = {
  string: JSON_TYPE.STRING,
  int64: JSON_TYPE.INT64,
  float64: JSON_TYPE.FLOAT64,
  decimal: JSON_TYPE.DECIMAL,
  boolean: JSON_TYPE.BOOLEAN,
  date: JSON_TYPE.DATE,
  timestamp: JSON_TYPE.TIMESTAMP,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** FNV-1a over `bytes`, as the kernel computes it for a key that misses its prediction. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

class JsonStreamParser implements JsonParser {
  #core: KernelCore;
  #parse: KernelFunction;
  #countRows: KernelFunction;
  #state = new Int32Array(JSON_STATE_SLOTS);
  #fields: Field[];
  #required: boolean[];
  #keys: Uint8Array;
  #keyOffsets: number[];
  #hash: Int32Array;
  #keyWords: Int32Array;
  #tail: Uint8Array = new Uint8Array(0);
  #finished = false;
  #slice = SLICE_BYTES;
  #maxRecord: number;
  /** NDJSON: an overlong line was rejected and its rest is being skipped up to its LF. */
  #skipping = false;

  constructor(core: KernelCore, options: JsonParserOptions) {
    this.#core = core;
    this.#parse = core.fn("json_parse");
    this.#countRows = core.fn("json_count_rows");
    this.#maxRecord = options.maxRecordBytes ?? DEFAULT_MAX_RECORD;
    if (!Number.isInteger(this.#maxRecord) || this.#maxRecord < 1 || this.#maxRecord > 0x7fff_0000) {
      throw new RangeError(`maxRecordBytes must be an integer in 1..2^31: ${this.#maxRecord}`);
    }
    const seen = new Set<string>();
    for (const c of options.columns) {
      if (seen.has(c.name)) throw new RangeError(`Column ${c.name} is declared twice`);
      seen.add(c.name);
      checkDecimalField(c);
    }
    // The batch schema carries plain fields; `required` is the reader's business.
    this.#fields = options.columns.map(({ required: _, ...field }) => field as Field);
    this.#required = options.columns.map((c) => c.required === true);
    const encoded = options.columns.map((c) => encoder.encode(c.name));
    this.#keys = new Uint8Array(encoded.reduce((n, k) => n + k.length, 0));
    this.#keyOffsets = [];
    let at = 0;
    for (const k of encoded) {
      this.#keyOffsets.push(at);
      this.#keys.set(k, at);
      at += k.length;
    }
    // Keys of up to 8 bytes that JSON writes as they are get matched as one masked 64-bit word.
    this.#keyWords = new Int32Array(encoded.length * 2);
    encoded.forEach((k, c) => {
      const plain = k.length <= 8 && k.every((b) => b >= 0x20 && b !== 0x22 && b !== 0x5c);
      if (!plain) {
        this.#keyWords[c * 2 + 1] = -1;
        return;
      }
      const word = new Uint8Array(8);
      word.set(k);
      const w = new DataView(word.buffer);
      this.#keyWords[c * 2] = w.getInt32(0, true);
      this.#keyWords[c * 2 + 1] = w.getInt32(4, true);
    });
    let size = 8;
    while (size < encoded.length * 2) size *= 2;
    this.#hash = new Int32Array(size);
    encoded.forEach((k, c) => {
      let h = fnv1a(k) & (size - 1);
      while (this.#hash[h] !== 0) h = (h + 1) & (size - 1);
      this.#hash[h] = c + 1;
    });
    const s = this.#state;
    s[JSON_STATE.ABI] = JSON_ABI_VERSION;
    s[JSON_STATE.MODE] = options.format === "array" ? JSON_MODE.ARRAY : JSON_MODE.NDJSON;
    s[JSON_STATE.LINE] = 1;
    s[JSON_STATE.MAX_RECORD] = this.#maxRecord;
  }

  get fields(): readonly Field[] {
    return this.#fields;
  }

  push(chunk: Uint8Array): JsonChunkResult {
    if (this.#finished) throw new KernelError("JSON parser is finished", { reason: "closed" });
    return this.#run(chunk, false);
  }

  finish(last: Uint8Array = new Uint8Array(0)): JsonChunkResult {
    if (this.#finished) throw new KernelError("JSON parser is finished", { reason: "closed" });
    this.#finished = true;
    return this.#run(last, true);
  }

  #run(chunk: Uint8Array, final: boolean): JsonChunkResult {
    const batches: Batch[] = [];
    const rejects: JsonReject[] = [];
    if (this.#skipping) {
      const lf = chunk.indexOf(10);
      if (lf < 0) return { batch: emptyBatch(this.#fields), rejects };
      chunk = chunk.subarray(lf + 1);
      this.#state[JSON_STATE.LINE]++;
      this.#skipping = false;
    }
    // Nothing carried and nothing new: no record can end here, so the kernel has nothing to do.
    if (this.#tail.length === 0 && chunk.length === 0) return { batch: emptyBatch(this.#fields), rejects };
    // The input is the carried tail followed by the chunk; both are copied straight into the arena.
    let head = this.#tail;
    let rest = chunk;
    while (true) {
      const total = head.length + rest.length;
      // A tail longer than a slice is one long record: it goes in whole, with everything after it.
      const window = head.length >= this.#slice ? total : Math.min(total, this.#slice);
      const last = window === total;
      const { consumed, batch } = this.#call(head, rest.subarray(0, window - head.length), {
        final: final && last,
        rejects,
      });
      if (batch.length > 0 || batches.length === 0) batches.push(batch);
      if (consumed >= head.length) {
        rest = rest.subarray(consumed - head.length);
        head = new Uint8Array(0);
      } else {
        head = head.subarray(consumed);
      }
      if (last) break;
      // One record is longer than a slice: give it room.
      if (consumed === 0) this.#slice *= 2;
    }
    if (rest.length === 0) {
      this.#tail = head;
    } else {
      this.#tail = new Uint8Array(head.length + rest.length);
      this.#tail.set(head);
      this.#tail.set(rest, head.length);
    }
    const ndjson = this.#state[JSON_STATE.MODE] === JSON_MODE.NDJSON;
    const long = this.#tail.length > Math.max(this.#maxRecord, JSON_REJECT_VALUE_LIMIT);
    // A line of nothing but whitespace is blank, not a record, however long it gets.
    if (ndjson && !final && long && this.#tail.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0d)) {
      // The line is too long whatever follows: reject it now, as the kernel would, and skip the rest.
      rejects.push({
        line: this.#state[JSON_STATE.LINE],
        column: null,
        rule: "size",
        value: decoder.decode(this.#tail.subarray(0, JSON_REJECT_VALUE_LIMIT)),
      });
      this.#tail = new Uint8Array(0);
      this.#skipping = true;
    }
    return { batch: batches.length === 1 ? batches[0] : concatBatches(batches), rejects };
  }

  /**
   * Runs the kernel over `head` then `body` (one arena session); returns the bytes consumed and the rows
   * read, and appends the rejects.
   */
  #call(
    head: Uint8Array,
    body: Uint8Array,
    options: { final: boolean; rejects: JsonReject[] },
  ): { consumed: number; batch: Batch } {
    const { final, rejects } = options;
    const core = this.#core;
    core.reset();
    const len = head.length + body.length;
    const fields = this.#fields;
    // Every region is allocated before any view is taken: an allocation may grow (and move) memory.
    const input = core.alloc(len + INPUT_PAD);
    core.view(input, head.length).set(head);
    core.view(input + head.length, body.length).set(body);
    const rowCapacity = this.#countRows(input, len) >>> 0;
    const statePtr = core.alloc(JSON_STATE_SLOTS * 4);
    const keysPtr = core.alloc(this.#keys.length + 8);
    const hashPtr = core.alloc(this.#hash.byteLength);
    const scratch = core.alloc(len + DATA_PAD);
    const colsPtr = core.alloc(Math.max(1, fields.length) * JSON_COLUMN_SLOTS * 4);
    const linesPtr = core.alloc(rowCapacity * 4);
    const rejectsPtr = core.alloc(REJECTS_PER_CALL * JSON_REJECT_SLOTS * 4);
    // A value's decoded bytes never outnumber its bytes in the input, nor do a column's in a call.
    const slots = fields.map((field) =>
      allocColumnSlot(core, field, { code: TYPE_CODES[field.type], rows: rowCapacity, dataCapacity: len })
    );
    core.view(keysPtr, this.#keys.length).set(this.#keys);
    core.view(hashPtr, this.#hash.byteLength).set(new Uint8Array(this.#hash.buffer));
    const desc = core.i32(colsPtr, Math.max(1, fields.length) * JSON_COLUMN_SLOTS);
    desc.fill(0);
    slots.forEach((slot, c) => {
      const d = desc.subarray(c * JSON_COLUMN_SLOTS, (c + 1) * JSON_COLUMN_SLOTS);
      const f = slot.field;
      d[JSON_COLUMN.TYPE] = slot.code;
      d[JSON_COLUMN.PRECISION] = f.type === "decimal" ? f.precision : 0;
      d[JSON_COLUMN.SCALE] = f.type === "decimal" ? f.scale : 0;
      d[JSON_COLUMN.REQUIRED] = this.#required[c] ? 1 : 0;
      d[JSON_COLUMN.KEY_PTR] = keysPtr + this.#keyOffsets[c];
      d[JSON_COLUMN.KEY_LEN] = c + 1 < fields.length
        ? this.#keyOffsets[c + 1] - this.#keyOffsets[c]
        : this.#keys.length - this.#keyOffsets[c];
      d[JSON_COLUMN.VALIDITY] = slot.validity;
      d[JSON_COLUMN.VALUES] = slot.values;
      d[JSON_COLUMN.DATA] = slot.data;
      d[JSON_COLUMN.DATA_CAPACITY] = slot.dataCapacity;
      d[JSON_COLUMN.KEY_LO] = this.#keyWords[c * 2];
      d[JSON_COLUMN.KEY_HI] = this.#keyWords[c * 2 + 1];
      if (slot.code === JSON_TYPE.STRING) core.i32(slot.values, 1)[0] = 0;
    });

    const s = this.#state;
    s[JSON_STATE.COLUMNS] = fields.length;
    s[JSON_STATE.COLUMNS_PTR] = colsPtr;
    s[JSON_STATE.HASH_PTR] = hashPtr;
    s[JSON_STATE.HASH_MASK] = this.#hash.length - 1;
    s[JSON_STATE.SCRATCH_PTR] = scratch;
    s[JSON_STATE.FINAL] = final ? 1 : 0;
    s[JSON_STATE.ROW_CAPACITY] = rowCapacity;
    s[JSON_STATE.ROWS] = 0;
    s[JSON_STATE.LINES_PTR] = linesPtr;
    s[JSON_STATE.REJECTS_PTR] = rejectsPtr;
    s[JSON_STATE.REJECT_CAPACITY] = REJECTS_PER_CALL;
    let offset = 0;
    while (true) {
      s[JSON_STATE.INPUT_PTR] = input + offset;
      s[JSON_STATE.INPUT_LEN] = len - offset;
      s[JSON_STATE.REJECTS] = 0;
      core.i32(statePtr, JSON_STATE_SLOTS).set(s);
      const status = this.#parse(statePtr);
      s.set(core.i32(statePtr, JSON_STATE_SLOTS));
      core.check(status, "json_parse");
      if (status !== KERNEL_STATUS.OK) {
        throw new KernelError(`Kernel json_parse returned an unexpected status: ${status}`, {
          reason: "status",
          status,
        });
      }
      this.#collectRejects(rejectsPtr, input + offset, rejects);
      offset += s[JSON_STATE.CONSUMED];
      const stop = s[JSON_STATE.STOP];
      if (stop === JSON_STOP.END) break;
      if (stop !== JSON_STOP.REJECTS_FULL) {
        throw new KernelError(`Kernel json_parse stopped unexpectedly: stop code ${stop}`, {
          reason: "status",
        });
      }
    }
    return { consumed: offset, batch: readBatch(core, { slots, rows: s[JSON_STATE.ROWS], linesPtr }) };
  }

  #collectRejects(ptr: number, base: number, out: JsonReject[]): void {
    const count = this.#state[JSON_STATE.REJECTS];
    for (const r of readRejects(this.#core, { ptr, count, slots: JSON_REJECT_SLOTS, base })) {
      out.push({
        line: r.line,
        column: r.field < 0 ? null : this.#fields[r.field].name,
        rule: RULE_NAMES[r.rule],
        value: decoder.decode(r.value),
      });
    }
  }
}
