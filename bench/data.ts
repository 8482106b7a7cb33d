/**
 * Seeded benchmark data: an `orders` table written as CSV and as NDJSON, cached under `build/bench/` (git-ignored)
 * and keyed by size and seed, so repeated runs and both formats measure the same rows.
 *
 * @module
 */

import { seededRandom } from "../cli/seeded_random.ts";

/** Where generated data is cached; `build/` is git-ignored. */
export const BENCH_DATA_DIR = new URL("../build/bench/", import.meta.url);

/** The columns of the generated `orders` table, in file order. */
export const ORDERS_COLUMNS = [
  "id",
  "ts",
  "customer",
  "country",
  "amount",
  "qty",
  "status",
  "paid",
  "note",
] as const;

/** The values of the `status` enum column. */
export const ORDER_STATUSES = ["new", "paid", "shipped", "cancelled", "refunded"] as const;

/** Options for {@linkcode ordersFile}. */
export interface OrdersOptions {
  /** Approximate size of the CSV in MB (10^6 bytes). */
  mb: number;
  /** PRNG seed; the same seed and size give byte-identical files. */
  seed?: number;
  /** Which encoding of the table to produce. */
  format: "csv" | "ndjson";
}

/** A generated data file and what is in it. */
export interface OrdersFile {
  /** Absolute path of the cached file. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Number of data records (the CSV header is not counted). */
  rows: number;
}

const FIRST = ["Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Donald", "Margaret", "Alan", "Frances"];
const LAST = ["Lovelace", "Hopper", "Torvalds", "Thompson", "Liskov", "Dijkstra", "Knuth", "Hamilton", "Kay"];
const COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "NL", "SE", "CA", "AU", "ES"];
const WORDS = ["gift", "rush", "fragile", "back-order", "promo", "repeat", "b2b", "call first"];

/** One generated order; the CSV and NDJSON writers render the same record. */
interface Order {
  id: number;
  ts: string;
  customer: string;
  country: string;
  amount: string;
  qty: number;
  status: string;
  paid: boolean;
  note: string;
}

function* orders(seed: number): Generator<Order> {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  let t = Date.UTC(2026, 0, 1);
  for (let id = 1;; id++) {
    t += Math.floor(rnd() * 5000);
    const first = pick(FIRST);
    const last = pick(LAST);
    const r = rnd();
    // Names with commas and doubled quotes are what breaks naive splitters; keep both common.
    const customer = r < 0.3
      ? `${last}, ${first}`
      : r < 0.4
      ? `${first} "${pick(WORDS)}" ${last}`
      : `${first} ${last}`;
    const nr = rnd();
    // 5% of rows carry a quoted newline in the note.
    const note = nr < 0.05 ? `${pick(WORDS)}\n${pick(WORDS)}` : nr < 0.5 ? pick(WORDS) : "";
    yield {
      id,
      ts: new Date(t).toISOString().replace(".000Z", "Z"),
      customer,
      country: pick(COUNTRIES),
      amount: (Math.floor(rnd() * 10_000_000) / 100).toFixed(2),
      qty: 1 + Math.floor(rnd() * 20),
      status: pick(ORDER_STATUSES),
      paid: rnd() < 0.6,
      note,
    };
  }
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csvLine(o: Order): string {
  return `${o.id},${o.ts},${csvField(o.customer)},${o.country},${o.amount},${o.qty},${o.status},${o.paid},${
    csvField(o.note)
  }\n`;
}

function ndjsonLine(o: Order): string {
  // amount is a JSON number, as an upstream service would send it.
  return `{"id":${o.id},"ts":"${o.ts}","customer":${JSON.stringify(o.customer)},"country":"${o.country}",` +
    `"amount":${o.amount},"qty":${o.qty},"status":"${o.status}","paid":${o.paid},"note":${
      JSON.stringify(o.note)
    }}\n`;
}

/**
 * Returns the cached orders file for `mb` and `seed`, generating it first when absent. The NDJSON file holds the
 * same records as the CSV of the same size and seed (so it is somewhat larger: JSON repeats the keys).
 */
export async function ordersFile(options: OrdersOptions): Promise<OrdersFile> {
  const seed = options.seed ?? 42;
  const target = Math.max(1, Math.round(options.mb * 1e6));
  await Deno.mkdir(BENCH_DATA_DIR, { recursive: true });
  const name = `orders-${options.mb}mb-s${seed}.${options.format}`;
  const path = new URL(name, BENCH_DATA_DIR).pathname;
  const meta = `${path}.rows`;
  try {
    const rows = Number(await Deno.readTextFile(meta));
    const { size } = await Deno.stat(path);
    if (rows > 0 && size > 0) return { path, bytes: size, rows };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // Row count is decided by the CSV size so both formats hold the same records.
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let csvBytes = 0;
  let written = 0;
  let rows = 0;
  let pending = "";
  if (options.format === "csv") {
    pending = ORDERS_COLUMNS.join(",") + "\n";
    csvBytes = pending.length;
  }
  for (const o of orders(seed)) {
    if (csvBytes >= target) break;
    const line = csvLine(o);
    // Every generated character is ASCII, so string length is the byte count.
    csvBytes += line.length;
    pending += options.format === "csv" ? line : ndjsonLine(o);
    rows++;
    if (pending.length > 1 << 20) {
      written += await writeAll(file, enc.encode(pending));
      pending = "";
    }
  }
  written += await writeAll(file, enc.encode(pending));
  file.close();
  await Deno.rename(tmp, path);
  await Deno.writeTextFile(meta, String(rows));
  return { path, bytes: written, rows };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<number> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
  return bytes.length;
}
