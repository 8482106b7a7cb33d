import assert from "node:assert/strict";
import { parse as csvParse } from "csv-parse/sync";
import Papa from "papaparse";
import csvSpectrum from "csv-spectrum";
import { corpusDocument } from "./csv_corpus.ts";
import { csvTestCore, parseChunks, randomCuts, seededRandom } from "./csv_testing.ts";

const core = await csvTestCore();
const decoder = new TextDecoder();
const CORPUS_SIZE = 600;

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
  const out = Papa.parse<string[]>(text, { delimiter, quoteChar: quote, escapeChar: quote, newline, skipEmptyLines: true });
  return out.data;
}

Deno.test("CSV parser agrees with the generated corpus, csv-parse and papaparse", async (t) => {
  for (let seed = 1; seed <= CORPUS_SIZE; seed++) {
    const doc = corpusDocument(seed);
    const text = decoder.decode(doc.bytes);
    const want = doc.records.map((r) => (r.utf8 ? r.fields : null));
    // Peers see replacement characters where bytes were invalid; those rows are compared by count only.
    const mask = (rows: string[][]) => rows.map((r, i) => (want[i] === null ? null : r));
    const mine = parseChunks(core, doc.bytes, { delimiter: doc.delimiter, quote: doc.quote, header: doc.header });
    const ok = (() => {
      try {
        assert.deepStrictEqual(
          { names: mine.names, rows: mine.rows, lines: mine.lines, rejects: mine.rejects.map((r) => `${r.line}:${r.rule}`) },
          doc.expected,
        );
        assert.deepStrictEqual(mask(withCsvParse(text, doc.delimiter, doc.quote, doc.newline)), want, "csv-parse");
        // papaparse drops a row holding one empty field as an empty line; so do we, for the comparison.
        const wantPapa = want.filter((r) => !(r !== null && r.length === 1 && r[0] === ""));
        assert.deepStrictEqual(
          withPapaparse(text, doc.delimiter, doc.quote, doc.newline).map((r, i) => (wantPapa[i] === null ? null : r)),
          wantPapa,
          "papaparse",
        );
        const random = seededRandom(seed * 7919);
        for (let k = 0; k < 3; k++) {
          const cuts = randomCuts(random, doc.bytes.length, 12);
          assert.deepStrictEqual(parseChunks(core, doc.bytes, { delimiter: doc.delimiter, quote: doc.quote, header: doc.header }, cuts), mine, `cuts ${cuts}`);
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
});
