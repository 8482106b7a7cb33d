import assert from "node:assert/strict";
import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import { seededRandom } from "../cli/seeded_random.ts";
import type { CsvDialect } from "../workers/parse.ts";
import { KernelPool } from "../workers/pool.ts";
import { type CellValue, rowValues } from "./batch.ts";
import { CsvSyntaxError } from "./errors.ts";
import { chunkRecords, csvHeader } from "./chunker.ts";
import {
  guessCuts,
  parseCsvFile,
  parseCsvFileChunks,
  type ParseCsvFileOptions,
  type ParseCsvFileStats,
} from "./file_ranges.ts";

const module = await compileKernels();
const encoder = new TextEncoder();
const LF = 0x0a;

const COLUMNS: ParseCsvFileOptions["columns"] = [
  { name: "id", type: "int64", required: true },
  { name: "name", type: "string" },
  { name: "amount", type: "decimal", precision: 12, scale: 2 },
];
// `min` rejects show the value as written, read again from the chunk in the worker.
const RULES: ParseCsvFileOptions["rules"] = { id: { required: true }, amount: { min: 0 } };
const DIALECT: CsvDialect = { delimiter: ",", quote: '"', nullTokens: [""] };

/** A random CSV: quoted fields, doubled quotes, quoted LF and CRLF, blank lines, CRLF records, bad rows. */
function randomCsv(rows: number, seed: number): string {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  let out = random() < 0.5 ? "id,name,amount\n" : '"id","na\nme",amount\r\n'.replace("na\nme", "name");
  for (let i = 1; i <= rows; i++) {
    const name = pick([
      `n${i}`,
      `"quoted ${i}"`,
      `"two\nlines ${i}"`,
      `"crlf\r\ninside"`,
      `"doubled ""q"" ${i}"`,
      `"a ""x"" \n ""y"" \n ""z"" b"`,
      "",
    ]);
    const amount = pick(["1.50", "-3.00", "x1", "", `${i}.25`, `"7.75"`]);
    const id = random() < 0.03 ? "" : String(i);
    out += `${id},${name},${amount}${pick(["\n", "\n", "\r\n", "\n\n"])}`;
  }
  return out;
}

/** A file that defeats the guess: quoted fields over several lines whose middle lines hold an even count of quotes. */
function trickyCsv(rows: number): string {
  let out = "id,name,amount\n";
  for (let i = 1; i <= rows; i++) {
    out += `${i},"open ${"x".repeat(i % 7)}\nmiddle ""even"" ${i}\nmore ""quotes"" here\nclose",${i}.00\n`;
  }
  return out;
}

interface Parsed {
  rows: CellValue[][];
  lines: number[];
  rejects: { line: number; column: string; rule: string; value: unknown }[];
}

/** The existing path: the whole file as one `parse.chunk` job. */
async function parseWhole(pool: KernelPool, bytes: Uint8Array, dialect = DIALECT): Promise<Parsed> {
  const { value } = await pool.run("parse.chunk", {
    input: bytes.slice().buffer,
    params: { format: "csv", columns: COLUMNS, rules: RULES, firstLine: 1, dialect, header: null },
  });
  return {
    rows: Array.from({ length: value.batch.length }, (_, i) => rowValues(value.batch, i)),
    lines: [...value.batch.lines],
    rejects: value.rejects.map(({ line, column, rule, value }) => ({ line, column, rule, value })),
  };
}

async function parseRanges(
  pool: KernelPool,
  path: string,
  options: Partial<ParseCsvFileOptions> = {},
): Promise<Parsed & { mispredicted: number; scanned: boolean; chunks: number }> {
  const out = { rows: [], lines: [], rejects: [], mispredicted: 0, scanned: false, chunks: 0 } as
    & Parsed
    & { mispredicted: number; scanned: boolean; chunks: number };
  let expectOffset = 0;
  for await (
    const result of parseCsvFile(pool, path, { columns: COLUMNS, rules: RULES, dialect: DIALECT, ...options })
  ) {
    assert.equal(result.offset, expectOffset, "chunks are contiguous");
    expectOffset += result.length;
    for (let i = 0; i < result.batch.length; i++) out.rows.push(rowValues(result.batch, i));
    out.lines.push(...result.batch.lines);
    out.rejects.push(
      ...result.rejects.map(({ line, column, rule, value }) => ({ line, column, rule, value })),
    );
    out.mispredicted += result.mispredicted;
    out.scanned ||= result.scanned;
    out.chunks++;
    pool.giveBack(result.batch);
  }
  return out;
}

async function withFile<T>(text: string, body: (path: string, bytes: Uint8Array) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "weir-ranges-" });
  try {
    const path = `${dir}/input.csv`;
    const bytes = encoder.encode(text);
    await Deno.writeFile(path, bytes);
    return await body(path, bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("guessed cuts are increasing, each just past an LF, the last one the file's end", async () => {
  await withFile(randomCsv(400, 1), async (path, bytes) => {
    using file = await Deno.open(path);
    for (const target of [37, 100, 999]) {
      const cuts = await Array.fromAsync(
        guessCuts(file, bytes.length, 15, target, { quote: '"', windowBytes: 64 }),
      );
      assert.equal(cuts.at(-1), bytes.length);
      cuts.slice(0, -1).forEach((cut, i) => {
        assert.equal(bytes[cut - 1], LF);
        assert.ok(cut > (i === 0 ? 15 : cuts[i - 1]));
      });
    }
  });
});

Deno.test("random files parsed in byte ranges give the rows, lines and rejects of the whole file", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  for (let seed = 1; seed <= 12; seed++) {
    await withFile(randomCsv(300, seed), async (path, bytes) => {
      const whole = await parseWhole(pool, bytes);
      assert.ok(whole.rejects.length > 0 && whole.rows.length > 0);
      for (const targetBytes of [37, 64, 113, 250, 500, 1 << 20]) {
        const ranges = await parseRanges(pool, path, { targetBytes });
        assert.deepEqual(
          { rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects },
          whole,
          `seed ${seed}, target ${targetBytes}`,
        );
        assert.equal(ranges.scanned, false);
      }
    });
  }
});

Deno.test("a file that defeats the guess still parses like the whole file, the wrong cuts found and merged", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  await withFile(trickyCsv(200), async (path, bytes) => {
    const whole = await parseWhole(pool, bytes);
    let mispredicted = 0;
    for (const targetBytes of [41, 97, 300, 1000]) {
      const ranges = await parseRanges(pool, path, { targetBytes, inFlightPerWorker: 1 + (targetBytes % 3) });
      assert.deepEqual({ rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects }, whole);
      mispredicted += ranges.mispredicted;
    }
    assert.ok(mispredicted > 10, `the guess was wrong ${mispredicted} times`);
  });
});

Deno.test("an unterminated quote in the last record is reported with the file's line", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  const text = randomCsv(200, 5) + '999,"never\nclosed\n\n1,2,3\n';
  await withFile(text, async (path, bytes) => {
    const whole = await parseWhole(pool, bytes).then(() => null, (e) => e);
    assert.ok(whole instanceof CsvSyntaxError);
    for (const targetBytes of [50, 400]) {
      const error = await parseRanges(pool, path, { targetBytes }).then(() => null, (e) => e);
      assert.ok(error instanceof CsvSyntaxError);
      assert.equal(error.line, whole.line);
      assert.equal(error.column, whole.column);
      assert.equal(error.message, whole.message);
    }
  });
});

Deno.test("a file without LF is one chunk, or cut by the scanner when it is long", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  const crOnly = (rows: number) => randomCsv(rows, 9).replaceAll("\r\n", "\n").replaceAll("\n", "\r");
  await withFile(crOnly(40), async (path, bytes) => {
    const whole = await parseWhole(pool, bytes);
    const ranges = await parseRanges(pool, path, { targetBytes: 60 });
    assert.deepEqual({ rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects }, whole);
    assert.equal(ranges.chunks, 1);
  });
  await withFile(crOnly(20_000), async (path, bytes) => {
    const whole = await parseWhole(pool, bytes);
    const ranges = await parseRanges(pool, path, { targetBytes: 10_000, maxRecordBytes: 4096 });
    assert.deepEqual({ rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects }, whole);
    assert.ok(ranges.scanned && ranges.chunks > 1);
  });
});

Deno.test("a file with quoting off is cut at any LF", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  const dialect: CsvDialect = { ...DIALECT, quote: null };
  const text = randomCsv(300, 3).replaceAll('"', "");
  await withFile(text, async (path, bytes) => {
    const whole = await parseWhole(pool, bytes, dialect);
    const ranges = await parseRanges(pool, path, { targetBytes: 77, dialect });
    assert.deepEqual({ rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects }, whole);
    assert.equal(ranges.mispredicted, 0);
  });
});

interface Outcomes extends Parsed {
  /** Chunks that failed: the error's line and message, and the chunk's first line. */
  failures: { line: number | undefined; message: string; firstLine: number }[];
}

function failureOf(error: unknown, firstLine: number): Outcomes["failures"][number] {
  return {
    line: error instanceof CsvSyntaxError ? error.line : undefined,
    message: error instanceof Error ? error.message : String(error),
    firstLine,
  };
}

/** The scanning chunker's path over the whole file, going on after a chunk that fails (as `weir parse` does). */
async function parseChunked(
  pool: KernelPool,
  bytes: Uint8Array,
  options: { targetBytes: number; maxRecordBytes: number },
): Promise<Outcomes> {
  const out: Outcomes = { rows: [], lines: [], rejects: [], failures: [] };
  const header = csvHeader(bytes, DIALECT.quote)!;
  const chunks = chunkRecords(ReadableStream.from([bytes.slice()]), {
    format: "csv",
    kernels: instantiateKernels(module),
    ...options,
  });
  for await (const chunk of chunks) {
    const result = pool.run("parse.chunk", {
      input: chunk.bytes.slice().buffer,
      params: {
        format: "csv",
        columns: COLUMNS,
        rules: RULES,
        firstLine: chunk.firstLine,
        dialect: DIALECT,
        header: chunk.sequence === 0 ? null : header,
      },
    });
    try {
      const { value } = await result;
      for (let i = 0; i < value.batch.length; i++) out.rows.push(rowValues(value.batch, i));
      out.lines.push(...value.batch.lines);
      out.rejects.push(
        ...value.rejects.map(({ line, column, rule, value }) => ({ line, column, rule, value })),
      );
    } catch (error) {
      out.failures.push(failureOf(error, chunk.firstLine));
    }
  }
  return out;
}

Deno.test("an unterminated quote early in a file sends the rest to the chunker: its output, in bounded memory", async () => {
  await using pool = await KernelPool.create({ module, workers: 2 });
  // A stray quote opens a field on line 12 and nothing closes it: every later range ends inside it. After it,
  // plain rows, or rows whose quotes flip the state back and forth.
  let plain = "id,name,amount\n";
  for (let i = 1; i <= 150_000; i++) plain += i === 11 ? `${i},"stray,1.00\n` : `${i},name ${i},${i}.50\n`;
  const random = randomCsv(80_000, 21).replace("\n", '\n7,"stray,1.00\n');
  const targetBytes = 64 << 10;
  const maxRecordBytes = 256 << 10;
  for (const [name, text] of [["plain", plain], ["random", random]]) {
    await withFile(text, async (path, bytes) => {
      assert.ok(bytes.length > 1 << 20);
      const chunked = await parseChunked(pool, bytes, { targetBytes, maxRecordBytes });
      const stats: ParseCsvFileStats = { largestRange: 0, scannedFrom: null };
      const ranges: Outcomes = { rows: [], lines: [], rejects: [], failures: [] };
      for await (
        const result of parseCsvFileChunks(pool, path, {
          columns: COLUMNS,
          rules: RULES,
          dialect: DIALECT,
          targetBytes,
          maxRecordBytes,
          stats,
        })
      ) {
        if ("error" in result) {
          ranges.failures.push(failureOf(result.error, result.firstLine));
          continue;
        }
        for (let i = 0; i < result.batch.length; i++) ranges.rows.push(rowValues(result.batch, i));
        ranges.lines.push(...result.batch.lines);
        ranges.rejects.push(
          ...result.rejects.map(({ line, column, rule, value }) => ({ line, column, rule, value })),
        );
        pool.giveBack(result.batch);
      }
      assert.deepEqual(ranges, chunked, name);
      // A merged range never passes the limit; the chunker's chunks are at most a block past it.
      assert.ok(stats.largestRange <= maxRecordBytes + targetBytes, `${name}: ${stats.largestRange}`);
      // Later quotes can close the stray one (random), or nothing does (plain): the chunk from it fails.
      if (name === "random") return;
      assert.ok(chunked.failures.length > 0);
      assert.ok(stats.scannedFrom !== null && stats.scannedFrom < 4 * targetBytes);

      // parseCsvFile throws the first failure, after the rows before it.
      const first = chunked.failures[0];
      const before = chunked.lines.filter((line) => line < first.firstLine).length;
      const thrown = await parseRanges(pool, path, { targetBytes, maxRecordBytes }).then(
        () => null,
        (e) => e,
      );
      assert.deepEqual(failureOf(thrown, first.firstLine), first);
      const rows = await (async () => {
        const out = [];
        try {
          for await (
            const r of parseCsvFile(pool, path, {
              columns: COLUMNS,
              rules: RULES,
              dialect: DIALECT,
              targetBytes,
              maxRecordBytes,
            })
          ) {
            for (let i = 0; i < r.batch.length; i++) out.push(rowValues(r.batch, i));
            pool.giveBack(r.batch);
          }
        } catch {
          // the failure compared above
        }
        return out;
      })();
      assert.deepEqual(rows, chunked.rows.slice(0, before), name);
    });
  }
});

Deno.test("rows over the row limit, quoted over lines without quotes, read alike across the wrong cuts inside them", async () => {
  // Every line inside such a field looks like a record end to the guess; the parser skips the oversized row
  // and must still end the chunk inside its quotes, so that the cut is proved wrong.
  let text = "id,name,amount\n";
  for (let i = 1; i <= 300; i++) {
    text += i % 10 === 3
      ? `${i},"big\n${"line without quotes\n".repeat(1 + (i % 40))}end",1.00\n`
      : `${i},n${i},2.00\n`;
  }
  await withFile(text, async (path, bytes) => {
    await using pool = await KernelPool.create({ module, workers: 2 });
    for (const rowBytes of [100, 400, 4000]) {
      const dialect = { ...DIALECT, limits: { rowBytes, fieldBytes: rowBytes } };
      const whole = await parseWhole(pool, bytes, dialect);
      for (const targetBytes of [50, 97, 300, 1000]) {
        const { mispredicted, ...ranges } = await parseRanges(pool, path, { dialect, targetBytes });
        assert.deepStrictEqual({ rows: ranges.rows, lines: ranges.lines, rejects: ranges.rejects }, whole);
        assert.ok(mispredicted > 0, `cuts proved wrong at ${targetBytes} bytes: ${mispredicted}`);
      }
    }
  });
});
