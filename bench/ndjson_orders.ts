/**
 * `ndjson-orders`: weir's NDJSON reader into a typed `Batch` against the plain JS way: `JSON.parse` per line,
 * values pushed into per-column arrays (typed arrays for numbers and booleans). Both sides start from bytes:
 * the `JSON.parse` peer decodes them to a string inside its timed run. A second peer, `JSON.parse (text
 * given)`, gets the string decoded outside the timed region, to show what the decoding costs.
 *
 * @module
 */

import type { Benchmark, Comparison, Contender } from "./harness.ts";
import { ordersFile } from "./data.ts";
import { weirNdjsonContender } from "./weir_sides.ts";

interface OrderJson {
  id: number;
  ts: string;
  customer: string;
  country: string;
  amount: number;
  qty: number;
  status: string;
  paid: boolean;
  note: string;
}

/** `JSON.parse` per line into columns; returns rows read. */
export function jsonParseColumns(text: string, rows: number): number {
  const id = new Float64Array(rows);
  const amount = new Float64Array(rows);
  const qty = new Int32Array(rows);
  const paid = new Uint8Array(rows);
  const ts: string[] = [];
  const customer: string[] = [];
  const country: string[] = [];
  const status: string[] = [];
  const note: string[] = [];
  let n = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (end > start) {
      const o = JSON.parse(text.slice(start, end)) as OrderJson;
      id[n] = o.id;
      amount[n] = o.amount;
      qty[n] = o.qty;
      paid[n] = o.paid ? 1 : 0;
      ts.push(o.ts);
      customer.push(o.customer);
      country.push(o.country);
      status.push(o.status);
      note.push(o.note);
      n++;
    }
    start = end + 1;
  }
  return n;
}

/** The `ndjson-orders` benchmark. */
export const ndjsonOrders: Benchmark = {
  name: "ndjson-orders",
  summary: "orders.ndjson into typed columns vs JSON.parse per line",
  async prepare(options): Promise<Comparison> {
    const file = await ordersFile({ mb: options.mb, seed: options.seed, format: "ndjson" });
    const bytes = await Deno.readFile(file.path);
    const text = new TextDecoder().decode(bytes);
    const peer: Contender = {
      name: "JSON.parse",
      bytes: file.bytes,
      rows: file.rows,
      run: () => jsonParseColumns(new TextDecoder().decode(bytes), file.rows),
    };
    const textGiven: Contender = {
      name: "JSON.parse (text given)",
      bytes: file.bytes,
      rows: file.rows,
      run: () => jsonParseColumns(text, file.rows),
    };
    return { weir: await weirNdjsonContender(bytes, { rows: file.rows }), peers: [peer, textGiven] };
  },
};
