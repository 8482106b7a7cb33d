import assert from "node:assert/strict";
import type { Field } from "../pipeline/batch.ts";
import { CsvSyntaxError, KernelError } from "../pipeline/errors.ts";
import { compileKernels, instantiateKernels } from "./mod.ts";
import {
  createCsvParser,
  CSV_ABI_VERSION,
  CSV_COLUMN,
  CSV_COLUMN_SLOTS,
  CSV_FLAG,
  CSV_MAX_BATCH_ROWS,
  CSV_REJECT_SLOTS,
  CSV_RULE,
  CSV_STATE,
  CSV_STATE_SLOTS,
  CSV_STOP,
  CSV_TYPE,
  type CsvParserOptions,
} from "./csv.ts";
import { type CsvOutcome, parseChunks } from "./csv_testing.ts";
import { exportedConstants, kernelTestCore, seededRandom } from "./testing.ts";
import { type KernelRules, validateKernels } from "./validate.ts";
import { kernelColumn } from "../pipeline/validate.ts";

const core = await kernelTestCore();
const encoder = new TextEncoder();

function parse(text: string | Uint8Array, options: CsvParserOptions = {}, cuts: number[] = []): CsvOutcome {
  return parseChunks(core, typeof text === "string" ? encoder.encode(text) : text, options, cuts);
}

/** Rows, lines, rejects and error of an outcome, for compact expectations. */
function summary(o: CsvOutcome) {
  return {
    rows: o.rows,
    lines: o.lines,
    rejects: o.rejects.map((r) => `${r.line}:${r.column ?? "-"}:${r.rule}:${r.value}`),
    ...(o.error ? { error: o.error } : {}),
  };
}

Deno.test("CSV layout constants mirror the module's exports", async () => {
  const exports = new WebAssembly.Instance(await compileKernels(), {}).exports;
  const read = (prefix: string) => exportedConstants(exports, prefix);
  assert.deepStrictEqual({ ...CSV_STATE }, read("CSV_S_"));
  assert.deepStrictEqual({ ...CSV_COLUMN }, read("CSV_C_"));
  assert.deepStrictEqual({ ...CSV_TYPE }, read("CSV_TYPE_"));
  assert.deepStrictEqual({ ...CSV_RULE }, read("CSV_RULE_"));
  assert.deepStrictEqual({ ...CSV_STOP }, read("CSV_STOP_"));
  assert.equal(CSV_MAX_BATCH_ROWS, read("CSV_").MAX_BATCH_ROWS);
  assert.deepStrictEqual({ ...CSV_FLAG }, read("CSV_FLAG_"));
  assert.deepStrictEqual(
    [CSV_ABI_VERSION, CSV_STATE_SLOTS, CSV_COLUMN_SLOTS, CSV_REJECT_SLOTS],
    [
      read("CSV_").ABI_VERSION,
      read("CSV_").STATE_SLOTS,
      read("CSV_").COLUMN_SLOTS,
      read("CSV_").REJECT_SLOTS,
    ],
  );
});

Deno.test("CSV parser reads the real-world dialect", async (t) => {
  const cases: {
    name: string;
    text: string | Uint8Array;
    options?: CsvParserOptions;
    want: ReturnType<typeof summary>;
  }[] = [
    {
      name: "LF rows with a header",
      text: "a,b\n1,2\n3,4\n",
      want: { rows: [["1", "2"], ["3", "4"]], lines: [2, 3], rejects: [] },
    },
    {
      name: "CRLF rows",
      text: "a,b\r\n1,2\r\n3,4\r\n",
      want: { rows: [["1", "2"], ["3", "4"]], lines: [2, 3], rejects: [] },
    },
    {
      name: "lone CR rows",
      text: "a,b\r1,2\r3,4",
      want: { rows: [["1", "2"], ["3", "4"]], lines: [2, 3], rejects: [] },
    },
    {
      name: "mixed terminators",
      text: "a,b\r\n1,2\n3,4\r5,6",
      want: { rows: [["1", "2"], ["3", "4"], ["5", "6"]], lines: [2, 3, 4], rejects: [] },
    },
    {
      name: "byte-order mark is dropped",
      text: "\ufeffa,b\n1,2\n",
      want: { rows: [["1", "2"]], lines: [2], rejects: [] },
    },
    {
      name: "byte-order mark alone",
      text: "\ufeff",
      want: { rows: [], lines: [], rejects: [] },
    },
    {
      name: "no header names columns by position",
      text: "1,2\n3,4\n",
      options: { header: false },
      want: { rows: [["1", "2"], ["3", "4"]], lines: [1, 2], rejects: [] },
    },
    {
      name: "blank lines are skipped but counted",
      text: "\n\na,b\n\n1,2\r\n\r\n\r3,4\n\n",
      want: { rows: [["1", "2"], ["3", "4"]], lines: [5, 8], rejects: [] },
    },
    {
      name: "a line of spaces is a row, not a blank line",
      text: "a,b\n  \n1,2\n",
      want: { rows: [["1", "2"]], lines: [3], rejects: ["2:-:ragged:  "] },
    },
    {
      name: "trailing delimiter on every row",
      text: "a,b,\n1,2,\n3,4\n",
      want: { rows: [["1", "2"], ["3", "4"]], lines: [2, 3], rejects: [] },
    },
    {
      name: "a non-empty extra field is ragged",
      text: "a,b\n1,2,x\n",
      want: { rows: [], lines: [], rejects: ["2:-:ragged:1,2,x"] },
    },
    {
      name: "ragged rows are rejected, the rest goes on",
      text: "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12",
      want: {
        rows: [["1", "2", "3"], ["10", "11", "12"]],
        lines: [2, 5],
        rejects: ["3:-:ragged:4,5", "4:-:ragged:6,7,8,9"],
      },
    },
    {
      name: "quoted fields with delimiters, doubled quotes and newlines",
      text: 'a,b\n"x,y","say ""hi"""\n"l1\nl2","l3\r\nl4"\n"cr\rhere",z\nlast,row\n',
      want: {
        rows: [["x,y", 'say "hi"'], ["l1\nl2", "l3\r\nl4"], ["cr\rhere", "z"], ["last", "row"]],
        lines: [2, 3, 6, 8],
        rejects: [],
      },
    },
    {
      name: "quoted empty field and quoted header",
      text: '"a","b"\n"",x\n',
      want: { rows: [["", "x"]], lines: [2], rejects: [] },
    },
    {
      name: "a quote inside an unquoted field is an ordinary byte",
      text: 'h,w\n5\'10",ab"c\n',
      want: { rows: [["5'10\"", 'ab"c']], lines: [2], rejects: [] },
    },
    {
      name: "bytes after a closing quote reject the row",
      text: 'a,b\n"x"y,1\n2,3\n',
      want: { rows: [["2", "3"]], lines: [3], rejects: ['2:a:quote:"x"y'] },
    },
    {
      name: "last row without a terminator",
      text: "a\nx",
      want: { rows: [["x"]], lines: [2], rejects: [] },
    },
    {
      name: "empty input",
      text: "",
      want: { rows: [], lines: [], rejects: [] },
    },
    {
      name: "header only",
      text: "a,b\n",
      want: { rows: [], lines: [], rejects: [] },
    },
    {
      name: "semicolon delimiter",
      text: "a;b\n1,5;2\n",
      options: { delimiter: ";" },
      want: { rows: [["1,5", "2"]], lines: [2], rejects: [] },
    },
    {
      name: "tab delimiter",
      text: "a\tb\n1\t\t\n",
      options: { delimiter: "\t" },
      want: { rows: [["1", ""]], lines: [2], rejects: [] },
    },
    {
      name: "pipe delimiter and single-quote quoting",
      text: "a|b\n'x|y'|'it''s'\n",
      options: { delimiter: "|", quote: "'" },
      want: { rows: [["x|y", "it's"]], lines: [2], rejects: [] },
    },
    {
      name: "control byte delimiter",
      text: "a\x01b\nx\x01y\n",
      options: { delimiter: "\x01" },
      want: { rows: [["x", "y"]], lines: [2], rejects: [] },
    },
    {
      name: "quoting turned off",
      text: 'a,b\n"x,y\n',
      options: { quote: null },
      want: { rows: [['"x', "y"]], lines: [2], rejects: [] },
    },
    {
      name: "multi-byte UTF-8 passes",
      text: 'a,b\nžluťoučký,中文\n😀,"é"\n',
      want: { rows: [["žluťoučký", "中文"], ["😀", "é"]], lines: [2, 3], rejects: [] },
    },
    {
      name: "null tokens in untyped mode",
      text: "a,b\nNULL,\n",
      options: { nullTokens: ["NULL", ""] },
      want: { rows: [[null, null]], lines: [2], rejects: [] },
    },
    {
      name: "quoted null tokens stay strings",
      text: 'a,b\n"NULL",""\n',
      options: { nullTokens: ["NULL", ""] },
      want: { rows: [["NULL", ""]], lines: [2], rejects: [] },
    },
    {
      name: "field size limit",
      text: "a,b\n12345,1\n1234,1\n",
      options: { limits: { fieldBytes: 4 } },
      want: { rows: [["1234", "1"]], lines: [3], rejects: ["2:a:field_size:12345"] },
    },
    {
      name: "field size limit in a run of fields, before a quote problem",
      text: 'a,b,c,d\n1,2,3,4\n1,12,3,"4"x\n1,2,"3"x,4444\n',
      options: { limits: { fieldBytes: 1 } },
      want: { rows: [["1", "2", "3", "4"]], lines: [2], rejects: ["3:b:field_size:12", '4:c:quote:"3"x'] },
    },
    {
      name: "row size limit",
      text: "a,b\n123,45\n12,45\n",
      options: { limits: { rowBytes: 5 } },
      want: { rows: [["12", "45"]], lines: [3], rejects: ["2:-:row_size:123,45"] },
    },
    {
      name: "unterminated quote on the first line",
      text: '"abc',
      options: { header: false },
      want: { rows: [], lines: [], rejects: [], error: "1:1" },
    },
    {
      name: "unterminated quote after quoted newlines",
      text: 'a,b\n"x\ny",1\n2,"open\nrest\n',
      want: { rows: [["x\ny", "1"]], lines: [2], rejects: [], error: "4:3" },
    },
    {
      name: "unterminated quote column counts bytes after a BOM",
      text: '\ufeffa,"b',
      options: { header: false },
      want: { rows: [], lines: [], rejects: [], error: "1:3" },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepStrictEqual(summary(parse(c.text, c.options)), c.want));
  }
});

Deno.test("CSV parser rejects rows that are not UTF-8", async (t) => {
  const cases: { name: string; bytes: number[] }[] = [
    { name: "lone continuation byte", bytes: [0x80] },
    { name: "0xff", bytes: [0xff] },
    { name: "overlong two-byte form", bytes: [0xc0, 0xaf] },
    { name: "overlong three-byte form", bytes: [0xe0, 0x80, 0xaf] },
    { name: "surrogate", bytes: [0xed, 0xa0, 0x80] },
    { name: "above U+10FFFF", bytes: [0xf4, 0x90, 0x80, 0x80] },
    { name: "truncated sequence before the delimiter", bytes: [0xe2, 0x82] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const bytes = new Uint8Array([
        ...encoder.encode("a,b\nok,1\nx"),
        ...c.bytes,
        ...encoder.encode(",2\n€,3"),
      ]);
      const o = parse(bytes);
      assert.deepStrictEqual(o.rows, [["ok", "1"], ["€", "3"]]);
      assert.deepStrictEqual(o.rejects.map((r) => [r.line, r.column, r.rule]), [[3, null, "utf8"]]);
    });
  }
  await t.step("truncated sequence at the end of input", () => {
    const o = parse(new Uint8Array([...encoder.encode("a\nx"), 0xf0, 0x9f, 0x98]));
    assert.deepStrictEqual(o.rejects.map((r) => [r.line, r.rule]), [[2, "utf8"]]);
  });
  await t.step("an invalid byte deep in a long row spanning blocks", () => {
    const long = "y".repeat(150);
    const o = parse(
      new Uint8Array([...encoder.encode(`a\n${long}`), 0xff, ...encoder.encode(`${long}\nz\n`)]),
    );
    assert.deepStrictEqual({ rows: o.rows, rejects: o.rejects.map((r) => r.line) }, {
      rows: [["z"]],
      rejects: [2],
    });
  });
});

const TYPED: Field[] = [
  { name: "i", type: "int64" },
  { name: "f", type: "float64" },
  { name: "d", type: "decimal", precision: 6, scale: 2 },
  { name: "b", type: "boolean" },
  { name: "day", type: "date" },
  { name: "ts", type: "timestamp" },
  { name: "s", type: "string" },
];

Deno.test("CSV parser decodes typed columns", async (t) => {
  const cases: { name: string; column: string; text: string; want: unknown }[] = [
    { name: "int64 zero", column: "i", text: "0", want: 0n },
    { name: "int64 signs", column: "i", text: "-42", want: -42n },
    { name: "int64 plus", column: "i", text: "+7", want: 7n },
    { name: "int64 leading zeros", column: "i", text: "000000000000000000000012", want: 12n },
    { name: "int64 max", column: "i", text: "9223372036854775807", want: 9223372036854775807n },
    { name: "int64 min", column: "i", text: "-9223372036854775808", want: -9223372036854775808n },
    { name: "int64 surrounding spaces", column: "i", text: "  5 ", want: 5n },
    { name: "int64 eight digits", column: "i", text: "98765432", want: 98765432n },
    { name: "int64 nine digits", column: "i", text: "-987654321", want: -987654321n },
    { name: "int64 eight digits with leading zeros", column: "i", text: "00000007", want: 7n },
    { name: "float64 plain", column: "f", text: "1.5", want: 1.5 },
    { name: "float64 exponent", column: "f", text: "-2.5E-3", want: -0.0025 },
    { name: "float64 leading dot", column: "f", text: ".5", want: 0.5 },
    { name: "float64 trailing dot", column: "f", text: "5.", want: 5 },
    { name: "float64 negative zero", column: "f", text: "-0", want: -0 },
    { name: "float64 infinity", column: "f", text: "-Infinity", want: -Infinity },
    { name: "float64 inf", column: "f", text: "inf", want: Infinity },
    { name: "float64 nan", column: "f", text: "NaN", want: NaN },
    { name: "float64 overflow", column: "f", text: "1e400", want: Infinity },
    { name: "float64 underflow", column: "f", text: "1e-400", want: 0 },
    { name: "decimal scaled", column: "d", text: "12.3", want: "12.30" },
    { name: "decimal negative", column: "d", text: "-0.05", want: "-0.05" },
    { name: "decimal integer", column: "d", text: "1234", want: "1234.00" },
    { name: "decimal extra zeros", column: "d", text: "1.2300", want: "1.23" },
    { name: "decimal leading dot", column: "d", text: ".5", want: "0.50" },
    { name: "decimal at full precision", column: "d", text: "-9999.99", want: "-9999.99" },
    { name: "decimal with leading zeros", column: "d", text: "000012.5", want: "12.50" },
    { name: "boolean true", column: "b", text: "TRUE", want: true },
    { name: "boolean yes", column: "b", text: "Yes", want: true },
    { name: "boolean 1", column: "b", text: "1", want: true },
    { name: "boolean false", column: "b", text: "fAlSe", want: false },
    { name: "boolean no", column: "b", text: "NO", want: false },
    { name: "boolean 0", column: "b", text: "0", want: false },
    { name: "date", column: "day", text: "2024-02-29", want: "2024-02-29" },
    { name: "date before the epoch", column: "day", text: "1900-03-01", want: "1900-03-01" },
    { name: "date year 0000", column: "day", text: "0000-01-01", want: "0000-01-01" },
    {
      name: "timestamp with Z",
      column: "ts",
      text: "2024-01-02T03:04:05Z",
      want: "2024-01-02T03:04:05.000000Z",
    },
    {
      name: "timestamp with space",
      column: "ts",
      text: "2024-01-02 03:04:05",
      want: "2024-01-02T03:04:05.000000Z",
    },
    {
      name: "timestamp micros",
      column: "ts",
      text: "2024-01-02T03:04:05.123456Z",
      want: "2024-01-02T03:04:05.123456Z",
    },
    {
      name: "timestamp nanos truncated",
      column: "ts",
      text: "2024-01-02T03:04:05.123456789Z",
      want: "2024-01-02T03:04:05.123456Z",
    },
    {
      name: "timestamp one fraction digit",
      column: "ts",
      text: "2024-01-02T03:04:05.1",
      want: "2024-01-02T03:04:05.100000Z",
    },
    {
      name: "timestamp +hh:mm",
      column: "ts",
      text: "2024-01-02T03:04:05+05:30",
      want: "2024-01-01T21:34:05.000000Z",
    },
    {
      name: "timestamp -hhmm",
      column: "ts",
      text: "2024-01-02T23:00:00-0130",
      want: "2024-01-03T00:30:00.000000Z",
    },
    { name: "timestamp +hh", column: "ts", text: "2024-01-02T03:00+01", want: "2024-01-02T02:00:00.000000Z" },
    {
      name: "timestamp without seconds",
      column: "ts",
      text: "2024-01-02T03:04",
      want: "2024-01-02T03:04:00.000000Z",
    },
    { name: "timestamp date only", column: "ts", text: "2024-01-02", want: "2024-01-02T00:00:00.000000Z" },
    {
      name: "timestamp before the epoch",
      column: "ts",
      text: "1969-12-31T23:59:59.999999Z",
      want: "1969-12-31T23:59:59.999999Z",
    },
    {
      name: "timestamp lower-case t and z",
      column: "ts",
      text: "2024-01-02t03:04:05z",
      want: "2024-01-02T03:04:05.000000Z",
    },
    { name: "string keeps spaces", column: "s", text: " x ", want: " x " },
    { name: "empty is null", column: "i", text: "", want: null },
    { name: "spaces only is null", column: "f", text: "  ", want: null },
    { name: "null token", column: "day", text: "NA", want: null },
    { name: "backslash N token", column: "ts", text: "\\N", want: null },
    { name: "quoted empty typed field is null", column: "i", text: '""', want: null },
    { name: "quoted typed value", column: "i", text: '"17"', want: 17n },
    { name: "quoted empty string is not null", column: "s", text: '""', want: "" },
    { name: "unquoted empty string is null", column: "s", text: "", want: null },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const index = TYPED.findIndex((f) => f.name === c.column);
      const cells = TYPED.map((_, i) => (i === index ? c.text : ""));
      const o = parse(`${cells.join(",")}\n`, {
        header: false,
        columns: TYPED,
        nullTokens: ["", "NA", "\\N"],
      });
      assert.deepStrictEqual(o.rejects, []);
      assert.deepStrictEqual(o.rows[0][index], c.want);
    });
  }
});

Deno.test("CSV parser rejects values that do not fit their type", async (t) => {
  const cases: { column: string; text: string }[] = [
    { column: "i", text: "1.5" },
    { column: "i", text: "12a" },
    { column: "i", text: "-" },
    { column: "i", text: "9223372036854775808" },
    { column: "i", text: "-9223372036854775809" },
    { column: "i", text: "99999999999999999999" },
    { column: "i", text: "1 2" },
    { column: "f", text: "1e" },
    { column: "f", text: "." },
    { column: "f", text: "0x10" },
    { column: "f", text: "1;5" },
    { column: "f", text: "--1" },
    { column: "f", text: "infinit" },
    { column: "d", text: "1.234" },
    { column: "d", text: "10000.5" },
    { column: "d", text: "12.3x" },
    { column: "d", text: "1.2.3" },
    { column: "i", text: "1234567x" },
    { column: "i", text: "/0123456" },
    { column: "i", text: "12:45" },
    { column: "d", text: "10000" },
    { column: "d", text: "1e2" },
    { column: "d", text: "." },
    { column: "b", text: "maybe" },
    { column: "b", text: "tru" },
    { column: "b", text: "2" },
    { column: "day", text: "2023-02-29" },
    { column: "day", text: "2024-13-01" },
    { column: "day", text: "2024-1-01" },
    { column: "day", text: "2024/01/01" },
    { column: "day", text: "2024-04-31" },
    { column: "ts", text: "2024-01-02T24:00:00Z" },
    { column: "ts", text: "2024-01-02T03:60:00Z" },
    { column: "ts", text: "2024-01-02T03:04:60Z" },
    { column: "ts", text: "2024-01-02T03:04:05." },
    { column: "ts", text: "2024-01-02T03:04:05.1234567890Z" },
    { column: "ts", text: "2024-01-02T03:04:05+5:00" },
    { column: "ts", text: "2024-01-02X03:04:05" },
    { column: "ts", text: "2024-01-02T03:04:05 UTC" },
  ];
  for (const c of cases) {
    await t.step(`${c.column} ${JSON.stringify(c.text)}`, () => {
      const index = TYPED.findIndex((f) => f.name === c.column);
      const cells = TYPED.map((_, i) => (i === index ? c.text : ""));
      const o = parse(
        `${TYPED.map((f) => f.name).join(",")}\n1,1,1,1,2024-01-01,2024-01-01,x\n${cells.join(",")}\n`,
        {
          columns: TYPED,
        },
      );
      assert.equal(o.rows.length, 1);
      assert.deepStrictEqual(o.rejects, [{ line: 3, column: c.column, rule: "type", value: c.text }]);
    });
  }
  await t.step("quoted value with doubled quotes is reported unescaped", () => {
    const o = parse('i\n"1""2"\n', { columns: [{ name: "i", type: "int64" }] });
    assert.deepStrictEqual(o.rejects, [{ line: 2, column: "i", rule: "type", value: '1"2' }]);
  });
});

Deno.test("CSV parser maps a header onto declared columns", async (t) => {
  const columns: Field[] = [{ name: "id", type: "int64" }, { name: "name", type: "string" }];
  await t.step("by name, in any order, dropping extra fields", () => {
    const o = parse("extra,name,id\nx,ann,1\ny,bob,2\n", { columns });
    assert.deepStrictEqual({ names: o.names, rows: o.rows }, {
      names: ["id", "name"],
      rows: [[1n, "ann"], [2n, "bob"]],
    });
  });
  await t.step("a missing declared column is a syntax error on the header line", () => {
    const o = parse("\nid,other\n1,2\n", { columns });
    assert.equal(o.error, "2:1");
  });
  await t.step("without a header, by position", () => {
    const o = parse("1,ann\n", { columns, header: false });
    assert.deepStrictEqual(o.rows, [[1n, "ann"]]);
  });
  await t.step("untyped mode makes repeated and empty names unique", () => {
    const o = parse("a,a,,b\n1,2,3,4\n");
    assert.deepStrictEqual(o.names, ["a", "a_2", "column3", "b"]);
  });
  await t.step("a malformed header is a syntax error", () => {
    assert.equal(parse('"a"x,b\n1,2\n').error, "1:1");
  });
  await t.step("a reject names the header's field when it is not a declared column", () => {
    const o = parse('id,junk,name\n1,"q"z,ann\n', { columns });
    assert.deepStrictEqual(o.rejects.map((r) => r.column), ["junk"]);
  });
});

Deno.test("CSV parser gives the same output for every way of cutting the input", async (t) => {
  const inputs: { name: string; text: string; options?: CsvParserOptions }[] = [
    { name: "CRLF, BOM, quotes and blank lines", text: '\ufeffa,b\r\n"x\r\ny","z"""\r\n\r\n1,2\r\n"",\r\n' },
    { name: "lone CR", text: 'a,b\r1,"2\r3"\r\r4,5\r' },
    { name: "doubled quotes at every position", text: 'a\n""""\n"a""b"\n"""c"\n""\n' },
    {
      name: "typed columns",
      text: "i,ts\n1,2024-01-01T00:00:00Z\n-2,2024-01-01 00:00:00.5+01:00\nx,\n",
      options: { columns: [{ name: "i", type: "int64" }, { name: "ts", type: "timestamp" }] },
    },
    { name: "untyped without a header", text: "1,2\r\n3,4\r\n", options: { header: false } },
    { name: "UTF-8 split anywhere", text: "a,b\n€uro,😀\nžž,\xff\n" },
    { name: "unterminated quote", text: 'a\n"x\n' },
    {
      name: "row limit skip across chunks",
      text: 'a,b\n1,"22222\n22",3\n4,5\n',
      options: { limits: { rowBytes: 6 } },
    },
  ];
  for (const input of inputs) {
    await t.step(input.name, () => {
      const bytes = encoder.encode(input.text);
      if (input.text.includes("\xff")) bytes[bytes.length - 2] = 0xff;
      const whole = parse(bytes, input.options);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j += 3) {
          assert.deepStrictEqual(parse(bytes, input.options, [i, j - i]), whole, `cuts at ${i} and ${j}`);
        }
      }
      const ones = parse(bytes, input.options, Array.from({ length: bytes.length }, () => 1));
      assert.deepStrictEqual(ones, whole, "one byte per chunk");
    });
  }
});

Deno.test("CSV parser keeps every reject and grows string columns that outgrow their room", async (t) => {
  await t.step("thousands of rejects in one chunk", () => {
    const n = 3000;
    const text = "a,b\n" +
      Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `${i},${i}\n` : `${i}\n`)).join("");
    const o = parse(text);
    assert.equal(o.rows.length, n / 3);
    assert.equal(o.rejects.length, n - n / 3);
    assert.deepStrictEqual(o.rejects.slice(0, 2).map((r) => r.line), [3, 4]);
    assert.deepStrictEqual(o.rows.at(-1), [`${n - 3}`, `${n - 3}`]);
  });
  await t.step("a string column that outgrows its data region", () => {
    // The first call learns that column a holds little; the second gives it a lot.
    const parser = createCsvParser(core, {});
    parser.push(encoder.encode("a,b\n" + "x,yyyyyyyyyyyyyyyyyyyy\n".repeat(2000)));
    const big = Array.from({ length: 2000 }, (_, i) => `${String(i).repeat(50)},y\n`).join("");
    const r = parser.push(encoder.encode(big));
    parser.finish();
    assert.equal(r.batch.length, 2000);
    const col = r.batch.columns.a;
    assert.ok(col.type === "string");
    const text = new TextDecoder().decode(col.data);
    assert.equal(text, Array.from({ length: 2000 }, (_, i) => String(i).repeat(50)).join(""));
  });
});

Deno.test("CSV parser grows its row buffers when rows get shorter than the last call's", async (t) => {
  // The first chunk's long rows make the parser expect few rows in the next: it runs out and grows.
  const fields: Field[] = [
    { name: "i", type: "int64" },
    { name: "f", type: "float64" },
    { name: "d", type: "decimal", precision: 10, scale: 2 },
    { name: "b", type: "boolean" },
    { name: "day", type: "date" },
    { name: "ts", type: "timestamp" },
    { name: "s", type: "string" },
  ];
  const header = fields.map((f) => f.name).join(",") + "\n";
  const long = Array.from(
    { length: 200 },
    (_, i) => `${i},${i}.5,${i}.25,true,2024-01-02,2024-01-02T03:04:05Z,${"L".repeat(300 + i)}\n`,
  ).join("");
  // Short rows of every kind: kept, null, ragged, a bad value, blank lines.
  const shortRow = (i: number) =>
    [
      `${i},1,2,false,2024-01-01,2024-01-01T00:00:00Z,s${i}\n`,
      `${i},,,,,,\n`,
      "x\n",
      `zz${i},,,,,,\n`,
      "\n",
    ][i % 5];
  const short = Array.from({ length: 5000 }, (_, i) => shortRow(i)).join("");
  const bytes = encoder.encode(header + long + short);
  const first = encoder.encode(header + long).length;
  for (const options of [{ columns: fields }, {}] as CsvParserOptions[]) {
    await t.step(options.columns ? "typed" : "untyped", () => {
      const whole = parse(bytes, options);
      // Untyped, the bad values are strings like any other.
      assert.equal(whole.rows.length, 200 + (options.columns ? 2000 : 3000));
      for (const cuts of [[first], [first, 1000], [first, 7, 20_000], [first + 3, 9000, 5]]) {
        assert.deepStrictEqual(parse(bytes, options, cuts), whole, `cuts ${cuts}`);
      }
    });
  }
  await t.step("a caller's row estimate sizes the buffers, never the output, however wrong", () => {
    const options: CsvParserOptions = { columns: fields };
    const run = (rows?: number) => {
      const parser = createCsvParser(core, options);
      const head = parser.push(bytes.subarray(0, first), rows === undefined ? undefined : { rows });
      return [head, parser.finish(bytes.subarray(first), rows === undefined ? undefined : { rows })];
    };
    const expected = run();
    assert.equal(expected[1].batch.length, 2000);
    for (const rows of [0, 1, 100, 2000, 5001, 1 << 24]) {
      assert.deepStrictEqual(run(rows), expected, `estimate ${rows}`);
    }
    for (const rows of [-1, 1.5, Number.NaN]) {
      assert.throws(() => createCsvParser(core, options).finish(bytes, { rows }), RangeError);
    }
  });
  await t.step("rejects alone fill the buffer, up to an oversized row at the end of a chunk", () => {
    const options: CsvParserOptions = { columns: fields, limits: { rowBytes: 600 } };
    for (let n = 40; n < 400; n += 7) {
      const tail = `${"x\n".repeat(n)}1,2,${"T".repeat(700)}`;
      const all = encoder.encode(header + long + tail + "\n1,,,,,,\n");
      const whole = parse(all, options);
      assert.equal(whole.rejects.length, n + 1);
      const cut = encoder.encode(header + long + tail).length;
      assert.deepStrictEqual(parse(all, options, [first, cut - first]), whole, `${n} rejects`);
    }
  });
});

Deno.test("CSV parser joins string data drained in the middle of a chunk", () => {
  const parser = createCsvParser(core, {});
  // The first chunk teaches the parser that column a is small, so the second starts with little room.
  parser.push(encoder.encode("a,b\n" + "x,yyyyyyyyyyyyyyyyyyyy\n".repeat(5000)));
  const small = Array.from({ length: 5000 }, (_, i) => `s${i % 10},y\n`).join("");
  const big = Array.from({ length: 5000 }, (_, i) => `${"B".repeat(40)}${i},y\n`).join("");
  const r = parser.push(encoder.encode(small + big));
  parser.finish();
  const col = r.batch.columns.a;
  assert.ok(col.type === "string");
  const want = [
    ...Array.from({ length: 5000 }, (_, i) => `s${i % 10}`),
    ...Array.from({ length: 5000 }, (_, i) => `${"B".repeat(40)}${i}`),
  ];
  assert.equal(col.offsets[10000], col.data.length);
  assert.deepStrictEqual(
    Array.from(
      { length: 10000 },
      (_, i) => new TextDecoder().decode(col.data.subarray(col.offsets[i], col.offsets[i + 1])),
    ),
    want,
  );
});

Deno.test("CSV parser validates its rows in place, like validateColumns on the copied batch", async () => {
  const columns: Field[] = [
    { name: "id", type: "int64" },
    { name: "name", type: "string" },
    { name: "price", type: "decimal", precision: 10, scale: 2 },
    { name: "day", type: "date" },
    { name: "score", type: "float64" },
    { name: "ok", type: "boolean" },
  ];
  const rules: KernelRules[] = [
    { required: true, min: 1n, unique: true },
    { minLength: 2, enum: ["ab", "abc", "zz"] },
    { max: 10000n },
    { min: 19000 },
    { min: 0, max: 1 },
    { required: true },
  ];
  const random = seededRandom(7);
  const names = ["ab", "abc", "zz", "q", ""];
  // The first chunk teaches the parser that `name` is small; the second then drains its data mid-call.
  const row = (i: number, long: boolean) =>
    `${random() < 0.02 ? i - 1 : i},${long ? "zz".repeat(40) : names[Math.floor(random() * 5)]},` +
    `${(random() * 120).toFixed(2)},2022-0${1 + Math.floor(random() * 9)}-01,${random() * 1.1},` +
    `${random() < 0.05 ? "" : "true"}\n`;
  const first = "id,name,price,day,score,ok\n" +
    Array.from({ length: 3000 }, (_, i) => row(i + 1, false)).join("");
  const second = Array.from({ length: 6000 }, (_, i) => row(i + 3001, i > 3000)).join("");
  const parser = createCsvParser(core, { columns, rules });
  const check = validateKernels(await kernelTestCore());
  for (const result of [parser.push(encoder.encode(first)), parser.finish(encoder.encode(second))]) {
    const b = result.batch;
    assert.ok(b.length > 2000 && result.verdict);
    const copied = columns.map((f) => kernelColumn(b.columns[f.name]));
    const want = check.validateColumns(copied, rules, b.length);
    assert.ok(want.rows.length > 10);
    assert.deepStrictEqual(result.verdict, want);
  }
});

Deno.test("CSV parser finish(last) reads like push(last) then finish()", () => {
  const text = encoder.encode('a,b\n1,"x\ny"\n2,3');
  const one = createCsvParser(core, {}).finish(text);
  const two = createCsvParser(core, {});
  const pushed = two.push(text);
  const finished = two.finish();
  assert.deepStrictEqual(one.batch.lines, Int32Array.of(2, 4));
  assert.deepStrictEqual([...pushed.batch.lines, ...finished.batch.lines], [2, 4]);
  assert.throws(() => createCsvParser(core, {}).finish(encoder.encode('a\n"open')), CsvSyntaxError);
});

Deno.test("CSV parser skips an oversized row without carrying it", () => {
  const parser = createCsvParser(core, { limits: { rowBytes: 64 } });
  const results = [
    parser.push(encoder.encode('a,b\n1,"' + "x".repeat(100))),
    parser.push(encoder.encode("y".repeat(100) + '\nstill quoted",')),
    parser.push(encoder.encode('tail\n2,3\n"open')),
  ];
  assert.throws(() => parser.finish(), (e) => e instanceof CsvSyntaxError && e.line === 5 && e.column === 1);
  assert.deepStrictEqual(results.map((r) => r.batch.length), [0, 0, 1]);
  assert.deepStrictEqual(results[0].rejects.map((r) => [r.line, r.rule, r.value.length]), [[
    2,
    "row_size",
    65,
  ]]);
  assert.deepStrictEqual(results[2].batch.lines, Int32Array.of(4));
});

Deno.test("CSV parser refuses to be used after finish", () => {
  const parser = createCsvParser(core, {});
  parser.finish();
  assert.throws(() => parser.push(new Uint8Array(1)), KernelError);
});

Deno.test("CSV parser checks its options", async (t) => {
  const cases: { name: string; options: CsvParserOptions }[] = [
    { name: "two-byte delimiter", options: { delimiter: ";;" } },
    { name: "LF delimiter", options: { delimiter: "\n" } },
    { name: "quote equal to the delimiter", options: { quote: "," } },
    {
      name: "decimal precision above 18",
      options: { columns: [{ name: "d", type: "decimal", precision: 19, scale: 2 }] },
    },
    { name: "zero row limit", options: { limits: { rowBytes: 0 } } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.throws(() => createCsvParser(core, c.options), RangeError));
  }
});

Deno.test("CSV parser drops rows with bad values from every column type and keeps the rest in order", () => {
  const random = seededRandom(99);
  const fields: Field[] = [
    { name: "i", type: "int64" },
    { name: "s", type: "string" },
    { name: "b", type: "boolean" },
    { name: "f", type: "float64" },
    { name: "day", type: "date" },
    { name: "d", type: "decimal", precision: 9, scale: 2 },
    { name: "ts", type: "timestamp" },
    { name: "s2", type: "string" },
  ];
  const good: ((i: number) => [string, unknown])[] = [
    (i) => [String(i * 7 - 3), BigInt(i * 7 - 3)],
    (i) => [i % 3 ? `"s,${i}"` : `s${i}`, i % 3 ? `s,${i}` : `s${i}`],
    (i) => (i % 2 ? ["yes", true] : ["false", false]),
    (i) => [`${i}.25`, i + 0.25],
    (
      i,
    ) => [
      `2024-03-${String(1 + (i % 28)).padStart(2, "0")}`,
      `2024-03-${String(1 + (i % 28)).padStart(2, "0")}`,
    ],
    (i) => [`${i}.5`, `${i}.50`],
    (
      i,
    ) => [
      `2024-03-01T00:00:${String(i % 60).padStart(2, "0")}Z`,
      `2024-03-01T00:00:${String(i % 60).padStart(2, "0")}.000000Z`,
    ],
    (i) => [`t${i}`, `t${i}`],
  ];
  const badText = ["x1", null, "maybe", "1e", "2024-02-30", "1.234", "2024-03-01T25:00Z", null];
  const want: { rows: unknown[][]; lines: number[]; rejects: string[] } = {
    rows: [],
    lines: [],
    rejects: [],
  };
  let text = fields.map((f) => f.name).join(",") + "\n";
  for (let i = 0; i < 20_000; i++) {
    const line = i + 2;
    const cells = good.map((g) => g(i));
    const texts = cells.map(([t]) => t);
    const values = cells.map(([, v]) => v);
    let firstBad = -1;
    for (let c = 0; c < fields.length; c++) {
      if (random() < 0.02) {
        if (badText[c] === null) {
          texts[c] = "";
          values[c] = null;
        } else {
          texts[c] = badText[c]!;
          if (firstBad < 0) firstBad = c;
        }
      }
    }
    if (random() < 0.01) {
      want.rejects.push(`${line}:-:ragged:${texts.slice(1).join(",")}`);
      text += texts.slice(1).join(",") + "\n";
      continue;
    }
    text += texts.join(",") + "\n";
    if (firstBad >= 0) {
      want.rejects.push(`${line}:${fields[firstBad].name}:type:${texts[firstBad]}`);
    } else {
      want.rows.push(values);
      want.lines.push(line);
    }
  }
  const got = summary(parse(text, { columns: fields }, [1 << 16, 1 << 17, 777]));
  assert.equal(got.rows.length, want.rows.length);
  assert.deepStrictEqual(got, want);
});

Deno.test("instantiateKernels exposes the CSV parser", async () => {
  const kernels = instantiateKernels(await compileKernels());
  const parser = kernels.createCsvParser({ columns: [{ name: "n", type: "int64" }] });
  const { batch } = parser.push(encoder.encode("n\n41\n"));
  parser.finish();
  assert.deepStrictEqual([...(batch.columns.n.type === "int64" ? batch.columns.n.values : [])], [41n]);
});

Deno.test("CSV parser numbers lines from firstLine", () => {
  const columns: Field[] = [{ name: "a", type: "int64" }, { name: "b", type: "string" }];
  const o = parse('a,b\n1,x\nbad,y\n3,"q\nq"\n4,z\n', { columns, firstLine: 41 }, [9]);
  assert.deepEqual(o.lines, [42, 44, 46]);
  assert.deepEqual(o.rejects.map((r) => r.line), [43]);
  assert.equal(parse('a,b\n1,"x\n', { columns, firstLine: 10 }).error, "11:3");
  assert.throws(() => parse("a,b\n", { columns, firstLine: 0 }), RangeError);
});

Deno.test("parser.line is the first line plus the line terminators read; a byte source parses like its bytes", () => {
  const texts = [
    "a,b\n1,2\n",
    'a,b\n1,"x\ny"\n\n\n3,4\r\n',
    "a,b\r\n1,2\r\n\r\n",
    'a,b\n1,"2\r\n"\n5,6',
    "a,b\r1,2\r3\r",
  ];
  const columns: Field[] = [{ name: "a", type: "string" }, { name: "b", type: "int64" }];
  for (const text of texts) {
    const bytes = encoder.encode(text);
    const terminators = text.replaceAll("\r\n", "\n").replaceAll("\r", "\n").split("\n").length - 1;
    const direct = createCsvParser(core, { columns, firstLine: 7 });
    const fromBytes = direct.finish(bytes);
    assert.equal(direct.line, 7 + terminators, JSON.stringify(text));
    const sourced = createCsvParser(core, { columns, firstLine: 7 });
    const fromSource = sourced.finish({ length: bytes.length, read: (into) => into.set(bytes) });
    assert.deepEqual(fromSource, fromBytes);
    assert.equal(sourced.line, direct.line);
  }
});
