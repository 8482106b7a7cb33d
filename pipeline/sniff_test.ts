import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import "vega-datasets";
import { sniff, type SniffedType, splitRecords } from "./sniff.ts";

const enc = new TextEncoder();

interface Case {
  name: string;
  input: string;
  delimiter?: string;
  quote?: string;
  header?: boolean;
  lineEnding?: string;
  bom?: boolean;
  types?: (SniffedType["kind"] | string)[];
  nullTokens?: string[];
}

/** Renders a type compactly so table rows stay readable: `decimal(5,2)`, `timestamp[%Y-%m-%dT%H:%M:%S%:z]`. */
function show(t: SniffedType): string {
  if (t.kind === "decimal") return `decimal(${t.precision},${t.scale})`;
  if (t.kind === "date" || t.kind === "timestamp") return `${t.kind}[${t.formats.join("|")}]`;
  return t.kind;
}

const cases: Case[] = [
  {
    name: "comma, header, ints/decimals/strings",
    input: "id,amount,name\n1,2.50,ann\n2,3.10,bob\n3,10.00,cy\n",
    delimiter: ",",
    header: true,
    types: ["int64", "decimal(4,2)", "string"],
  },
  {
    name: "semicolon with decimal commas inside quotes",
    input: 'a;b;c\n"1,5";x;2020-01-01\n"2,5";y;2020-01-02\n',
    delimiter: ";",
    types: ["string", "string", "date[%Y-%m-%d]"],
  },
  { name: "tab", input: "x\ty\n1\t2\n3\t4\n", delimiter: "\t", types: ["int64", "int64"] },
  { name: "pipe", input: "x|y\ntrue|1.5e3\nFALSE|-2\n", delimiter: "|", types: ["boolean", "float64"] },
  {
    name: "quoted delimiters, doubled quotes and quoted newlines do not confuse the delimiter",
    input: 'id,name,note\n1,"Smith, J ""JJ""","a\nb"\n2,"Doe, A","c, d; e"\n3,Kay,plain\n',
    delimiter: ",",
    quote: '"',
    types: ["int64", "string", "string"],
  },
  {
    name: "single-quote quoting",
    input: "id,name\n1,'a,b'\n2,'c,d'\n3,'e,f'\n",
    delimiter: ",",
    quote: "'",
    types: ["int64", "string"],
  },
  {
    name: "no header in an all-numeric file",
    input: "1,2\n3,4\n5,6\n",
    header: false,
    types: ["int64", "int64"],
  },
  {
    name: "no header when the first row fits the typed columns",
    input: "1,abc\n2,def\n3,ghi\n",
    header: false,
    types: ["int64", "string"],
  },
  {
    name: "CRLF line endings and a BOM",
    input: "\uFEFFa,b\r\n1,x\r\n2,y\r\n",
    lineEnding: "\r\n",
    bom: true,
    types: ["int64", "string"],
  },
  { name: "lone CR line endings", input: "a,b\r1,x\r2,y\r", lineEnding: "\r", types: ["int64", "string"] },
  {
    name: "null tokens are found and do not spoil the type",
    input: "a,b,c\n1,NA,x\n,2.5,\\N\n3,NULL,z\n4,1.25,y\n",
    types: ["int64", "float64", "string"],
    nullTokens: ["", "NA", "NULL", "\\N"],
  },
  {
    name: "timestamps with offsets, Z and fractions",
    input: "t,u,v\n2026-11-28T12:00:00+01:00,2026-11-28 12:00:00,2026-11-28T12:00:00.123Z\n" +
      "2026-11-29T13:30:00-05:00,2026-11-29 13:30:00,2026-11-29T00:00:00.5Z\n",
    types: [
      "timestamp[%Y-%m-%dT%H:%M:%S%:z]",
      "timestamp[%Y-%m-%d %H:%M:%S]",
      "timestamp[%Y-%m-%dT%H:%M:%S.%fZ]",
    ],
  },
  {
    name: "day-first dates settle on values over 12",
    input: "d,m\n25/12/2020,12/25/2020\n01/02/2021,01/02/2021\n",
    types: ["date[%d/%m/%Y]", "date[%m/%d/%Y]"],
  },
  {
    name: "month-name dates and RFC 2822 timestamps",
    input: 'd,t\nJan 1 2000,"Tue, 01 Nov 2016 12:00:00 GMT"\nFeb 29 2000,"Wed, 02 Nov 2016 08:01:02 GMT"\n',
    types: ["date[%b %d %Y]", "timestamp[%a, %d %b %Y %H:%M:%S GMT]"],
  },
  {
    name: "leading zeros stay text and mixed scales are float64",
    input: "zip,x\n02134,1.5\n10001,2.25\n",
    types: ["string", "float64"],
  },
  {
    name: "int64 overflow is not int64",
    input: "n\n9223372036854775807\n9223372036854775808\n",
    types: ["float64"],
  },
  {
    name: "a header-only sample yields string columns",
    input: "a,b,c\n",
    types: ["string", "string", "string"],
  },
];

Deno.test("sniff detects dialect, header and types on tricky samples", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = sniff(enc.encode(c.input));
      if (c.delimiter !== undefined) assertEquals(r.delimiter, c.delimiter);
      if (c.quote !== undefined) assertEquals(r.quote, c.quote);
      assertEquals(r.header, c.header ?? true);
      if (c.lineEnding !== undefined) assertEquals(r.lineEnding, c.lineEnding);
      assertEquals(r.bom, c.bom ?? false);
      if (c.types) assertEquals(r.columns.map((col) => show(col.type)), c.types);
      if (c.nullTokens) assertEquals(r.nullTokens, c.nullTokens);
    });
  }
});

Deno.test("sniff ignores the record cut at the end of a truncated sample", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => `${i},"name ${i}, x",${i}.25`).join("\n");
  const bytes = enc.encode("id,name,amount\n" + rows + "\n");
  const r = sniff(bytes, { maxBytes: 1000 });
  assertEquals(r.columns.map((c) => show(c.type)), ["int64", "string", "decimal(4,2)"]);
  assertEquals(r.columns.map((c) => c.nullable), [false, false, false]);
});

Deno.test("splitRecords handles doubled quotes and quoted newlines", () => {
  assertEquals(splitRecords('a,"b ""c""\nd"\r\ne,f', ",", '"').rows, [["a", 'b "c"\nd'], ["e", "f"]]);
});

// The package exports only its index; the CSV files sit beside it in data/. Importing it makes sure it is cached.
const vega = fileURLToPath(new URL("../data/", import.meta.resolve("vega-datasets")));

/** Expected types of real files from vega-datasets, checked against what the data actually holds. */
const vegaCases: { file: string; delimiter: string; types: Record<string, string> }[] = [
  {
    file: "seattle-weather.csv",
    delimiter: ",",
    types: { date: "date[%Y-%m-%d]", precipitation: "decimal(3,1)", weather: "string" },
  },
  { file: "github.csv", delimiter: ",", types: { time: "timestamp[%Y/%m/%d %H:%M:%S]", count: "int64" } },
  {
    file: "stocks.csv",
    delimiter: ",",
    types: { symbol: "string", date: "date[%b %d %Y]", price: "float64" },
  },
  { file: "unemployment.tsv", delimiter: "\t", types: { id: "int64", rate: "float64" } },
  { file: "zipcodes.csv", delimiter: ",", types: { zip_code: "string", latitude: "float64" } },
  { file: "airports.csv", delimiter: ",", types: { iata: "string", latitude: "float64" } },
  {
    file: "seattle-weather-hourly-normals.csv",
    delimiter: ",",
    types: { date: "timestamp[%Y-%m-%dT%H:%M:%S]", pressure: "decimal(5,1)" },
  },
];

Deno.test("sniff reads the vega-datasets CSV files", async (t) => {
  for (const c of vegaCases) {
    await t.step(c.file, async () => {
      const r = sniff(await Deno.readFile(vega + c.file));
      assertEquals(r.delimiter, c.delimiter);
      assertEquals(r.header, true);
      const got: Record<string, string> = {};
      for (const col of r.columns) if (col.name in c.types) got[col.name] = show(col.type);
      assertEquals(got, c.types);
    });
  }
});
