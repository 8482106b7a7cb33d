/**
 * Parsing a CSV file in byte ranges that the workers read themselves, so that the main thread neither scans
 * nor copies the data (DuckDB's way of splitting a file for its threads).
 *
 * A cut is placed by a local guess: the end of the first line ending at or after the target offset whose own
 * bytes hold an even number of quote bytes. Only a small window around each target is read. The guess can be
 * wrong (a quoted field spanning lines, some of which hold an even number of quotes), and the parse checks it:
 * a chunk parsed from a true record start that ends inside a quoted field (the parser's `CsvSyntaxError`)
 * proves the cut after it wrong, and then the chunk and the next one are parsed as one. Chunk 0 starts at 0,
 * so taking results in order proves every cut; a genuine unterminated quote can only be in the last chunk.
 *
 * @module
 */
const LF = 0x0a;

/** Options of {@linkcode findCut} and {@linkcode fileCuts}. */
export interface CutOptions {
  /** The quote character; null turns quoting off (then any LF is a record boundary). */
  quote: string | null;
  /** Bytes read before the target, to find where the line holding it starts. Default 4 KiB. */
  backBytes?: number;
  /** Bytes read at first from `target - backBytes`; doubled while no cut is found. Default 64 KiB. */
  windowBytes?: number;
  /** Searching past this many bytes after the target gives up (null): the file has no usable lines. */
  maxRecordBytes?: number;
}

/** Reads up to `n` bytes at `offset` (fewer at the end of the file). */
export async function readAt(file: Deno.FsFile, offset: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < n) {
    const read = await file.read(out.subarray(got));
    if (read === null) break;
    got += read;
  }
  return out.subarray(0, got);
}

/**
 * The guessed record boundary for `target`: the offset just past the LF that ends the first line ending at or
 * after `target` whose bytes (from the LF before it) hold an even number of quotes; `size` when the file ends
 * first; null when none is found within `maxRecordBytes` of the target.
 */
export async function findCut(
  file: Deno.FsFile,
  size: number,
  target: number,
  options: CutOptions,
): Promise<number | null> {
  const back = options.backBytes ?? 4 << 10;
  const maxRecord = options.maxRecordBytes ?? 64 << 20;
  const quote = options.quote === null ? -1 : options.quote.charCodeAt(0);
  const from = Math.max(0, target - back);
  for (let window = options.windowBytes ?? 64 << 10;; window *= 2) {
    const bytes = await readAt(file, from, Math.min(window, size - from));
    const end = from + bytes.length;
    const at = target - from;
    // Where the line holding the target starts, when the window shows it: else that line is skipped, as its
    // quotes cannot be counted.
    const before = at === 0 ? -1 : bytes.lastIndexOf(LF, at - 1);
    let lineStart = from === 0 || before >= 0 ? before + 1 : -1;
    for (let lf = bytes.indexOf(LF, at); lf >= 0; lf = bytes.indexOf(LF, lf + 1)) {
      if (lineStart >= 0 && (quote < 0 || evenCount(bytes, lineStart, lf, quote))) return from + lf + 1;
      lineStart = lf + 1;
    }
    if (end >= size) return size;
    if (end - target > maxRecord) return null;
  }
}

function evenCount(bytes: Uint8Array, start: number, end: number, byte: number): boolean {
  let odd = false;
  for (let i = bytes.indexOf(byte, start); i >= 0 && i < end; i = bytes.indexOf(byte, i + 1)) odd = !odd;
  return !odd;
}

/**
 * The guessed cuts of a file of `size` bytes into chunks of about `targetBytes`, from `start` (the end of the
 * header, which stays in chunk 0): increasing offsets, the last one `size`. Null when a target has no usable
 * line within `maxRecordBytes` (the file should be cut by scanning it instead).
 */
export async function fileCuts(
  file: Deno.FsFile,
  size: number,
  start: number,
  targetBytes: number,
  options: CutOptions,
): Promise<number[] | null> {
  const cuts: number[] = [];
  let last = start;
  for (let k = 1; k * targetBytes < size; k++) {
    // A record that ran past the next target already covers it.
    if (k * targetBytes < last) continue;
    const cut = await findCut(file, size, k * targetBytes, options);
    if (cut === null) return null;
    if (cut >= size) break;
    cuts.push(cut);
    last = cut;
  }
  cuts.push(size);
  return cuts;
}
