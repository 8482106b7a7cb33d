/**
 * `csv-orders`: weir's typed parse + validate of orders.csv with one worker against JS CSV parsers (which only
 * split strings, the easier job) and DuckDB's `read_csv` into a typed table on one thread.
 *
 * Peers get the file already decoded to a JS string, outside the timed region: weir reads bytes, so this
 * favours the peers slightly and keeps every ratio conservative.
 *
 * @module
 */

import { parse as csvParseSync } from "csv-parse/sync";
import Papa from "papaparse";
import { csvParseRows } from "d3-dsv";
import { inferSchema, initParser } from "udsv";
import { DuckDBInstance } from "@duckdb/node-api";
import type { Benchmark, Comparison, Contender, Unavailable } from "./harness.ts";
import { ordersFile } from "./data.ts";
import { weirCsvContender } from "./weir_sides.ts";

/** DuckDB column types matching weir's orders schema, so both sides do the same typed job. */
const DUCKDB_COLUMNS = "{'id': 'BIGINT', 'ts': 'TIMESTAMP', 'customer': 'VARCHAR', 'country': 'VARCHAR', " +
  "'amount': 'DECIMAL(12,2)', 'qty': 'INTEGER', 'status': 'VARCHAR', 'paid': 'BOOLEAN', 'note': 'VARCHAR'}";

/** Builds the JS-string peers; each returns the number of data rows it produced. */
export function stringPeers(text: string, bytes: number, rows: number): Contender[] {
  // Each peer reports data rows: total records minus the header, ignoring a trailing empty record.
  const dataRows = (n: number, lastEmpty: boolean) => n - 1 - (lastEmpty ? 1 : 0);
  return [
    {
      name: "udsv",
      bytes,
      rows,
      run: () => {
        const parser = initParser(inferSchema(text.slice(0, 65536), { col: ",", row: "\n", encl: '"' }));
        // stringArrs already drops the header row.
        return parser.stringArrs(text).length;
      },
    },
    {
      name: "papaparse",
      bytes,
      rows,
      run: () => {
        const out = Papa.parse<string[]>(text, { delimiter: ",", newline: "\n", quoteChar: '"' }).data;
        const last = out[out.length - 1];
        return dataRows(out.length, last.length === 1 && last[0] === "");
      },
    },
    {
      name: "csv-parse",
      bytes,
      rows,
      run: () => (csvParseSync(text) as string[][]).length - 1,
    },
    {
      name: "d3-dsv",
      bytes,
      rows,
      run: () => csvParseRows(text).length - 1,
    },
  ];
}

/** DuckDB `read_csv` into an in-memory table with one thread; the table is dropped after each run. */
export async function duckdbPeer(path: string, bytes: number, rows: number): Promise<Contender> {
  const instance = await DuckDBInstance.create(":memory:");
  const conn = await instance.connect();
  await conn.run("SET threads=1");
  const quoted = path.replaceAll("'", "''");
  return {
    name: "duckdb",
    bytes,
    rows,
    run: async () => {
      await conn.run(
        `CREATE TABLE orders AS SELECT * FROM read_csv('${quoted}', header=true, delim=',', quote='"', ` +
          `escape='"', columns=${DUCKDB_COLUMNS})`,
      );
      const r = await conn.runAndReadAll("SELECT count(*)::INTEGER FROM orders");
      return Number(r.getRows()[0][0]);
    },
    after: async () => {
      await conn.run("DROP TABLE orders");
    },
  };
}

/** The `csv-orders` benchmark. */
export const csvOrders: Benchmark = {
  name: "csv-orders",
  summary: "typed parse + validate of orders.csv, 1 worker, vs udsv, papaparse, csv-parse, d3-dsv, DuckDB",
  async prepare(options): Promise<Comparison> {
    const file = await ordersFile({ mb: options.mb, seed: options.seed, format: "csv" });
    const bytes = await Deno.readFile(file.path);
    const text = new TextDecoder().decode(bytes);
    const peers = [
      ...stringPeers(text, file.bytes, file.rows),
      await duckdbPeer(file.path, file.bytes, file.rows),
    ];
    // One worker leaves a core idle, where the chunker's scan and copies cost the worker nothing: the chunker
    // path is faster here (85 against 90 ms per 100 MB reading byte ranges).
    const weir: Contender | Unavailable = await weirCsvContender(bytes, { rows: file.rows, workers: 1 });
    return { weir, peers };
  },
};

/** The `csv-orders-2w` benchmark: weir with two workers against weir with one. */
export const csvOrders2w: Benchmark = {
  name: "csv-orders-2w",
  summary: "typed parse + validate of orders.csv, 2 workers vs 1 worker",
  async prepare(options): Promise<Comparison> {
    const file = await ordersFile({ mb: options.mb, seed: options.seed, format: "csv" });
    const bytes = await Deno.readFile(file.path);
    // Both sides read byte ranges, so the ratio is of one way of working: with two workers on two cores the
    // main thread's scan and copies would take time from them (chunker path: 2 workers 60 ms per 100 MB).
    const one = await weirCsvContender(bytes, { rows: file.rows, workers: 1, path: file.path });
    const two = await weirCsvContender(bytes, { rows: file.rows, workers: 2, path: file.path });
    if ("skip" in one) return { weir: one, peers: [] };
    return { weir: two, peers: [{ ...one, name: "weir-1w" }] };
  },
};
