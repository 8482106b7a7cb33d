import assert from "node:assert/strict";
import { parse as csvParse } from "csv-parse/sync";
import Papa from "papaparse";
import csvSpectrum from "csv-spectrum";
// Imported for its files on disk: the test reads the package's CSVs from Deno's npm cache.
import "vega-datasets";
import { type CorpusDocument, corpusDocument } from "./csv_corpus.ts";
import { parseChunks, randomCuts } from "./csv_testing.ts";
import { kernelTestCore, seededRandom } from "./testing.ts";

const core = await kernelTestCore();
const decoder = new TextDecoder();
const CORPUS_SIZE = 600;
// Must match the version pinned in deno.json.
const VEGA_DATASETS_VERSION = "3.2.1";

/** csv-parse configured for the documented dialect: lenient quotes, any width, no blank lines. */
function withCsvParse(text: string, delimiter: string, quote: string, newline: string): string[][] {
  return csvParse(text, {
    delimiter,
    quote,
    escape: quote,
    record_delimiter: newline,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
  }) as string[][];
}

function withPapaparse(text: string, delimiter: string, quote: string, newline: string): string[][] {
  const out = Papa.parse<string[]>(text, {
    delimiter,
    quoteChar: quote,
    escapeChar: quote,
    newline,
    skipEmptyLines: true,
  });
  return out.data;
}

Deno.test("CSV parser agrees with the generated corpus, csv-parse and papaparse", async (t) => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= CORPUS_SIZE; seed++) {
    const doc = corpusDocument(seed);
    for (const feature of features(doc)) seen.add(feature);
    const text = decoder.decode(doc.bytes);
    const want = doc.records.map((r) => (r.utf8 ? r.fields : null));
    // Peers see replacement characters where bytes were invalid; those rows are compared by count only.
    const mask = (rows: string[][]) => rows.map((r, i) => (want[i] === null ? null : r));
    const mine = parseChunks(core, doc.bytes, {
      delimiter: doc.delimiter,
      quote: doc.quote,
      header: doc.header,
    });
    const ok = (() => {
      try {
        assert.deepStrictEqual(
          {
            names: mine.names,
            rows: mine.rows,
            lines: mine.lines,
            rejects: mine.rejects.map((r) => `${r.line}:${r.rule}`),
          },
          doc.expected,
        );
        assert.deepStrictEqual(
          mask(withCsvParse(text, doc.delimiter, doc.quote, doc.newline)),
          want,
          "csv-parse",
        );
        // papaparse drops a row holding one empty field as an empty line; so do we, for the comparison.
        const wantPapa = want.filter((r) => !(r !== null && r.length === 1 && r[0] === ""));
        assert.deepStrictEqual(
          withPapaparse(text, doc.delimiter, doc.quote, doc.newline).map((
            r,
            i,
          ) => (wantPapa[i] === null ? null : r)),
          wantPapa,
          "papaparse",
        );
        const random = seededRandom(seed * 7919);
        for (let k = 0; k < 3; k++) {
          const cuts = randomCuts(random, doc.bytes.length, 12);
          assert.deepStrictEqual(
            parseChunks(
              core,
              doc.bytes,
              { delimiter: doc.delimiter, quote: doc.quote, header: doc.header },
              cuts,
            ),
            mine,
            `cuts ${cuts}`,
          );
        }
        return true;
      } catch (e) {
        return e;
      }
    })();
    if (ok !== true) {
      await t.step(`document ${seed}`, () => {
        throw ok;
      });
    }
  }
  // The corpus must keep covering the whole dialect, or agreeing with it proves little.
  assert.deepStrictEqual([...seen].sort(), [...FEATURES].sort());
});

const FEATURES = [
  "bom",
  "lf",
  "crlf",
  "cr",
  "header",
  "no header",
  "blank lines",
  "trailing delimiter",
  "quoted newline",
  "doubled quote",
  "literal quote",
  "ragged",
  "utf8",
  "multi-byte",
  "single quote",
  "tab",
  "no final newline",
];

/** Which dialect features a document exercises. */
function features(doc: CorpusDocument): string[] {
  const text = decoder.decode(doc.bytes);
  const out = [
    doc.newline === "\n" ? "lf" : doc.newline === "\r\n" ? "crlf" : "cr",
    doc.header ? "header" : "no header",
  ];
  const q = doc.quote;
  if (doc.bytes[0] === 0xef) out.push("bom");
  if (text.includes(doc.newline + doc.newline)) out.push("blank lines");
  if (
    doc.records.some((r) => r.fields.length > 1 && r.fields.at(-1) === "") &&
    text.includes(doc.delimiter + doc.newline)
  ) {
    out.push("trailing delimiter");
  }
  if (doc.records.some((r) => r.fields.some((f) => /[\r\n]/.test(f)))) out.push("quoted newline");
  if (text.includes(q + q + "hi")) out.push("doubled quote");
  if (
    doc.records.some((r) => r.fields.some((f) => f.includes(q))) &&
    new RegExp(`[^${q}${doc.delimiter === "^" ? "\\^" : doc.delimiter}\\r\\n]${q}hi`).test(text)
  ) {
    out.push("literal quote");
  }
  if (doc.expected.rejects.some((r) => r.endsWith("ragged"))) out.push("ragged");
  if (doc.expected.rejects.some((r) => r.endsWith("utf8"))) out.push("utf8");
  if (doc.bytes.some((b) => b >= 0x80)) out.push("multi-byte");
  if (q === "'") out.push("single quote");
  if (doc.delimiter === "\t") out.push("tab");
  if (!/[\r\n]$/.test(text)) out.push("no final newline");
  return out;
}

Deno.test("CSV parser reads the csv-spectrum cases", async (t) => {
  const items = await new Promise<{ csv: Uint8Array; json: Uint8Array; name: string }[]>((resolve, reject) =>
    csvSpectrum((
      err: unknown,
      data: { csv: Uint8Array; json: Uint8Array; name: string }[],
    ) => (err ? reject(err) : resolve(data)))
  );
  assert.equal(items.length, 12);
  for (const item of items) {
    await t.step(item.name, () => {
      // One case stores its single record as an object rather than an array.
      const parsed = JSON.parse(decoder.decode(item.json)) as Record<string, string> | Record<
        string,
        string
      >[];
      let want = Array.isArray(parsed) ? parsed : [parsed];
      if (item.name === "location_coordinates") {
        // The package's expectation disagrees with its own CSV about the phone number; the CSV is the input.
        want = want.map((r) => ({ ...r, "Contact Phone Number": "2095257564" }));
      }
      const bytes = new Uint8Array(item.csv);
      const got = parseChunks(core, bytes, {});
      assert.deepStrictEqual(got.rejects, []);
      assert.deepStrictEqual(
        got.rows.map((r) => Object.fromEntries(got.names.map((n, i) => [n, r[i]]))),
        want,
      );
      assert.deepStrictEqual(
        got.rows,
        withCsvParse(decoder.decode(bytes), ",", '"', bytes.includes(13) ? "\r\n" : "\n").slice(1),
      );
    });
  }
});

Deno.test("CSV parser reads vega-datasets' real files like csv-parse and papaparse do", async (t) => {
  const dir = await vegaDataDir();
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.(csv|tsv)$/.test(n)).sort();
  assert.ok(files.length >= 20, `expected the package's CSV files in ${dir}`);
  for (const name of files) {
    await t.step(name, () => {
      const bytes = Deno.readFileSync(`${dir}/${name}`);
      const text = decoder.decode(bytes);
      const delimiter = name.endsWith(".tsv") ? "\t" : ",";
      const newline = text.includes("\r\n") ? "\r\n" : "\n";
      const got = parseChunks(core, bytes, { delimiter });
      assert.deepStrictEqual(got.rejects, []);
      const records = withCsvParse(text, delimiter, '"', newline);
      assert.deepStrictEqual([got.names, ...got.rows], records, "csv-parse");
      assert.deepStrictEqual(withPapaparse(text, delimiter, '"', newline), records, "papaparse");
      const random = seededRandom(bytes.length);
      assert.deepStrictEqual(
        parseChunks(core, bytes, { delimiter }, randomCuts(random, bytes.length, 40)),
        got,
        "chunked",
      );
    });
  }
});

/** Where Deno's npm cache keeps vega-datasets' data files (the package is imported above, so it is there). */
async function vegaDataDir(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const { npmCache } = JSON.parse(decoder.decode(info.stdout)) as { npmCache: string };
  return `${npmCache}/registry.npmjs.org/vega-datasets/${VEGA_DATASETS_VERSION}/data`;
}
