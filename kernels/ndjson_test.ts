import assert from "node:assert/strict";
import { KernelError } from "../pipeline/errors.ts";
import { batchFromRows, type CellValue, type Field, rowValues } from "../pipeline/batch.ts";
import { encodeJsonLines } from "../pipeline/json_lines.ts";
import { jsonRow } from "../pipeline/sinks/json_row.ts";
import { compileKernels } from "./mod.ts";
import {
  createJsonParser,
  JSON_ABI_VERSION,
  JSON_COLUMN,
  JSON_COLUMN_SLOTS,
  JSON_MODE,
  JSON_REJECT_SLOTS,
  JSON_REJECT_VALUE_LIMIT,
  JSON_RULE,
  JSON_STATE,
  JSON_STATE_SLOTS,
  JSON_STOP,
  JSON_TYPE,
  type JsonColumn,
  type JsonReject,
} from "./ndjson.ts";
import { type JsonOutcome, parseJsonChunks } from "./ndjson_testing.ts";
import { exportedConstants, kernelTestCore, seededRandom } from "./testing.ts";

const core = await kernelTestCore();
const encoder = new TextEncoder();

Deno.test("JSON kernel constants mirror the module's exports", async () => {
  const exports = new WebAssembly.Instance(await compileKernels(), {}).exports;
  const read = (prefix: string) => exportedConstants(exports, prefix);
  assert.deepStrictEqual({ ...JSON_STATE }, read("JSON_S_"));
  assert.deepStrictEqual({ ...JSON_COLUMN }, read("JSON_C_"));
  assert.deepStrictEqual({ ...JSON_TYPE }, read("JSON_TYPE_"));
  assert.deepStrictEqual({ ...JSON_RULE }, read("JSON_RULE_"));
  assert.deepStrictEqual({ ...JSON_STOP }, read("JSON_STOP_"));
  assert.deepStrictEqual({ ...JSON_MODE }, read("JSON_MODE_"));
  assert.deepStrictEqual(
    [JSON_ABI_VERSION, JSON_STATE_SLOTS, JSON_COLUMN_SLOTS, JSON_REJECT_SLOTS, JSON_REJECT_VALUE_LIMIT],
    [
      "JSON_ABI_VERSION",
      "JSON_STATE_SLOTS",
      "JSON_COLUMN_SLOTS",
      "JSON_REJECT_SLOTS",
      "JSON_REJECT_VALUE_LIMIT",
    ].map((n) => Number((exports[n] as WebAssembly.Global).value)),
  );
});

const ID: JsonColumn = { name: "id", type: "int64", required: true };
const NAME: JsonColumn = { name: "name", type: "string" };

function parse(
  text: string | Uint8Array,
  columns: readonly JsonColumn[],
  format: "ndjson" | "array" = "ndjson",
) {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  return parseJsonChunks(core, bytes, { format, columns });
}

function rejectOf(line: number, column: string | null, rule: JsonReject["rule"], value: string): JsonReject {
  return { line, column, rule, value };
}

Deno.test("JSON reader decodes NDJSON into typed rows and rejects bad records", async (t) => {
  const cases: { name: string; input: string | Uint8Array; columns: JsonColumn[]; want: JsonOutcome }[] = [
    {
      name: "CRLF, blank lines and unknown keys",
      input: '{"id":1,"x":[1,{"y":null}]}\r\n\r\n  \n{"id":2}\n',
      columns: [ID],
      want: { rows: [[1n], [2n]], lines: [1, 4], rejects: [] },
    },
    {
      name: "a byte-order mark",
      input: Uint8Array.from([0xef, 0xbb, 0xbf, ...encoder.encode('{"id":3}')]),
      columns: [ID],
      want: { rows: [[3n]], lines: [1], rejects: [] },
    },
    {
      name: "escapes, surrogate pairs and a lone surrogate",
      input: String.raw`{"id":1,"name":"a\"b\\c\/\n\t\u00e9\ud83d\ude00\ud800x"}`,
      columns: [ID, NAME],
      want: { rows: [[1n, 'a"b\\c/\n\té😀\ufffdx']], lines: [1], rejects: [] },
    },
    {
      name: "nested values for a string column kept as written",
      input: '{"id":1,"name":{"a": [1, 2]}}\n{"id":2,"name":[]}',
      columns: [ID, NAME],
      want: { rows: [[1n, '{"a": [1, 2]}'], [2n, "[]"]], lines: [1, 2], rejects: [] },
    },
    {
      name: "an escaped key and a repeated key, the last winning",
      input: String.raw`{"\u0069d":1,"name":"a","name":"b"}`,
      columns: [ID, NAME],
      want: { rows: [[1n, "b"]], lines: [1], rejects: [] },
    },
    {
      name: "int64 bounds and non-integers",
      input:
        '{"id":9223372036854775807}\n{"id":-9223372036854775808}\n{"id":9223372036854775808}\n{"id":1.0}\n{"id":"1.0"}',
      columns: [ID],
      want: {
        rows: [[9223372036854775807n], [-9223372036854775808n]],
        lines: [1, 2],
        rejects: [
          rejectOf(3, "id", "type", "9223372036854775808"),
          rejectOf(4, "id", "type", "1.0"),
          rejectOf(5, "id", "type", '"1.0"'),
        ],
      },
    },
    {
      name: "timestamps, dates, decimals, floats and booleans",
      input: [
        '{"id":1,"ts":"2026-01-02T03:04:05.123456+01:00","d":"2024-02-29","m":-12.3,"f":1e-320,"b":false}',
        '{"id":2,"ts":"yesterday"}',
        '{"id":3,"d":"2023-02-29"}',
        '{"id":4,"m":1.234}',
        '{"id":5,"f":"1"}',
        '{"id":6,"b":0}',
      ].join("\n"),
      columns: [
        ID,
        { name: "ts", type: "timestamp" },
        { name: "d", type: "date" },
        { name: "m", type: "decimal", precision: 6, scale: 2 },
        { name: "f", type: "float64" },
        { name: "b", type: "boolean" },
      ],
      want: {
        rows: [[1n, "2026-01-02T02:04:05.123456Z", "2024-02-29", "-12.30", 1e-320, false]],
        lines: [1],
        rejects: [
          rejectOf(2, "ts", "type", '"yesterday"'),
          rejectOf(3, "d", "type", '"2023-02-29"'),
          rejectOf(4, "m", "type", "1.234"),
          rejectOf(5, "f", "type", '"1"'),
          rejectOf(6, "b", "type", "0"),
        ],
      },
    },
    {
      name: "int64 and decimal numbers written as strings, float64 non-finite strings",
      input: [
        String.raw`{"id":"9007199254740993","m":"12.3","f":"NaN"}`,
        String.raw`{"id":"-9223372036854775808","m":"-0.50","f":"-Infinity"}`,
        String.raw`{"id":"\u0037","m":"\u0031\u0032.30","f":"Infinity"}`,
        String.raw`{"id":"0","m":"0","f":1.5}`,
        String.raw`{"id":"9223372036854775808"}`,
        String.raw`{"id":"07"}`,
        String.raw`{"id":"+7"}`,
        String.raw`{"id":" 7"}`,
        String.raw`{"id":""}`,
        String.raw`{"id":1,"m":"1.234"}`,
        String.raw`{"id":1,"m":"10000.00"}`,
        String.raw`{"id":1,"m":"1e2"}`,
        String.raw`{"id":1,"m":".5"}`,
        String.raw`{"id":1,"m":"12.30 "}`,
        String.raw`{"id":1,"m":"12\u0000"}`,
        String.raw`{"id":1,"f":"nan"}`,
        String.raw`{"id":1,"f":"1.5"}`,
        String.raw`{"id":1,"f":"Infinityy"}`,
      ].join("\n"),
      columns: [ID, { name: "m", type: "decimal", precision: 6, scale: 2 }, { name: "f", type: "float64" }],
      want: {
        rows: [
          [9007199254740993n, "12.30", NaN],
          [-9223372036854775808n, "-0.50", -Infinity],
          [7n, "12.30", Infinity],
          [0n, "0.00", 1.5],
        ],
        lines: [1, 2, 3, 4],
        rejects: [
          rejectOf(5, "id", "type", '"9223372036854775808"'),
          rejectOf(6, "id", "type", '"07"'),
          rejectOf(7, "id", "type", '"+7"'),
          rejectOf(8, "id", "type", '" 7"'),
          rejectOf(9, "id", "type", '""'),
          rejectOf(10, "m", "type", '"1.234"'),
          rejectOf(11, "m", "type", '"10000.00"'),
          rejectOf(12, "m", "type", '"1e2"'),
          rejectOf(13, "m", "type", '".5"'),
          rejectOf(14, "m", "type", '"12.30 "'),
          rejectOf(15, "m", "type", String.raw`"12\u0000"`),
          rejectOf(16, "f", "type", '"nan"'),
          rejectOf(17, "f", "type", '"1.5"'),
          rejectOf(18, "f", "type", '"Infinityy"'),
        ],
      },
    },
    {
      name: "missing and null required fields",
      input: '{"name":"a"}\n{"id":null}\n{"id":1,"name":null}',
      columns: [ID, NAME],
      want: {
        rows: [[1n, null]],
        lines: [3],
        rejects: [rejectOf(1, "id", "required", ""), rejectOf(2, "id", "required", "null")],
      },
    },
    {
      name: "bad JSON lines, reported without their CR",
      input: '{"id":1,}\r\n[1]\n{"id":1} {"id":2}\n{"name":"a\tb"}\n{"id":01}\n' + "[".repeat(2000) + "\n",
      columns: [ID],
      want: {
        rows: [],
        lines: [],
        rejects: [
          rejectOf(1, null, "json", '{"id":1,}'),
          rejectOf(2, null, "json", "[1]"),
          rejectOf(3, null, "json", '{"id":1} {"id":2}'),
          rejectOf(4, null, "json", '{"name":"a\tb"}'),
          rejectOf(5, null, "json", '{"id":01}'),
          rejectOf(6, null, "json", "[".repeat(2000)),
        ],
      },
    },
    {
      name: "nesting deeper than 1024 levels",
      input: `{"id":1,"x":${"[".repeat(1025)}${"]".repeat(1025)}}\n{"id":2,"x":${"[".repeat(1000)}${
        "]".repeat(1000)
      }}`,
      columns: [ID],
      want: {
        rows: [[2n]],
        lines: [2],
        rejects: [rejectOf(1, null, "json", `{"id":1,"x":${"[".repeat(1025)}${"]".repeat(1025)}}`)],
      },
    },
    {
      name: "invalid UTF-8",
      input: Uint8Array.from([
        ...encoder.encode('{"id":1,"name":"a'),
        0xc3,
        ...encoder.encode('"}\n{"id":2}'),
      ]),
      columns: [ID, NAME],
      want: {
        rows: [[2n, null]],
        lines: [2],
        rejects: [rejectOf(1, null, "utf8", '{"id":1,"name":"a\ufffd"}')],
      },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepStrictEqual(parse(c.input, c.columns), c.want));
  }
});

Deno.test("JSON reader reads the elements of JSON arrays", async (t) => {
  const cases: { name: string; input: string; want: JsonOutcome }[] = [
    {
      name: "objects over several lines",
      input: '[\n  {"id": 1,\n   "name": "a"},\n  {"id": 2}\n]\n',
      want: { rows: [[1n, "a"], [2n, null]], lines: [2, 4], rejects: [] },
    },
    { name: "an empty array", input: " [ ] ", want: { rows: [], lines: [], rejects: [] } },
    {
      name: "bad elements, empty elements and a trailing comma",
      input: '[{"id":1}, 5, {"id":"x"},, {"id":2},]',
      want: {
        rows: [[1n, null], [2n, null]],
        lines: [1, 1],
        rejects: [
          rejectOf(1, null, "json", "5"),
          rejectOf(1, "id", "type", '"x"'),
          rejectOf(1, null, "json", ""),
          rejectOf(1, null, "json", ""),
        ],
      },
    },
    {
      name: "several arrays and lone objects",
      input: '[{"id":1}]\n{"id":2}\n[{"id":3}] x',
      want: {
        rows: [[1n, null], [2n, null], [3n, null]],
        lines: [1, 2, 3],
        rejects: [rejectOf(3, null, "json", "x")],
      },
    },
    {
      name: "an array cut off keeps its complete elements",
      input: '[{"id":1},{"id":2',
      want: { rows: [[1n, null]], lines: [1], rejects: [rejectOf(1, null, "json", '{"id":2')] },
    },
    {
      name: "brackets and commas inside strings",
      input: '[{"id":1,"name":"],[{,\\""}]',
      want: { rows: [[1n, '],[{,"']], lines: [1], rejects: [] },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepStrictEqual(parse(c.input, [ID, NAME], "array"), c.want));
  }
});

Deno.test("JSON reader handles pushes larger than a kernel slice", () => {
  const line = '{"id":7,"name":"abcdefghijklmnopqrstuvwxyz","ok":true,"f":0.5}\n';
  const n = Math.ceil((9 << 20) / line.length);
  const bytes = encoder.encode(line.repeat(n));
  const parser = createJsonParser(core, {
    columns: [ID, NAME, { name: "ok", type: "boolean" }, { name: "f", type: "float64" }],
  });
  const a = parser.push(bytes);
  const b = parser.finish();
  assert.strictEqual(a.batch.length + b.batch.length, n);
  const last = a.batch.length - 1;
  assert.strictEqual(a.batch.lines[last], last + 1);
  const names = a.batch.columns.name;
  assert.ok(names.type === "string");
  assert.strictEqual(names.offsets[last + 1], 26 * (last + 1));
  const ok = a.batch.columns.ok;
  assert.ok(ok.type === "boolean" && ok.values[last >> 3] >> (last & 7) & 1);
});

Deno.test("JSON reader reports more rejects than one kernel call holds", () => {
  const got = parse("x\n".repeat(3000) + '{"id":1}\n', [ID]);
  assert.strictEqual(got.rejects.length, 3000);
  assert.deepStrictEqual(got.rejects[2999], rejectOf(3000, null, "json", "x"));
  assert.deepStrictEqual(got.lines, [3001]);
});

Deno.test("JSON reader rejects records over the size limit whatever the chunking", async (t) => {
  const long = `{"id":1,"name":"${"x".repeat(3000)}"}`;
  for (const format of ["ndjson", "array"] as const) {
    await t.step(format, () => {
      const text = format === "ndjson"
        ? `{"id":0}\n${long}\r\n{"id":2}\n`
        : `[{"id":0},\n${long},\n{"id":2}]`;
      const bytes = encoder.encode(text);
      const options = { format, columns: [ID], maxRecordBytes: 2000 };
      const whole = parseJsonChunks(core, bytes, options);
      assert.deepStrictEqual(whole, {
        rows: [[0n], [2n]],
        lines: [1, 3],
        rejects: [rejectOf(2, null, "size", long.slice(0, 1024))],
      });
      assert.deepStrictEqual(parseJsonChunks(core, bytes, options, Array(40).fill(100)), whole);
    });
  }
});

Deno.test("JSON reader reads numbers in strings the same whatever the chunking", () => {
  const text = [
    String.raw`{"id":"9007199254740993","m":"12.3","f":"NaN"}`,
    String.raw`{"id":"\u0037","m":"\u0031\u0032.30","f":"-Infinity"}`,
    String.raw`{"id":"07","m":"1.5"}`,
    String.raw`{"id":"-42","m":"1.234","f":"Infinity"}`,
  ].join("\r\n");
  const bytes = encoder.encode(text);
  const columns: JsonColumn[] = [
    ID,
    { name: "m", type: "decimal", precision: 6, scale: 2 },
    { name: "f", type: "float64" },
  ];
  for (const format of ["ndjson", "array"] as const) {
    const input = format === "ndjson" ? bytes : encoder.encode(`[${text.replaceAll("\r\n", ",\n")}]`);
    const whole = parseJsonChunks(core, input, { format, columns });
    assert.strictEqual(whole.rows.length, 2, format);
    assert.strictEqual(whole.rejects.length, 2, format);
    // Every cut into two pieces, so each string body is split at every byte, quotes and escapes included.
    for (let cut = 1; cut < input.length; cut++) {
      assert.deepStrictEqual(
        parseJsonChunks(core, input, { format, columns }, [cut]),
        whole,
        `${format} ${cut}`,
      );
    }
  }
});

/** Columns of every type, with the extremes weir's JSON writers treat specially. */
const ROUND_TRIP_FIELDS: Field[] = [
  { name: "id", type: "int64" },
  { name: "price", type: "float64" },
  { name: "amount", type: "decimal", precision: 18, scale: 4 },
  { name: "whole", type: "decimal", precision: 18, scale: 0 },
  { name: "fine", type: "decimal", precision: 18, scale: 17 },
  { name: "ok", type: "boolean" },
  { name: "day", type: "date" },
  { name: "at", type: "timestamp" },
  { name: "name", type: "string" },
];

function roundTripRows(): unknown[][] {
  const rows: unknown[][] = [
    [
      9223372036854775807n,
      Infinity,
      "99999999999999.9999",
      "999999999999999999",
      "9.99999999999999999",
      true,
      "9999-12-31",
      "9999-12-31T23:59:59.999999Z",
      'q"\\\n\t\u0001é中😀',
    ],
    [
      -9223372036854775808n,
      -Infinity,
      "-99999999999999.9999",
      "-999999999999999999",
      "-0.00000000000000001",
      false,
      "0001-01-01",
      "0001-01-01T00:00:00.000000Z",
      "",
    ],
    [
      9007199254740993n,
      NaN,
      "0.0000",
      "0",
      "0.00000000000000000",
      null,
      "1970-01-01",
      "1969-12-31T23:59:59.999999Z",
      "x",
    ],
    [-9007199254740991n, 5e-324, "0.0001", "-1", null, true, null, "2026-11-28T12:00:00.000001Z", null],
    [null, null, null, null, null, null, null, null, null],
  ];
  const rnd = seededRandom(4);
  for (let i = 0; i < 300; i++) {
    const sign = rnd() < 0.5 ? "-" : "";
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join("");
    rows.push([
      BigInt(`${sign}${digits(1 + Math.floor(rnd() * 18))}`),
      (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20),
      `${sign}${digits(1 + Math.floor(rnd() * 14))}.${digits(4)}`,
      `${sign}${digits(1 + Math.floor(rnd() * 18))}`,
      `${sign}0.${digits(17)}`,
      rnd() < 0.5,
      new Date(Math.floor(rnd() * 2e13) - 1e13).toISOString().slice(0, 10),
      `${new Date(Math.floor(rnd() * 2e13) - 1e13).toISOString().slice(0, 19)}.${digits(6)}Z`,
      String.fromCodePoint(...Array.from({ length: Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 0x800))),
    ].map((v) => (rnd() < 0.05 ? null : v)));
  }
  return rows;
}

Deno.test("JSON reader reads back what weir's JSON writers wrote, value for value", async (t) => {
  const batch = batchFromRows(ROUND_TRIP_FIELDS, roundTripRows());
  const want = Array.from({ length: batch.length }, (_, i) => rowValues(batch, i));
  const readBack = (bytes: Uint8Array): CellValue[][] => {
    const got = parse(bytes, ROUND_TRIP_FIELDS);
    assert.deepStrictEqual(got.rejects, []);
    return got.rows;
  };
  await t.step("JSON lines (pipeline/json_lines.ts, the NDJSON file sink)", () => {
    assert.deepStrictEqual(readBack(encodeJsonLines(batch)), want);
  });
  await t.step("JSON rows (pipeline/sinks/json_row.ts, the kafka and redis values)", () => {
    const text = want.map((_, i) => JSON.stringify(jsonRow(batch, i))).join("\n");
    assert.deepStrictEqual(readBack(encoder.encode(text)), want);
  });
});

Deno.test("JSON reader refuses bad use", async (t) => {
  await t.step("a column declared twice", () => {
    assert.throws(() => createJsonParser(core, { columns: [ID, ID] }), RangeError);
  });
  await t.step("a push after finish", () => {
    const parser = createJsonParser(core, { columns: [ID] });
    parser.finish();
    assert.throws(() => parser.push(new Uint8Array(1)), KernelError);
  });
});
