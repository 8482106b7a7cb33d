/**
 * Host side of the CSV record-boundary scanner (`kernels/assembly/records.ts`): the state a stream
 * carries between chunks, and the typed wrappers. The rules for where records end are in
 * kernels/README.md.
 *
 * @module
 */

import type { KernelCore } from "./core.ts";

/** State block layout, mirrored from the module's `SCAN_STATE_*` exports (checked by a test). */
export const SCAN_STATE = Object.freeze(
  {
    CONSUMED: 0,
    RECORD_START: 8,
    RECORDS: 16,
    LINES: 24,
    MODE: 32,
    FLAGS: 36,
    LAST_BYTE: 40,
    CHUNK_RECORDS: 44,
    CUT: 48,
    SIZE: 64,
  } as const,
);

/** Quote modes, mirrored from the module's `SCAN_MODE_*` exports. */
export const SCAN_MODE = Object.freeze({ UNQUOTED: 0, QUOTED: 1, QUOTE_IN_QUOTED: 2 } as const);

/** State flags, mirrored from the module's `SCAN_FLAG_*` exports. */
export const SCAN_FLAG = Object.freeze({ PENDING_CR: 1, FINISHED: 2, SAW_CR: 4 } as const);

/** The largest chunk one call takes: cut offsets are 32-bit signed in the state block. */
export const MAX_SCAN_CHUNK = 0x7fff_ffff;

/**
 * Bytes `scanRecords` moves through linear memory at a time: small enough that each piece is still in
 * cache when it is scanned and copied out, so the input is read from main memory once.
 */
export const SCAN_PIECE_BYTES = 64 << 10;

/** Options for {@linkcode RecordScanState}. */
export interface RecordScanOptions {
  /** Field delimiter, one ASCII character other than CR and LF. Default `,`. */
  delimiter?: string;
  /** Quote character, one ASCII character other than CR, LF and the delimiter. Default `"`. */
  quote?: string;
}

/**
 * Where one CSV stream stands between chunks. It lives on the host, not in an instance, so the chunks
 * of a stream may be scanned by any instance or worker, one after another.
 */
export class RecordScanState {
  /** Delimiter byte. */
  readonly delimiter: number;
  /** Quote byte. */
  readonly quote: number;
  #block = new Uint8Array(SCAN_STATE.SIZE);
  #view = new DataView(this.#block.buffer);

  /** A fresh stream; throws a `RangeError` for a delimiter or quote that cannot be used. */
  constructor(options: RecordScanOptions = {}) {
    this.delimiter = asciiByte(options.delimiter ?? ",", "delimiter");
    this.quote = asciiByte(options.quote ?? '"', "quote");
    if (this.delimiter === this.quote) throw new RangeError("Delimiter and quote must differ");
  }

  /** Bytes scanned so far. */
  get consumed(): number {
    return Number(this.#view.getBigUint64(SCAN_STATE.CONSUMED, true));
  }

  /** Stream offset where the record in progress starts; equals `consumed` between records. */
  get recordStart(): number {
    return Number(this.#view.getBigUint64(SCAN_STATE.RECORD_START, true));
  }

  /** Complete records so far (empty lines are not records). */
  get records(): number {
    return Number(this.#view.getBigUint64(SCAN_STATE.RECORDS, true));
  }

  /** Line terminators so far, inside quoted fields too; a 1-based line number is `lines + 1`. */
  get lines(): number {
    return Number(this.#view.getBigUint64(SCAN_STATE.LINES, true));
  }

  /** Whether the stream is inside a quoted field. */
  get inQuotes(): boolean {
    return this.#view.getUint32(SCAN_STATE.MODE, true) === SCAN_MODE.QUOTED;
  }

  /** Whether the stream was finished. */
  get finished(): boolean {
    return (this.#view.getUint32(SCAN_STATE.FLAGS, true) & SCAN_FLAG.FINISHED) !== 0;
  }

  /** A copy of the state block, to carry the stream to another worker. */
  toBlock(): Uint8Array {
    return this.#block.slice();
  }

  /** Replaces the state with a block from {@linkcode RecordScanState.toBlock} or a kernel. */
  setBlock(block: Uint8Array): void {
    if (block.byteLength !== SCAN_STATE.SIZE) {
      throw new RangeError(`Scan state block must be ${SCAN_STATE.SIZE} bytes: got ${block.byteLength}`);
    }
    this.#block.set(block);
  }
}

/** What one scan call found. */
export interface RecordScan {
  /** `0`, or `1` (`UNTERMINATED_QUOTE`) when a finished stream ended inside a quoted field. */
  status: number;
  /** Records that ended in this chunk (for a finish: the last record, if one was pending). */
  records: number;
  /**
   * Offset in this chunk just past its last record boundary, or `null` when no boundary fell in it.
   * Bytes before the cut (with those carried from earlier chunks) are whole records. For a finish,
   * `0` means the carried bytes form a last record.
   */
  cut: number | null;
}

/** The record scanner bound to one instance. */
export interface RecordKernels {
  /**
   * Scans the next chunk of the stream that `state` tracks, and advances `state`. With `copyTo`, also copies
   * `chunk` to the start of `copyTo` on the way (it passes through linear memory anyway, a piece at a time):
   * one read of the input instead of two.
   */
  scanRecords(state: RecordScanState, chunk: Uint8Array, options?: { copyTo?: Uint8Array }): RecordScan;
  /** Ends the stream: reports a last record without a terminator, or a pending CR. */
  finishRecords(state: RecordScanState): RecordScan;
}

/** Binds the record scanner to an instance. */
export function recordKernels(core: KernelCore): RecordKernels {
  const scan = core.fn("scan_records");
  const finish = core.fn("finish_records");
  const result = (state: number, status: number): RecordScan => {
    const block = core.view(state, SCAN_STATE.SIZE);
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    const cut = view.getInt32(SCAN_STATE.CUT, true);
    return { status, records: view.getUint32(SCAN_STATE.CHUNK_RECORDS, true), cut: cut < 0 ? null : cut };
  };
  return {
    scanRecords(state, chunk, options = {}) {
      const copyTo = options.copyTo;
      if (chunk.byteLength > MAX_SCAN_CHUNK) {
        throw new RangeError(`Chunk is too large to scan: ${chunk.byteLength} bytes`);
      }
      if (copyTo && chunk.byteLength > copyTo.byteLength) {
        throw new RangeError(`No room to copy ${chunk.byteLength} bytes into ${copyTo.byteLength}`);
      }
      core.reset();
      const block = core.write(state.toBlock());
      const piece = Math.min(chunk.byteLength, SCAN_PIECE_BYTES);
      const data = core.alloc(Math.max(piece, 1));
      // No allocation from here on, so these views stay valid.
      const blockView = core.view(block, SCAN_STATE.SIZE);
      const view = new DataView(blockView.buffer, blockView.byteOffset, blockView.byteLength);
      const pieceView = core.view(data, piece);
      let records = 0;
      let cut = -1;
      // At least one call, so that an empty chunk still settles a pending CR like any other.
      let at = 0;
      do {
        const bytes = chunk.subarray(at, at + piece);
        const inMemory = bytes.byteLength === piece ? pieceView : pieceView.subarray(0, bytes.byteLength);
        inMemory.set(bytes);
        core.check(scan(block, data, bytes.byteLength, state.delimiter, state.quote), "scan_records");
        copyTo?.set(inMemory, at);
        records += view.getUint32(SCAN_STATE.CHUNK_RECORDS, true);
        const found = view.getInt32(SCAN_STATE.CUT, true);
        if (found >= 0) cut = at + found;
        at += piece;
      } while (at < chunk.byteLength);
      state.setBlock(blockView);
      return { status: 0, records, cut: cut < 0 ? null : cut };
    },
    finishRecords(state) {
      core.reset();
      const block = core.write(state.toBlock());
      const status = core.check(finish(block), "finish_records");
      state.setBlock(core.view(block, SCAN_STATE.SIZE));
      return result(block, status);
    },
  };
}

function asciiByte(value: string, what: string): number {
  const code = value.length === 1 ? value.charCodeAt(0) : -1;
  if (code < 0 || code > 0x7f || code === 0x0a || code === 0x0d) {
    throw new RangeError(
      `The ${what} must be one ASCII character other than CR and LF: got ${JSON.stringify(value)}`,
    );
  }
  return code;
}
