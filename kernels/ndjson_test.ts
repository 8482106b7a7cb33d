import assert from "node:assert/strict";
import { KernelError } from "../pipeline/errors.ts";
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
import { exportedConstants, kernelTestCore } from "./testing.ts";

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
        '{"id":9223372036854775807}\n{"id":-9223372036854775808}\n{"id":9223372036854775808}\n{"id":1.0}\n{"id":"1"}',
      columns: [ID],
      want: {
        rows: [[9223372036854775807n], [-9223372036854775808n]],
        lines: [1, 2],
        rejects: [
          rejectOf(3, "id", "type", "9223372036854775808"),
          rejectOf(4, "id", "type", "1.0"),
          rejectOf(5, "id", "type", '"1"'),
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
