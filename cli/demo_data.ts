/**
 * `weir demo-data [--rows N] [--seed S]`: writes a realistic orders CSV for the example `orders` pipeline to
 * stdout, with a few rows bad on purpose so a first ingest shows rejects, the dead-letter queue and quality
 * checks at work. The same seed always gives the same bytes. main.ts dispatches `demo-data` here.
 *
 * @module
 */

import { seededRandom } from "./seeded_random.ts";

/** The kinds of bad rows the demo data contains, and what weir does with each. */
export const BAD_ROW_KINDS = {
  negative_amount: "amount below 0: rejected by the min rule",
  bad_country: "country not two capital letters (us, USA, D3): rejected by the pattern rule",
  unknown_status: "status outside the enum (lost, pending): rejected by the enum rule",
  bad_timestamp: "unparseable ts (yesterday, 2026-13-45T25:61:00Z): rejected by the type",
  ragged: "a field too few or too many: rejected as a malformed record",
  duplicate_id: "an id seen earlier: the unique check fails and the upsert keeps the later row",
} as const;

/** A kind of bad row. */
export type BadRowKind = keyof typeof BAD_ROW_KINDS;

/** A row made bad on purpose. */
export interface BadRow {
  /** 1-based line in the output (the header is line 1). */
  readonly line: number;
  readonly kind: BadRowKind;
}

/** Options of {@linkcode demoOrders}. */
export interface DemoOptions {
  /** Data rows (the header not counted). */
  rows: number;
  /** PRNG seed; equal seeds give equal output. */
  seed: number;
}

/** The CSV header of the demo data: the columns of the example `orders` pipeline. */
export const DEMO_HEADER = "id,ts,customer,country,amount,qty,status";

const COUNTRIES = [
  "US",
  "US",
  "US",
  "DE",
  "DE",
  "GB",
  "FR",
  "NL",
  "SE",
  "JP",
  "BR",
  "CA",
  "AU",
  "IN",
  "ES",
  "IT",
];
const STATUSES = ["new", "paid", "paid", "paid", "shipped", "shipped", "shipped", "cancelled", "refunded"];
// Names with commas, quotes and non-ASCII letters, so the CSV exercises quoting and UTF-8.
const CUSTOMERS = [
  "Ada Lovelace",
  "Müller, Anna",
  'Dana "DJ" Jones',
  "Søren Kierkegaard",
  "O'Brien Ltd",
  "佐藤 花子",
  "ACME Corp",
  "José Álvarez",
  "Zoë Smith",
  "Nguyễn Văn An",
];
const BAD_COUNTRIES = ["us", "USA", "D3"];
const BAD_STATUSES = ["lost", "pending"];
const BAD_TIMESTAMPS = ["yesterday", "2026-13-45T25:61:00Z"];
const START = Date.UTC(2026, 10, 28, 8, 0, 0);

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Which rows are bad, and how: about 0.2% of rows of each kind, at least one of each when there are 20 rows
 * or more (row 1 is never bad, so a duplicate has an earlier id to repeat).
 */
export function plannedBadRows(options: DemoOptions): BadRow[] {
  const { rows, seed } = options;
  if (rows < 20) return [];
  const random = seededRandom(seed ^ 0x5eed);
  const kinds = Object.keys(BAD_ROW_KINDS) as BadRowKind[];
  const perKind = Math.max(1, Math.round(rows * 0.002));
  const taken = new Set<number>();
  const bad: BadRow[] = [];
  for (const kind of kinds) {
    for (let i = 0; i < perKind; i++) {
      let row: number;
      do row = 1 + Math.floor(random() * (rows - 1)); while (taken.has(row));
      taken.add(row);
      bad.push({ line: row + 2, kind });
    }
  }
  return bad.sort((a, b) => a.line - b.line);
}

/**
 * The demo CSV, one line at a time (without line ends), header first.
 *
 * @example
 * ```ts
import { demoOrders, DEMO_HEADER } from "./demo_data.ts";
 * const lines = [...demoOrders({ rows: 3, seed: 1 })];
 * if (lines.length !== 4 || lines[0] !== DEMO_HEADER) throw new Error("unexpected demo data");
 * ```
 */
export function* demoOrders(options: DemoOptions): Generator<string> {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const badByLine = new Map(plannedBadRows(options).map((b) => [b.line, b.kind]));
  let time = START;
  const firstId = 100_000 + Math.floor(random() * 100_000);
  yield DEMO_HEADER;
  for (let row = 0; row < options.rows; row++) {
    const line = row + 2;
    const kind = badByLine.get(line);
    time += Math.floor(random() * 1500);
    let id = String(firstId + row);
    let ts = new Date(time).toISOString();
    let country = random() < 0.004 ? "" : pick(COUNTRIES);
    // Log-normal-ish amounts: mostly tens, sometimes hundreds, never more than two decimals.
    let amount = (Math.exp(2.5 + random() * 2.5) + 1).toFixed(2);
    const qty = String(1 + Math.floor(random() ** 3 * 9));
    let status = pick(STATUSES);
    const customer = csvField(pick(CUSTOMERS));
    switch (kind) {
      case "negative_amount":
        amount = `-${amount}`;
        break;
      case "bad_country":
        country = pick(BAD_COUNTRIES);
        break;
      case "unknown_status":
        status = pick(BAD_STATUSES);
        break;
      case "bad_timestamp":
        ts = pick(BAD_TIMESTAMPS);
        break;
      case "duplicate_id": {
        // Repeats the id of an earlier good row, so the duplicate is one among rows that land.
        let earlier: number;
        do earlier = Math.floor(random() * row); while (badByLine.has(earlier + 2));
        id = String(firstId + earlier);
        break;
      }
    }
    const fields = [id, ts, customer, country, amount, qty, status];
    if (kind === "ragged") {
      if (random() < 0.5) fields.splice(5, 1);
      else fields.push("extra");
    }
    yield fields.join(",");
  }
}

const USAGE = `Usage: weir demo-data [--rows N] [--seed S]

Writes a realistic orders CSV for the example pipeline \`orders\` (weir.yaml) to stdout: N rows (default
1000) with columns ${DEMO_HEADER}. The same seed (default 42) gives the same file.

About 0.2% of the rows of each kind below are bad on purpose (at least one of each from 20 rows):
${Object.entries(BAD_ROW_KINDS).map(([k, d]) => `  ${k.padEnd(16)} ${d}`).join("\n")}
About 0.4% of rows have no country (a null the null_ratio check tolerates).

Example:
  deno task weir demo-data --rows 100000 | curl --data-binary @- -H 'content-type: text/csv' \\
    http://localhost:8080/v1/pipelines/orders/ingest`;

/** Where the command writes; tests pass their own. */
export interface DemoDataIo {
  /** Writes bytes of output; resolves when they are taken (backpressure for large N). */
  write(bytes: Uint8Array): Promise<void>;
  /** Writes a line of diagnostics. */
  stderr(line: string): void;
}

/** The real stdout and stderr. */
export const denoDemoIo: DemoDataIo = {
  write: async (bytes) => {
    let n = 0;
    while (n < bytes.length) n += await Deno.stdout.write(bytes.subarray(n));
  },
  stderr: (line) => console.error(line),
};

/**
 * Runs `weir demo-data` with `args` (those after `demo-data`); resolves with the exit code: 0 on success,
 * 2 on a usage error.
 */
export async function demoDataCommand(args: readonly string[], io: DemoDataIo = denoDemoIo): Promise<number> {
  const options: DemoOptions = { rows: 1000, seed: 42 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-h" || a === "--help") {
      await io.write(new TextEncoder().encode(`${USAGE}\n`));
      return 0;
    }
    if (a === "--rows" || a === "--seed") {
      const value = args[++i];
      const n = Number(value);
      const ok = value !== undefined && /^\d+$/.test(value) && Number.isSafeInteger(n);
      if (!ok || (a === "--seed" && n > 0xffffffff)) {
        io.stderr(
          `Invalid ${a}: expected a whole number${a === "--seed" ? " below 2^32" : ""}, got ${
            value ?? "nothing"
          }`,
        );
        return 2;
      }
      options[a === "--rows" ? "rows" : "seed"] = n;
      continue;
    }
    io.stderr(`Unknown argument: ${a}\n${USAGE}`);
    return 2;
  }
  const encoder = new TextEncoder();
  let buffer = "";
  for (const line of demoOrders(options)) {
    buffer += line + "\n";
    // Writes in ~64 KiB pieces: a syscall per row would dominate, one string for a million rows would not fit.
    if (buffer.length >= 65_536) {
      await io.write(encoder.encode(buffer));
      buffer = "";
    }
  }
  if (buffer) await io.write(encoder.encode(buffer));
  return 0;
}
