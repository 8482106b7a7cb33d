/**
 * Host side of the CSV parsing kernel (`kernels/assembly/csv.ts`): a streaming parser that turns chunks of
 * CSV bytes into typed columnar {@linkcode Batch}es plus rejected rows. The dialect it reads is described in
 * kernels/README.md.
 *
 * ```ts ignore
 * const parser = kernels.createCsvParser({ columns: [{ name: "id", type: "int64" }] });
 * for await (const chunk of body) handle(parser.push(chunk));
 * handle(parser.finish()); // throws CsvSyntaxError for an unterminated quote
 * ```
 *
 * The parser's state lives on the host, not in an instance: each call copies a small state block in and
 * out, so consecutive chunks of one stream may go to any instance. A call owns the instance's arena for
 * its duration (it resets it first).
 *
 * @module
 */

import { CsvSyntaxError, KernelError } from "../pipeline/errors.ts";
import type { Batch, Field } from "../pipeline/batch.ts";
import type { BufferFreeList } from "../pipeline/bytes.ts";
import {
  allocColumnSlot,
  checkDecimalField,
  type ColumnSlot,
  DATA_PAD,
  emptyBatch,
  readBatch,
  readRejects,
} from "./columns.ts";
import type { KernelCore, KernelFunction } from "./core.ts";
import { KERNEL_STATUS } from "./status.ts";
import {
  type KernelRules,
  type KernelVerdict,
  type PlacedColumn,
  type ValidateKernels,
  validateKernels,
} from "./validate.ts";

/** Layout version of the state block, mirrored from the module's `CSV_ABI_VERSION`. */
export const CSV_ABI_VERSION = 2;

/** State block slots (i32 index), mirrored from the module's `CSV_S_*` exports (checked by a test). */
export const CSV_STATE = Object.freeze(
  {
    ABI: 0,
    DELIMITER: 1,
    QUOTE: 2,
    FLAGS: 3,
    MAX_FIELD: 4,
    MAX_ROW: 5,
    FIELDS: 6,
    COLUMNS: 7,
    COLUMNS_PTR: 8,
    COLUMN_FIELDS_PTR: 9,
    NULLS_PTR: 10,
    NULLS_LEN: 11,
    NULLS_LENGTHS: 12,
    LINE: 13,
    LINE_START: 14,
    STARTED: 15,
    PENDING_CR: 16,
    SKIPPING: 17,
    SKIP_MODE: 18,
    SKIP_PREV_CR: 19,
    QUOTE_LINE: 20,
    QUOTE_COLUMN: 21,
    INPUT_PTR: 22,
    INPUT_LEN: 23,
    FINAL: 24,
    ROW_CAPACITY: 25,
    ROWS: 26,
    LINES_PTR: 27,
    REJECTS_PTR: 28,
    REJECT_CAPACITY: 29,
    REJECTS: 30,
    CONSUMED: 31,
    STOP: 32,
    FULL_COLUMN: 33,
    FULL_NEED: 34,
    ERROR_LINE: 35,
    ERROR_COLUMN: 36,
    FIELD_COUNT: 37,
    INDEX_PTR: 38,
    BATCH_ROWS: 39,
    LEAN_GIVE_UPS: 40,
  } as const,
);

/** Slots in a state block, mirrored from `CSV_STATE_SLOTS`. */
export const CSV_STATE_SLOTS = 48;

/** Column descriptor slots, mirrored from the module's `CSV_C_*` exports. */
export const CSV_COLUMN = Object.freeze(
  {
    TYPE: 0,
    PRECISION: 1,
    SCALE: 2,
    VALIDITY: 3,
    VALUES: 4,
    DATA: 5,
    DATA_CAPACITY: 6,
    DATA_BASE: 7,
  } as const,
);

/** Slots in a column descriptor, mirrored from `CSV_COLUMN_SLOTS`. */
export const CSV_COLUMN_SLOTS = 8;

/** Column type codes, mirrored from the module's `CSV_TYPE_*` exports. */
export const CSV_TYPE = Object.freeze(
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

/** Reject rule codes, mirrored from the module's `CSV_RULE_*` exports. */
export const CSV_RULE = Object.freeze(
  {
    RAGGED: 1,
    TYPE: 2,
    UTF8: 3,
    QUOTE: 4,
    FIELD_SIZE: 5,
    ROW_SIZE: 6,
  } as const,
);

/** Why a call returned, mirrored from the module's `CSV_STOP_*` exports. */
export const CSV_STOP = Object.freeze(
  {
    END: 0,
    DATA_FULL: 2,
    FIELDS_DONE: 3,
    ROWS_FULL: 4,
  } as const,
);

/** Most rows the kernel parses per batch, mirrored from `CSV_MAX_BATCH_ROWS`. */
export const CSV_MAX_BATCH_ROWS = 4096;

/** State flags, mirrored from the module's `CSV_FLAG_*` exports. */
export const CSV_FLAG = Object.freeze(
  { NULL_EMPTY: 1, FIELDS_MODE: 2, TWO_STAGES: 4, FULL_FAST: 8 } as const,
);

/** Slots per reject record, mirrored from `CSV_REJECT_SLOTS`. */
export const CSV_REJECT_SLOTS = 5;

/** Why a row was rejected. */
export type CsvRule = "ragged" | "type" | "utf8" | "quote" | "field_size" | "row_size";

const RULE_NAMES: Record<number, CsvRule> = {
  [CSV_RULE.RAGGED]: "ragged",
  [CSV_RULE.TYPE]: "type",
  [CSV_RULE.UTF8]: "utf8",
  [CSV_RULE.QUOTE]: "quote",
  [CSV_RULE.FIELD_SIZE]: "field_size",
  [CSV_RULE.ROW_SIZE]: "row_size",
};

/** A rejected row: where it starts, which column failed (null for the whole row), why, and the text. */
export interface CsvReject {
  /** 1-based line where the row starts in the input. */
  line: number;
  /** The column whose value failed, or null when the whole row failed (ragged, utf8, row_size). */
  column: string | null;
  /** The rule the row broke. */
  rule: CsvRule;
  /** The offending value as written (quotes removed), or the row for row rules; size rules cut it to 1 KiB. */
  value: string;
}

/** Size limits; a longer field or row rejects its row. */
export interface CsvLimits {
  /** Largest field in bytes, quotes included. Default 1 MiB. */
  fieldBytes?: number;
  /** Largest row in bytes, terminator excluded; also bounds what is carried between chunks. Default 2 MiB. */
  rowBytes?: number;
}

/** Options for {@linkcode createCsvParser}. */
export interface CsvParserOptions {
  /** Field delimiter, one byte (any character below U+0100 other than CR and LF). Default `,`. */
  delimiter?: string;
  /** Quote character, one byte other than CR, LF and the delimiter; `null` turns quoting off. Default `"`. */
  quote?: string | null;
  /** The first non-blank row names the columns. Default true. */
  header?: boolean;
  /**
   * Declared columns. With a header they are matched by name (other fields are dropped; a missing one is
   * an error); without one, by position. Absent: untyped mode, every column a string named by the header
   * (or `column1`, `column2`, …, from the first row's field count).
   */
  columns?: readonly Field[];
  /**
   * Texts read as null. `""` stands for the empty field. Matched against unquoted string fields and against
   * the trimmed text of any typed field. Default `[""]` with `columns`, `[]` in untyped mode.
   */
  nullTokens?: readonly string[];
  /** Size limits. */
  limits?: CsvLimits;
  /**
   * The line the input starts on, for an input that continues another (a chunk of a larger one): rows,
   * rejects and errors then report lines of the whole, with no pass over the rows to shift them. Default 1.
   */
  firstLine?: number;
  /**
   * Validation rules per declared column (same order as `columns`): each call checks its rows with the
   * validation kernels where the parser wrote them, before copying them out, and reports the `verdict`.
   */
  rules?: readonly KernelRules[];
  /**
   * `false` reads every row with the kernel's two stages instead of its one-pass fast path; `"full"` runs the
   * fast path's full variant from the start, which otherwise takes over from its lean one only once that gave
   * up enough rows. The output is the same every way (tests compare them); this only exists for those tests.
   * Default `true`.
   */
  fastPath?: boolean | "full";
  /**
   * Where output batches' buffers come from (see `ReadBatchOptions.buffers`): given-back buffers are reused
   * instead of new ones being zeroed. Default: new buffers.
   */
  buffers?: BufferFreeList;
}

/** What one call produced: the complete rows of the input so far, and the rejected ones. */
export interface CsvChunkResult {
  /** The rows parsed by this call (possibly none). */
  batch: Batch;
  /** Rows rejected by this call, in input order. */
  rejects: CsvReject[];
  /** With `rules`: the rows of `batch` that broke one (see `ValidateKernels.validateColumns`). */
  verdict?: KernelVerdict;
}

/** Options of one {@linkcode CsvParser} call. */
export interface CsvCallOptions {
  /**
   * The rows the call's bytes likely hold, e.g. one more than their line breaks when the caller counted them
   * already (the chunker does): sizes the row buffers without a counting pass over the input. Only a guess:
   * when the rows outnumber it, the buffers grow.
   */
  rows?: number;
}

/**
 * Bytes that write themselves into the parser's memory (e.g. a file range read straight into it), for input
 * that would otherwise be read into a buffer only to be copied into the kernel's memory.
 */
export interface CsvByteSource {
  readonly length: number;
  /** Fills `into` (exactly `length` bytes). */
  read(into: Uint8Array): void;
}

/** A streaming CSV parser for one input. */
export interface CsvParser {
  /**
   * Parses the complete rows of everything pushed so far; an incomplete last row waits for more. Chunks of a
   * few MiB work best; a chunk plus the carried row may not exceed 1 GiB (`RangeError`).
   */
  push(chunk: Uint8Array, options?: CsvCallOptions): CsvChunkResult;
  /**
   * Ends the input, after `last` when given (one call instead of `push(last)` then `finish()`), and parses
   * the last row.
   *
   * @throws {CsvSyntaxError} when the input ends inside a quoted field (line and column of its quote),
   * or the header is malformed or lacks a declared column.
   */
  finish(last?: Uint8Array | CsvByteSource, options?: CsvCallOptions): CsvChunkResult;
  /** The columns, once known (after the header, or at once with declared columns and no header). */
  readonly fields: readonly Field[] | undefined;
  /**
   * The line the parser has reached: `firstLine` plus the line terminators it has read (quoted ones too). A
   * caller that parsed a piece of an input cut after a line break learns from it where the next piece starts.
   */
  readonly line: number;
}

/** The CSV kernel of one instance. */
export interface CsvKernels {
  /** Creates a streaming parser on this instance; see {@linkcode createCsvParser}. */
  createCsvParser(options?: CsvParserOptions): CsvParser;
}

/** Wraps the CSV kernel of `core`. */
export function csvKernels(core: KernelCore): CsvKernels {
  return { createCsvParser: (options) => createCsvParser(core, options) };
}

const DEFAULT_FIELD_BYTES = 1 << 20;
const DEFAULT_ROW_BYTES = 2 << 20;
// Bytes the kernel may read past an input.
const INPUT_PAD = 64;
const HEADER_FIELDS_MAX = 65_536;
// Field bounds are 30-bit in the kernel's index.
const MAX_CALL_INPUT = (1 << 30) - 1024;
// Stage 2 works on a batch of rows whose field index (8 bytes per field) should stay in L2 cache.
const INDEX_BYTES = 256 << 10;

const TYPE_CODES: Record<Field["type"], number> = {
  string: CSV_TYPE.STRING,
  int64: CSV_TYPE.INT64,
  float64: CSV_TYPE.FLOAT64,
  decimal: CSV_TYPE.DECIMAL,
  boolean: CSV_TYPE.BOOLEAN,
  date: CSV_TYPE.DATE,
  timestamp: CSV_TYPE.TIMESTAMP,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function oneByte(text: string, what: string): number {
  if (text.length !== 1 || text.charCodeAt(0) > 255) {
    throw new RangeError(`The ${what} must be one byte: ${text}`);
  }
  const b = text.charCodeAt(0);
  if (b === 10 || b === 13) throw new RangeError(`The ${what} cannot be CR or LF`);
  return b;
}

/**
 * Creates a streaming CSV parser that runs on the kernel instance `core`.
 *
 * @throws {RangeError} for a delimiter, quote, limit or decimal type that cannot be used.
 */
export function createCsvParser(core: KernelCore, options: CsvParserOptions = {}): CsvParser {
  return new CsvStreamParser(core, options);
}

class CsvStreamParser implements CsvParser {
  #core: KernelCore;
  #parse: KernelFunction;
  #countBreaks: KernelFunction;
  #state = new Int32Array(CSV_STATE_SLOTS);
  #declared: readonly Field[] | undefined;
  #header: boolean;
  #quote: number;
  #nullTokens: Uint8Array;
  #nullEmpty: boolean;
  #nullLengths: number;
  #maxRow: number;
  #fastPath: boolean | "full";
  /** Resolved once the header (or the first row in untyped mode) is known. */
  #fields: Field[] | undefined;
  /** Per input field: the output column, or -1. */
  #fieldMap: Int32Array | undefined;
  /** Per input field: the name used in rejects. */
  #fieldNames: string[] = [];
  #tail: Uint8Array = new Uint8Array(0);
  #finished = false;
  /** Share of input bytes each string column took last time, to size its data region. */
  #dataShare = new Map<number, number>();
  /** Input bytes per row (rejected ones included) last time, to size the row buffers; 0 before any row. */
  #rowBytes = 0;
  #empty: Batch | undefined;
  #rules: readonly KernelRules[] | undefined;
  #validate: ValidateKernels | undefined;
  #buffers: BufferFreeList | undefined;

  constructor(core: KernelCore, options: CsvParserOptions) {
    this.#core = core;
    this.#parse = core.fn("csv_parse");
    this.#countBreaks = core.fn("csv_count_breaks");
    const delimiter = oneByte(options.delimiter ?? ",", "delimiter");
    this.#quote = options.quote === null ? 256 : oneByte(options.quote ?? '"', "quote");
    if (delimiter === this.#quote) throw new RangeError("The delimiter and the quote must differ");
    this.#header = options.header ?? true;
    this.#fastPath = options.fastPath ?? true;
    this.#buffers = options.buffers;
    this.#declared = options.columns;
    for (const f of this.#declared ?? []) checkDecimalField(f);
    if (options.rules) {
      if (options.rules.length !== this.#declared?.length) {
        throw new RangeError("CSV parser rules need one entry per declared column");
      }
      this.#rules = options.rules;
      this.#validate = validateKernels(core);
    }
    const tokens = options.nullTokens ?? (this.#declared ? [""] : []);
    this.#nullEmpty = tokens.includes("");
    const encoded = tokens.filter((t) => t !== "").map((t) => encoder.encode(t));
    this.#nullTokens = new Uint8Array(encoded.reduce((n, t) => n + 1 + t.length, 0));
    this.#nullLengths = 0;
    let at = 0;
    for (const t of encoded) {
      if (t.length > 31) throw new RangeError(`A null token is at most 31 bytes: ${decoder.decode(t)}`);
      this.#nullTokens[at] = t.length;
      this.#nullTokens.set(t, at + 1);
      at += 1 + t.length;
      this.#nullLengths |= 1 << t.length;
    }
    const fieldBytes = options.limits?.fieldBytes ?? DEFAULT_FIELD_BYTES;
    this.#maxRow = options.limits?.rowBytes ?? DEFAULT_ROW_BYTES;
    for (const n of [fieldBytes, this.#maxRow]) {
      if (!Number.isInteger(n) || n < 1 || n > 0x7fff_0000) {
        throw new RangeError(`A size limit must be 1..2^31: ${n}`);
      }
    }
    const s = this.#state;
    s[CSV_STATE.ABI] = CSV_ABI_VERSION;
    s[CSV_STATE.DELIMITER] = delimiter;
    s[CSV_STATE.QUOTE] = this.#quote;
    s[CSV_STATE.MAX_FIELD] = fieldBytes;
    s[CSV_STATE.MAX_ROW] = this.#maxRow;
    const firstLine = options.firstLine ?? 1;
    if (!Number.isSafeInteger(firstLine) || firstLine < 1 || firstLine > 0x7fff_ffff) {
      throw new RangeError(`The first line must be 1..2^31 - 1: ${firstLine}`);
    }
    s[CSV_STATE.LINE] = firstLine;
    if (this.#declared && !this.#header) {
      this.#resolve(this.#declared.map((f) => f.name), 1);
    }
  }

  get fields(): readonly Field[] | undefined {
    return this.#fields;
  }

  get line(): number {
    return this.#state[CSV_STATE.LINE];
  }

  push(chunk: Uint8Array, options?: CsvCallOptions): CsvChunkResult {
    this.#accept(chunk, options);
    return this.#run(chunk, false, options?.rows);
  }

  finish(last: Uint8Array | CsvByteSource = new Uint8Array(0), options?: CsvCallOptions): CsvChunkResult {
    this.#accept(last, options);
    this.#finished = true;
    return this.#run(last, true, options?.rows);
  }

  #accept(chunk: Uint8Array | CsvByteSource, options: CsvCallOptions | undefined): void {
    if (this.#finished) throw new KernelError("CSV parser is finished", { reason: "closed" });
    if (this.#tail.length + chunk.length > MAX_CALL_INPUT) {
      throw new RangeError(`A CSV chunk is at most ${MAX_CALL_INPUT} bytes: ${chunk.length}`);
    }
    const rows = options?.rows;
    if (rows !== undefined && !(Number.isSafeInteger(rows) && rows >= 0)) {
      throw new RangeError(`A row estimate must be a whole number of rows: ${rows}`);
    }
  }

  /** Fixes the columns from the header names (or the first row's field count). */
  #resolve(names: string[], line: number): void {
    const declared = this.#declared;
    // A header that ends with a delimiter names one empty extra field: the rows' trailing delimiter.
    if (names.length > 1 && names[names.length - 1] === "") names = names.slice(0, -1);
    if (declared) {
      const map = new Int32Array(names.length).fill(-1);
      const index = new Map(declared.map((f, i) => [f.name, i]));
      const seen = new Set<number>();
      names.forEach((n, i) => {
        const c = index.get(n);
        if (c !== undefined && !seen.has(c)) {
          map[i] = c;
          seen.add(c);
        }
      });
      const missing = declared.filter((_, i) => !seen.has(i)).map((f) => f.name);
      if (missing.length > 0) {
        throw new CsvSyntaxError(`CSV header lacks declared columns: ${missing.join(", ")}`, {
          line,
          column: 1,
        });
      }
      this.#fields = [...declared];
      this.#fieldMap = map;
      this.#fieldNames = names;
      return;
    }
    const used = new Set<string>();
    this.#fields = names.map((raw, i) => {
      let name = raw === "" ? `column${i + 1}` : raw;
      // Column names key the batch's columns, so a repeated header name gets a suffix.
      for (let k = 2; used.has(name); k++) name = `${raw}_${k}`;
      used.add(name);
      return { name, type: "string" } as Field;
    });
    this.#fieldMap = Int32Array.from(names, (_, i) => i);
    this.#fieldNames = this.#fields.map((f) => f.name);
  }

  #run(chunk: Uint8Array | CsvByteSource, final: boolean, rowsHint: number | undefined): CsvChunkResult {
    const core = this.#core;
    core.reset();
    const len = this.#tail.length + chunk.length;
    const input = core.alloc(len + INPUT_PAD);
    const statePtr = core.alloc(CSV_STATE_SLOTS * 4);
    {
      const view = core.view(input, len);
      view.set(this.#tail);
      if (chunk instanceof Uint8Array) view.set(chunk, this.#tail.length);
      else chunk.read(view.subarray(this.#tail.length));
    }
    let offset = 0;
    const rejects: CsvReject[] = [];
    const s = this.#state;
    s[CSV_STATE.FINAL] = final ? 1 : 0;

    if (!this.#fieldMap) {
      const header = this.#readFirstRow(input, len, statePtr);
      if (header === undefined) {
        // The first row is not complete yet: keep everything for the next call.
        if (!final) this.#keepTail(input + offset, len - offset);
        return { batch: this.#emptyBatch(), rejects };
      }
      offset = header;
    }

    const fields = this.#fields!;
    const map = this.#fieldMap!;
    const rest = len - offset;
    let rowCapacity = this.#rowCapacity(input + offset, rest, rowsHint);
    // Every region is allocated before any view is taken: an allocation may grow (and move) memory.
    const columnFields = new Int32Array(fields.length);
    map.forEach((c, f) => {
      if (c >= 0) columnFields[c] = f;
    });
    const batchRows = Math.max(1, Math.min(CSV_MAX_BATCH_ROWS, Math.floor(INDEX_BYTES / (8 * map.length))));
    const indexPtr = core.alloc(batchRows * map.length * 8);
    const mapPtr = core.alloc(Math.max(1, fields.length) * 4);
    const nullsPtr = core.alloc(Math.max(1, this.#nullTokens.length));
    const colsPtr = core.alloc(Math.max(1, fields.length) * CSV_COLUMN_SLOTS * 4);
    let linesPtr = core.alloc(rowCapacity * 4);
    // A row is rejected at most once, so this many records suffice whenever the rows fit.
    let rejectsPtr = core.alloc(rowCapacity * CSV_REJECT_SLOTS * 4);
    const strings = fields.filter((f) => f.type === "string").length;
    const slots = fields.map((field, c) =>
      allocColumnSlot(core, field, {
        code: TYPE_CODES[field.type],
        rows: rowCapacity,
        dataCapacity: field.type === "string" ? this.#dataCapacity(c, rest, strings) : 0,
      })
    );
    core.view(mapPtr, columnFields.byteLength).set(new Uint8Array(columnFields.buffer));
    core.view(nullsPtr, this.#nullTokens.length).set(this.#nullTokens);
    for (const slot of slots) {
      core.view(slot.validity, (rowCapacity + 7) >> 3).fill(0xff);
      if (slot.code === CSV_TYPE.BOOLEAN) core.view(slot.values, (rowCapacity + 7) >> 3).fill(0);
      if (slot.code === CSV_TYPE.STRING) core.i32(slot.values, 1)[0] = 0;
    }
    this.#writeColumns(colsPtr, slots);

    s[CSV_STATE.FLAGS] = (this.#nullEmpty ? CSV_FLAG.NULL_EMPTY : 0) |
      (this.#fastPath === false ? CSV_FLAG.TWO_STAGES : this.#fastPath === "full" ? CSV_FLAG.FULL_FAST : 0);
    s[CSV_STATE.FIELDS] = map.length;
    s[CSV_STATE.COLUMNS] = fields.length;
    s[CSV_STATE.COLUMNS_PTR] = colsPtr;
    s[CSV_STATE.COLUMN_FIELDS_PTR] = mapPtr;
    s[CSV_STATE.INDEX_PTR] = indexPtr;
    s[CSV_STATE.BATCH_ROWS] = batchRows;
    s[CSV_STATE.NULLS_PTR] = nullsPtr;
    s[CSV_STATE.NULLS_LEN] = this.#nullTokens.length;
    s[CSV_STATE.NULLS_LENGTHS] = this.#nullLengths;
    s[CSV_STATE.ROW_CAPACITY] = rowCapacity;
    s[CSV_STATE.ROWS] = 0;
    s[CSV_STATE.LINES_PTR] = linesPtr;
    s[CSV_STATE.REJECTS_PTR] = rejectsPtr;
    s[CSV_STATE.REJECT_CAPACITY] = rowCapacity;

    while (true) {
      s[CSV_STATE.INPUT_PTR] = input + offset;
      s[CSV_STATE.INPUT_LEN] = len - offset;
      s[CSV_STATE.REJECTS] = 0;
      const status = this.#call(statePtr);
      this.#collectRejects(rejectsPtr, input + offset, rejects);
      offset += s[CSV_STATE.CONSUMED];
      if (status === KERNEL_STATUS.UNTERMINATED_QUOTE) {
        throw new CsvSyntaxError(
          `CSV input ends inside a quoted field: the quote opened at line ${
            s[CSV_STATE.ERROR_LINE]
          }, column ${s[CSV_STATE.ERROR_COLUMN]} is never closed`,
          { line: s[CSV_STATE.ERROR_LINE], column: s[CSV_STATE.ERROR_COLUMN] },
        );
      }
      const stop = s[CSV_STATE.STOP];
      if (stop === CSV_STOP.END) break;
      if (stop === CSV_STOP.DATA_FULL) {
        const slot = slots[s[CSV_STATE.FULL_COLUMN]];
        this.#drain(slot, s[CSV_STATE.ROWS], Math.max(s[CSV_STATE.FULL_NEED], 1));
        // Growing may have moved memory; the descriptors hold pointers, not views, so only they change.
        this.#writeColumns(colsPtr, slots);
        continue;
      }
      if (stop === CSV_STOP.ROWS_FULL) {
        // A row takes at least one byte, so rest + 1 rows always fit: stopping then is a kernel bug.
        if (rowCapacity > rest) {
          throw new KernelError("CSV kernel stopped for room it already had", { reason: "status" });
        }
        // Doubling keeps the number of stops per call logarithmic.
        rowCapacity = Math.min(rest + 1, rowCapacity * 2);
        linesPtr = this.#growRows(slots, linesPtr, s[CSV_STATE.ROWS], rowCapacity);
        rejectsPtr = core.alloc(rowCapacity * CSV_REJECT_SLOTS * 4);
        this.#writeColumns(colsPtr, slots);
        s[CSV_STATE.ROW_CAPACITY] = rowCapacity;
        s[CSV_STATE.LINES_PTR] = linesPtr;
        s[CSV_STATE.REJECTS_PTR] = rejectsPtr;
        s[CSV_STATE.REJECT_CAPACITY] = rowCapacity;
        continue;
      }
      throw new KernelError(`CSV kernel stopped unexpectedly: stop code ${stop}`, { reason: "status" });
    }

    // Rows with a bad value are rejected after the structural checks of their batch: put them in order.
    rejects.sort((a, b) => a.line - b.line);
    const rows = s[CSV_STATE.ROWS];
    const ended = rows + rejects.length;
    if (ended > 0) this.#rowBytes = (offset - (len - rest)) / ended;
    if (final) {
      this.#tail = new Uint8Array(0);
    } else {
      this.#keepTail(input + offset, len - offset);
    }
    // Validation reads the rows where the kernel wrote them; only then are they copied out.
    const verdict = this.#rules && rows > 0
      ? this.#validate!.validatePlaced(this.#placed(slots, rows), this.#rules, rows)
      : undefined;
    const batch = this.#batch(slots, rows, linesPtr, rest);
    return verdict ? { batch, rejects, verdict } : { batch, rejects };
  }

  /** The output columns as the validation kernels read them; drained string data is joined back first. */
  #placed(slots: ColumnSlot[], rows: number): PlacedColumn[] {
    const core = this.#core;
    return slots.map((slot) => {
      const placed = { validity: slot.validity, values: slot.values, offsets: 0, data: 0 };
      switch (slot.code) {
        case CSV_TYPE.STRING: {
          let data = slot.data - slot.dataBase;
          if (slot.parts.length > 0) {
            const end = core.i32(slot.values, rows + 1)[rows];
            data = core.alloc(end + DATA_PAD);
            let at = 0;
            for (const part of slot.parts) {
              core.view(data + at, part.length).set(part);
              at += part.length;
            }
            core.view(data + at, end - at).set(core.view(slot.data, end - at));
          }
          return { ...placed, kind: "utf8", values: 0, offsets: slot.values, data };
        }
        case CSV_TYPE.FLOAT64:
          return { ...placed, kind: "f64" };
        case CSV_TYPE.DATE:
          return { ...placed, kind: "i32" };
        case CSV_TYPE.BOOLEAN:
          return { ...placed, kind: "bool", values: 0 };
        default:
          return { ...placed, kind: "i64" };
      }
    });
  }

  /**
   * Parses the first non-blank row as a list of names (fields mode). With a header the row is consumed;
   * in untyped mode without a header only its field count is used and the state is put back. Returns the
   * input offset where data rows start, or undefined when the row is not complete yet.
   */
  #readFirstRow(input: number, len: number, statePtr: number): number | undefined {
    const core = this.#core;
    const s = this.#state;
    const saved = s.slice();
    const cap = Math.min(HEADER_FIELDS_MAX, len + 1);
    const offsets = core.alloc((cap + 1) * 4);
    const data = core.alloc(len + DATA_PAD);
    const cols = core.alloc(CSV_COLUMN_SLOTS * 4);
    const rejectsPtr = core.alloc(CSV_REJECT_SLOTS * 4);
    const indexPtr = core.alloc(cap * 8);
    const desc = this.#core.i32(cols, CSV_COLUMN_SLOTS);
    desc.fill(0);
    desc[CSV_COLUMN.TYPE] = CSV_TYPE.STRING;
    desc[CSV_COLUMN.VALUES] = offsets;
    desc[CSV_COLUMN.DATA] = data;
    desc[CSV_COLUMN.DATA_CAPACITY] = len;
    this.#core.i32(offsets, 1)[0] = 0;
    s[CSV_STATE.FLAGS] = CSV_FLAG.FIELDS_MODE;
    s[CSV_STATE.FIELDS] = 0;
    s[CSV_STATE.COLUMNS] = 1;
    s[CSV_STATE.COLUMNS_PTR] = cols;
    s[CSV_STATE.INPUT_PTR] = input;
    s[CSV_STATE.INPUT_LEN] = len;
    s[CSV_STATE.ROW_CAPACITY] = cap;
    s[CSV_STATE.ROWS] = 0;
    s[CSV_STATE.LINES_PTR] = 0;
    s[CSV_STATE.REJECTS_PTR] = rejectsPtr;
    s[CSV_STATE.REJECT_CAPACITY] = 1;
    s[CSV_STATE.REJECTS] = 0;
    s[CSV_STATE.INDEX_PTR] = indexPtr;
    s[CSV_STATE.BATCH_ROWS] = 1;
    const status = this.#call(statePtr);
    if (status === KERNEL_STATUS.UNTERMINATED_QUOTE) {
      throw new CsvSyntaxError(
        `CSV input ends inside a quoted field: the quote opened at line ${s[CSV_STATE.ERROR_LINE]}, column ${
          s[CSV_STATE.ERROR_COLUMN]
        } is never closed`,
        { line: s[CSV_STATE.ERROR_LINE], column: s[CSV_STATE.ERROR_COLUMN] },
      );
    }
    // The first row sets the columns, so it may not be cut short: too long a first row is an error,
    // found as soon as it is known, whatever the chunking.
    const tooLong = () =>
      new CsvSyntaxError(
        `CSV ${this.#header ? "header" : "first row"} is longer than the row limit: ${this.#maxRow} bytes`,
        { line: s[CSV_STATE.ERROR_LINE], column: 1 },
      );
    if (s[CSV_STATE.STOP] !== CSV_STOP.FIELDS_DONE) {
      if (len - s[CSV_STATE.CONSUMED] > this.#maxRow) {
        s[CSV_STATE.ERROR_LINE] = s[CSV_STATE.LINE];
        throw tooLong();
      }
      // Nothing but blank lines (or a partial byte-order mark) was consumed; keep them for the next call.
      s.set(saved);
      if (s[CSV_STATE.FINAL] === 1) {
        this.#fields ??= this.#declared ? [...this.#declared] : [];
        this.#fieldMap ??= new Int32Array(0);
      }
      return undefined;
    }
    const headerLine = s[CSV_STATE.ERROR_LINE];
    const count = s[CSV_STATE.FIELD_COUNT];
    if (count > cap) {
      throw new CsvSyntaxError(`CSV header has too many fields: ${count}`, { line: headerLine, column: 1 });
    }
    if (s[CSV_STATE.REJECTS] > 0) {
      const r = this.#core.i32(rejectsPtr, CSV_REJECT_SLOTS);
      const rule = RULE_NAMES[r[2]];
      if (rule === "row_size") throw tooLong();
      // Without a header the row is data and is judged again like any other; only its width counts here.
      if (this.#header) {
        throw new CsvSyntaxError(`CSV header is malformed: ${rule} at line ${r[0]}`, {
          line: r[0],
          column: 1,
        });
      }
    }
    const offs = this.#core.i32(offsets, count + 1).slice();
    const bytes = core.view(data, offs[count]).slice();
    const names = Array.from(
      { length: count },
      (_, i) => decoder.decode(bytes.subarray(offs[i], offs[i + 1])),
    );
    if (this.#header) {
      this.#resolve(names, headerLine);
      return s[CSV_STATE.CONSUMED];
    }
    // Untyped without a header: the row is data, parsed again from the start; only its width was wanted.
    s.set(saved);
    this.#resolve(names.map((_, i) => `column${i + 1}`), headerLine);
    return 0;
  }

  #call(statePtr: number): number {
    const s = this.#state;
    this.#core.i32(statePtr, CSV_STATE_SLOTS).set(s);
    let raw: number;
    try {
      raw = this.#parse(statePtr);
    } catch (error) {
      // A trap is a kernel bug; this parser's state can no longer be trusted, and neither can the instance.
      this.#finished = true;
      if (error instanceof WebAssembly.RuntimeError) {
        throw new KernelError("CSV kernel trapped", { reason: "trap", cause: error });
      }
      throw error;
    }
    const status = this.#core.check(raw, "csv_parse");
    s.set(this.#core.i32(statePtr, CSV_STATE_SLOTS));
    return status;
  }

  #writeColumns(ptr: number, slots: ColumnSlot[]): void {
    const desc = this.#core.i32(ptr, Math.max(1, slots.length) * CSV_COLUMN_SLOTS);
    slots.forEach((slot, i) => {
      const d = desc.subarray(i * CSV_COLUMN_SLOTS, (i + 1) * CSV_COLUMN_SLOTS);
      const f = slot.field;
      d[CSV_COLUMN.TYPE] = slot.code;
      d[CSV_COLUMN.PRECISION] = f.type === "decimal" ? f.precision : 0;
      d[CSV_COLUMN.SCALE] = f.type === "decimal" ? f.scale : 0;
      d[CSV_COLUMN.VALIDITY] = slot.validity;
      d[CSV_COLUMN.VALUES] = slot.values;
      d[CSV_COLUMN.DATA] = slot.data;
      d[CSV_COLUMN.DATA_CAPACITY] = slot.dataCapacity;
      d[CSV_COLUMN.DATA_BASE] = slot.dataBase;
    });
  }

  /**
   * Row buffer room for `rest` input bytes at `ptr`: the caller's estimate, else the rows the last call's
   * bytes per row predict, with slack (the kernel stops when they run out, and the buffers grow). With
   * nothing known, an exact bound: one more than the line breaks.
   */
  #rowCapacity(ptr: number, rest: number, hint: number | undefined): number {
    if (hint !== undefined) return Math.max(1, Math.min(rest + 1, hint));
    if (this.#rowBytes === 0) return this.#countBreaks(ptr, rest) >>> 0;
    return Math.min(rest + 1, Math.ceil((rest / this.#rowBytes) * 1.125) + 64);
  }

  /**
   * Moves the first `rows` rows of every column and their lines into buffers for `capacity` rows (the
   * string data stays where it is); returns the new lines pointer. The rest is filled as the host fills
   * fresh buffers.
   */
  #growRows(slots: ColumnSlot[], linesPtr: number, rows: number, capacity: number): number {
    const core = this.#core;
    const lines = core.alloc(capacity * 4);
    core.view(lines, rows * 4).set(core.view(linesPtr, rows * 4));
    const used = (rows + 7) >> 3;
    for (const slot of slots) {
      const grown = allocColumnSlot(core, slot.field, { code: slot.code, rows: capacity, dataCapacity: 0 });
      // Views are taken after the allocations: each may have moved memory.
      const bitmap = (capacity + 7) >> 3;
      core.view(grown.validity, bitmap).fill(0xff).set(core.view(slot.validity, used));
      const valueBytes = slot.code === CSV_TYPE.BOOLEAN
        ? used
        : slot.code === CSV_TYPE.STRING
        ? (rows + 1) * 4
        : rows * (slot.code === CSV_TYPE.DATE ? 4 : 8);
      if (slot.code === CSV_TYPE.BOOLEAN) core.view(grown.values, bitmap).fill(0);
      core.view(grown.values, valueBytes).set(core.view(slot.values, valueBytes));
      slot.validity = grown.validity;
      slot.values = grown.values;
    }
    return lines;
  }

  /** Initial string data room for column `c`: its share of the last input, with slack, within the input. */
  #dataCapacity(c: number, inputLen: number, strings: number): number {
    const share = this.#dataShare.get(c) ?? 2 / strings;
    return Math.min(inputLen, Math.ceil(inputLen * share * 1.25) + 4096);
  }

  /** Moves a full column's string data out of the arena and makes room for at least `need` more bytes. */
  #drain(slot: ColumnSlot, rows: number, need: number): void {
    const end = this.#core.i32(slot.values, rows + 1)[rows];
    const used = end - slot.dataBase;
    if (used > 0) slot.parts.push(this.#core.view(slot.data, used).slice());
    slot.dataBase = end;
    // Doubling keeps the number of drains per call logarithmic; the old region is garbage until reset.
    slot.dataCapacity = Math.max(slot.dataCapacity * 2, need);
    slot.data = this.#core.alloc(slot.dataCapacity + DATA_PAD);
  }

  #collectRejects(ptr: number, base: number, out: CsvReject[]): void {
    const count = this.#state[CSV_STATE.REJECTS];
    for (const r of readRejects(this.#core, { ptr, count, slots: CSV_REJECT_SLOTS, base })) {
      const rule = RULE_NAMES[r.rule];
      let value = decoder.decode(r.value);
      // A type error inside a quoted field reports its content: undo the doubled quotes.
      if (rule === "type" && r.offset > 0 && this.#core.view(base + r.offset - 1, 1)[0] === this.#quote) {
        const q = String.fromCharCode(this.#quote);
        value = value.replaceAll(q + q, q);
      }
      const column = r.field < 0 ? null : this.#columnName(r.field);
      out.push({ line: r.line, column, rule, value });
    }
  }

  #columnName(field: number): string {
    const map = this.#fieldMap;
    if (map && field < map.length && map[field] >= 0) return this.#fields![map[field]].name;
    return this.#fieldNames[field] ?? `column${field + 1}`;
  }

  #keepTail(ptr: number, length: number): void {
    this.#tail = this.#core.view(ptr, length).slice();
  }

  #emptyBatch(): Batch {
    // Most calls on small chunks end no row; their batches share zero-length buffers, which nothing can
    // write to, and transferring (detaching) one leaves the others just as empty.
    const fields = this.#fields ?? this.#declared ?? [];
    if (this.#empty?.schema.fields !== fields) this.#empty = emptyBatch(fields);
    return this.#empty;
  }

  /** Copies the outputs of `rows` rows out of the arena, and notes each string column's share of the input. */
  #batch(slots: ColumnSlot[], rows: number, linesPtr: number, inputLen: number): Batch {
    if (rows === 0) return this.#emptyBatch();
    const batch = readBatch(this.#core, { slots, rows, linesPtr }, { buffers: this.#buffers });
    if (inputLen > 0) {
      slots.forEach((slot, c) => {
        if (slot.code !== CSV_TYPE.STRING) return;
        const total = this.#core.i32(slot.values, rows + 1)[rows];
        this.#dataShare.set(c, Math.max(total / inputLen, 1 / 64));
      });
    }
    return batch;
  }
}
