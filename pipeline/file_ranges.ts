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
import { instantiateKernels, type RecordKernels } from "../kernels/mod.ts";
import type { Batch, Field } from "./batch.ts";
import { readAt } from "./bytes.ts";
import { chunkRecords, csvHeader } from "./chunker.ts";
import { CsvSyntaxError } from "./errors.ts";
import type { ColumnRules, Reject } from "./validate.ts";
import type { CsvDialect, ParseChunkParams } from "../workers/parse.ts";
import type { JobResult, KernelPool } from "../workers/pool.ts";

const LF = 0x0a;

/** Options of {@linkcode findCut} and {@linkcode guessCuts}. */
export interface CutOptions {
  /** The quote character; null turns quoting off (then any LF is a record boundary). */
  quote: string | null;
  /** Bytes read before the target, to find where the line holding it starts. Default 1 KiB. */
  backBytes?: number;
  /** Bytes read at first from `target - backBytes`; doubled while no cut is found. Default 8 KiB. */
  windowBytes?: number;
  /** Searching past this many bytes after the target gives up (null): the file has no usable lines. */
  maxRecordBytes?: number;
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
  const back = options.backBytes ?? 1 << 10;
  const maxRecord = options.maxRecordBytes ?? 64 << 20;
  const quote = options.quote === null ? -1 : options.quote.charCodeAt(0);
  const from = Math.max(0, target - back);
  for (let window = options.windowBytes ?? 8 << 10;; window *= 2) {
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
 * header, which stays in chunk 0): increasing offsets, the last one `size`. Returns false when a target has
 * no usable line within `maxRecordBytes` (the file should be cut by scanning it instead), true once done.
 */
export async function* guessCuts(
  file: Deno.FsFile,
  size: number,
  start: number,
  targetBytes: number,
  options: CutOptions,
): AsyncGenerator<number, boolean> {
  let last = start;
  for (let k = 1; k * targetBytes < size; k++) {
    // A record that ran past the next target already covers it.
    if (k * targetBytes < last) continue;
    const cut = await findCut(file, size, k * targetBytes, options);
    if (cut === null) return false;
    if (cut >= size) break;
    yield cut;
    last = cut;
  }
  yield size;
  return true;
}

/** Options of {@linkcode parseCsvFile}. */
export interface ParseCsvFileOptions {
  /** Declared columns with their `required` flag. */
  columns: readonly (Field & { required?: boolean })[];
  /** Validation rules by column name. */
  rules: Record<string, ColumnRules>;
  dialect: CsvDialect;
  /** Chunk size aimed at. Default 4 MiB. */
  targetBytes?: number;
  /** Parse jobs each worker may have in flight (running, queued, waiting to be taken). Default 3. */
  inFlightPerWorker?: number;
  /**
   * A record longer than this (around a cut, or a quoted field that two wrong cuts merged into a range longer
   * than this) makes the rest of the file go to the scanning chunker, which cuts such a record anyway, so that
   * memory stays bounded. Default 64 MiB, as the chunker's.
   */
  maxRecordBytes?: number;
  /** The record scanner for that fallback. Default: an instance of the pool's kernels, made when needed. */
  kernels?: RecordKernels;
  /**
   * Where the data starts, at a record boundary: the file is parsed from `offset`, whose 1-based line is
   * `line` (with a header, the header is the record there). Default: the whole file.
   */
  start?: { offset: number; line: number };
  /** Filled in as the file is parsed (tests and benchmarks look at it). */
  stats?: ParseCsvFileStats;
}

/** What {@linkcode parseCsvFile} did. */
export interface ParseCsvFileStats {
  /** The longest byte range one job parsed: a merged range, or a chunk of the scanning chunker. */
  largestRange: number;
  /** The offset from which the scanning chunker took the rest of the file, or null. */
  scannedFrom: number | null;
}

/** One chunk of a file, parsed: lines in the whole file's numbering. */
export interface FileChunkResult {
  /** The valid rows; giving its buffers back (`KernelPool.giveBack`) is the caller's business. */
  batch: Batch;
  /** Rows rejected by the parser or a rule, in line order. */
  rejects: Reject[];
  /** Where the chunk is in the file. */
  offset: number;
  length: number;
  /** 1-based line of the file where the chunk starts. */
  firstLine: number;
  /** Guessed cuts inside this chunk that its parse proved wrong (each merged two chunks into one). */
  mispredicted: number;
  /** Whether the chunk was cut by the scanning chunker on this thread (see `maxRecordBytes`). */
  scanned: boolean;
}

/** A chunk the parse failed on (of the scanning chunker: a byte range's failure sends the rest to it). */
export interface FileChunkFailure {
  error: unknown;
  offset: number;
  length: number;
  firstLine: number;
}

interface RangeJob {
  start: number;
  end: number;
  mispredicted: number;
  result: Promise<JobResult<"parse.chunk">>;
}

/** The parser's error for input that ends inside a quoted field: at a chunk's end, a wrong cut. */
function endsInQuotes(error: unknown): error is CsvSyntaxError {
  return error instanceof CsvSyntaxError && /ends inside a quoted field/.test(error.message);
}

/**
 * Parses and validates the CSV file at `path` in `pool`'s workers, each reading its own byte range; yields the
 * chunks' results in file order. Rejects and rows carry the file's lines. A syntax error (an unterminated quote,
 * a bad header) is thrown with the file's line, after the rows before it.
 */
export async function* parseCsvFile(
  pool: KernelPool,
  path: string,
  options: ParseCsvFileOptions,
): AsyncGenerator<FileChunkResult> {
  for await (const chunk of parseCsvFileChunks(pool, path, options)) {
    if ("error" in chunk) throw chunk.error;
    yield chunk;
  }
}

/**
 * {@linkcode parseCsvFile}, yielding a chunk that failed instead of throwing, and going on after it as the
 * scanning chunker's path does (`weir parse` reports it and goes on). The output is that of the chunker over
 * the whole file: byte ranges where their cuts are proven, and from the first range that fails for another
 * reason than a wrong cut (or whose merging would pass `maxRecordBytes`), the chunker's chunks.
 */
export async function* parseCsvFileChunks(
  pool: KernelPool,
  path: string,
  options: ParseCsvFileOptions,
): AsyncGenerator<FileChunkResult | FileChunkFailure> {
  const { dialect } = options;
  const targetBytes = options.targetBytes ?? 4 << 20;
  const maxRecordBytes = options.maxRecordBytes ?? 64 << 20;
  const maxInFlight = Math.max(1, pool.stats().workers * (options.inFlightPerWorker ?? 3));
  const origin = options.start?.offset ?? 0;
  const originLine = options.start?.line ?? 1;
  const stats = options.stats ?? { largestRange: 0, scannedFrom: null };
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const header = dialect.header === false
    ? null
    : await readHeader(file, size, origin, dialect.quote, maxRecordBytes);
  // The cuts are found as chunks are submitted, the first jobs running meanwhile.
  const search = header === undefined
    ? (async function* () {
      yield size; // no complete record: one chunk, whose parse says what is wrong
      return true;
    })()
    : guessCuts(file, size, header?.end ?? origin, targetBytes, { quote: dialect.quote, maxRecordBytes });
  const cuts: number[] = [];
  let searched = false;
  /** Finds the next cut; false when the search failed. */
  const searchOne = async (): Promise<boolean> => {
    const next = await search.next();
    if (next.done) {
      searched = true;
      return next.value;
    }
    cuts.push(next.value);
    return true;
  };
  const headerRecord = header ? { bytes: header.bytes, lines: header.lines } : null;
  // A chunk after the first is parsed behind the header, numbered from the line after it; its true first line
  // is known only once the chunks before it are parsed.
  const relativeFirst = (start: number) => start === origin ? originLine : (headerRecord?.lines ?? 0) + 1;
  const submit = async (start: number, end: number, mispredicted: number): Promise<RangeJob> => {
    const params: ParseChunkParams = {
      format: "csv",
      columns: options.columns,
      rules: options.rules,
      firstLine: relativeFirst(start),
      file: { path, offset: start, length: end - start },
      dialect,
      header: start === origin ? null : headerRecord,
    };
    stats.largestRange = Math.max(stats.largestRange, end - start);
    const job = await pool.submit("parse.chunk", { params });
    return { start, end, mispredicted, result: job.result };
  };
  /** Drops a job's result, giving its batch's buffers back. */
  const drop = (job: RangeJob) =>
    job.result.then((r) => pool.giveBack(r.value.batch), () => {
      // A chunk that failed has nothing to give back; its error is not the file's.
    });

  const jobs: RangeJob[] = [];
  let next = 0; // the next chunk to submit ends at cuts[next]
  let line = originLine;
  let scan = false;
  // The proven record start from which the scanning chunker takes the rest of the file, if it must.
  let scanFrom: { offset: number; line: number } | null = null;
  try {
    while (true) {
      while (jobs.length < maxInFlight && !scan) {
        if (next === cuts.length) {
          if (searched) break;
          scan = !await searchOne();
          continue;
        }
        jobs.push(await submit(next === 0 ? origin : cuts[next - 1], cuts[next], 0));
        next++;
      }
      // Every cut is found before any result is handed out, so that a file that must be scanned is scanned
      // whole.
      while (!searched && !scan) scan = !await searchOne();
      if (scan) {
        scanFrom = { offset: origin, line: originLine };
        break;
      }
      if (jobs.length === 0) return;
      const head = jobs[0];
      let value;
      try {
        value = (await head.result).value;
      } catch (error) {
        // The chunk started at a record start, so its end is not one: parse it and the next chunk as one,
        // unless that range would pass the longest record allowed.
        const end = head.end >= size ? size : jobs.length > 1 ? jobs[1].end : cuts[next];
        if (endsInQuotes(error) && head.end < size && end - head.start <= maxRecordBytes) {
          if (jobs.length > 1) await drop(jobs.splice(1, 1)[0]);
          else next++;
          jobs[0] = await submit(head.start, end, head.mispredicted + 1);
          continue;
        }
        // A genuine error (an unterminated quote opening a field, which makes every later range fail too), or
        // a merged range too long: the chunker takes the rest from this proven cut, and cuts and parses it as
        // it would have from the file's start, in bounded memory.
        scanFrom = { offset: head.start, line };
        break;
      }
      jobs.shift();
      const shift = line - relativeFirst(head.start);
      if (shift !== 0) {
        const lines = value.batch.lines;
        for (let i = 0; i < lines.length; i++) lines[i] += shift;
        for (const reject of value.rejects) reject.line += shift;
      }
      const firstLine = line;
      line += value.lines!;
      yield {
        batch: value.batch,
        rejects: value.rejects,
        offset: head.start,
        length: head.end - head.start,
        firstLine,
        mispredicted: head.mispredicted,
        scanned: false,
      };
    }
  } finally {
    // Stopped early, failed or about to scan: the jobs still in flight finish in the workers; their buffers
    // come back.
    for (const job of jobs.splice(0)) void drop(job);
  }
  stats.scannedFrom = scanFrom.offset;
  yield* scanAndParse(pool, file, options, maxInFlight, {
    from: scanFrom,
    origin,
    header: headerRecord,
    stats,
  });
}

/**
 * The header record at `origin` (see `csvHeader`), read in a window grown until it holds the
 * record; undefined when the file holds no complete record.
 */
async function readHeader(
  file: Deno.FsFile,
  size: number,
  origin: number,
  quote: string | null,
  maxRecordBytes: number,
): Promise<ReturnType<typeof csvHeader> | undefined> {
  for (let window = 64 << 10;; window *= 2) {
    const found = csvHeader(await readAt(file, origin, Math.min(window, size - origin)), quote);
    if (found !== null) return { ...found, end: origin + found.end };
    if (window >= size - origin || window > maxRecordBytes) return undefined;
  }
}

/** The file from `offset`, in pieces (not `file.readable`, which would close the file at its end). */
async function* readFrom(file: Deno.FsFile, offset: number): AsyncGenerator<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  while (true) {
    const piece = new Uint8Array(1 << 20);
    const read = await file.read(piece);
    if (read === null) return;
    yield piece.subarray(0, read);
  }
}

/**
 * The fallback: the file from `from` (a proven record start) cut by the record scanner on this thread, as it
 * would cut the whole file, each chunk copied and moved to a worker.
 */
async function* scanAndParse(
  pool: KernelPool,
  file: Deno.FsFile,
  options: ParseCsvFileOptions,
  maxInFlight: number,
  at: {
    from: { offset: number; line: number };
    origin: number;
    header: { bytes: Uint8Array; lines: number } | null;
    stats: ParseCsvFileStats;
  },
): AsyncGenerator<FileChunkResult | FileChunkFailure> {
  const { dialect } = options;
  const { origin, stats } = at;
  const kernels = options.kernels ?? instantiateKernels(pool.module);
  const chunks = chunkRecords(readFrom(file, at.from.offset), {
    format: "csv",
    kernels,
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    targetBytes: options.targetBytes,
    maxRecordBytes: options.maxRecordBytes,
    buffers: pool.buffers,
    start: at.from,
  });
  const jobs: {
    chunk: { offset: number; length: number; firstLine: number };
    result: Promise<JobResult<"parse.chunk">>;
  }[] = [];
  // Scanning from the data's start, the header is read from the first chunk (the ranges found none).
  let header = at.from.offset === origin ? null : at.header;
  const take = async (): Promise<FileChunkResult | FileChunkFailure> => {
    const { chunk, result } = jobs.shift()!;
    try {
      const { value, output } = await result;
      if (output) pool.buffers.give(output);
      return { batch: value.batch, rejects: value.rejects, ...chunk, mispredicted: 0, scanned: true };
    } catch (error) {
      return { error, ...chunk };
    }
  };
  try {
    for await (const chunk of chunks) {
      if (chunk.offset === origin && dialect.header !== false) header = csvHeader(chunk.bytes, dialect.quote);
      // Submitting moves the buffer away (its views read as empty after).
      const where = { offset: chunk.offset, length: chunk.bytes.length, firstLine: chunk.firstLine };
      stats.largestRange = Math.max(stats.largestRange, chunk.bytes.length);
      const job = await pool.submit("parse.chunk", {
        input: chunk.bytes.buffer,
        params: {
          format: "csv",
          columns: options.columns,
          rules: options.rules,
          firstLine: chunk.firstLine,
          length: chunk.bytes.length,
          lines: chunk.lines,
          dialect,
          header: chunk.offset === origin ? null : header,
        },
      });
      jobs.push({ chunk: where, result: job.result });
      if (jobs.length >= maxInFlight) yield await take();
    }
    while (jobs.length > 0) yield await take();
  } finally {
    for (const { result } of jobs) void result.then((r) => pool.giveBack(r.value.batch), () => {});
  }
}
