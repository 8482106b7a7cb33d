import assert from "node:assert/strict";
import { batchFromRows, type CellValue, cellValue } from "../batch.ts";
import { ConfigError } from "../errors.ts";
import { compileExpression, ExpressionError } from "./mod.ts";
import { compileFixture, evaluateFixture, FIXTURE } from "./testing.ts";

type Case = [source: string, expected: CellValue[], errors?: number];

const d = (iso: string) => iso; // dates and timestamps come back as ISO text
const all = (v: CellValue): CellValue[] => [v, v, v, v];

async function table(t: Deno.TestContext, cases: Case[]) {
  for (const [source, expected, errors = 0] of cases) {
    await t.step(source, () => {
      const result = evaluateFixture(source);
      assert.deepEqual(result.values, expected);
      assert.equal(result.errors, errors, "runtime errors");
    });
  }
}

Deno.test("arithmetic keeps int64 exact, scales decimals and nulls errors", async (t) => {
  await table(t, [
    ["i + j", [9n, -3n, null, null]],
    ["i - j", [5n, -3n, null, null]],
    ["i * j", [14n, 0n, null, null]],
    ["i % j", [1n, null, null, null], 1],
    ["i / j", [3.5, null, null, null], 1],
    ["div(i, j)", [3n, null, null, null], 1],
    ["div(-7, 2)", all(-3n)],
    ["-7 % 2", all(-1n)],
    ["i % 0", [null, null, null, null], 3],
    ["a + 1", ["3.50", "-0.25", null, "1.10"]],
    ["a + 0.005", ["2.505", "-1.245", null, "0.105"]],
    ["a - a", ["0.00", "0.00", null, "0.00"]],
    ["a * j", ["5.00", "0.00", null, null]],
    ["a * a", ["6.2500", "1.5625", null, "0.0100"]],
    ["a / j", ["1.250000", null, null, null], 1],
    ["a / 3", ["0.833333", "-0.416667", null, "0.033333"]],
    ["a % 1", ["0.50", "-0.25", null, "0.10"]],
    ["a * f", [3.75, 0.625, null, 0.2]],
    ["-a", ["-2.50", "1.25", null, "-0.10"]],
    ["-i", [-7n, 3n, null, -0n]],
    ["f * 2 - 1", [2, -2, null, 3]],
    ["f / 0", [null, null, null, null], 3],
    ["big + 1", [9007199254740994n, -9223372036854775806n, null, null], 1],
    ["big * 2", [18014398509481986n, null, null, null], 2],
    ["-big", [-9007199254740993n, 9223372036854775807n, null, -9223372036854775807n]],
    ["big - big", [0n, 0n, null, 0n]],
    ["-9223372036854775808", all(-9223372036854775808n)],
    ["1 + null", all(null)],
  ]);
});

Deno.test("comparisons widen numbers, order strings by code point and read date literals", async (t) => {
  await table(t, [
    ["i > j", [true, false, null, null]],
    ["i = 7", [true, false, null, false]],
    ["i == 7", [true, false, null, false]],
    ["i != 7", [false, true, null, true]],
    ["i <> 7", [false, true, null, true]],
    ["i <= 0", [false, true, null, true]],
    ["i >= 0", [true, false, null, true]],
    ["i < 0", [false, true, null, false]],
    ["a >= 0", [true, false, null, true]],
    ["a = 2.5", [true, false, null, false]],
    ["a < f", [false, true, null, true]],
    ["big > 9007199254740992", [true, false, null, true]],
    ["s = 'Hello'", [true, false, null, false]],
    ["s < 'a'", [true, false, null, true]],
    ["s > 'hz'", [false, true, null, false]], // é (U+00E9) sorts after z
    ["d < ts", [true, true, null, false]],
    ["ts >= '2000-01-01'", [true, false, null, true]],
    ["d = date '2024-02-29'", [true, false, null, false]],
    ["ts = timestamp '2000-01-01 00:00:00+00:00'", [false, false, null, true]],
    ["ok = true", [true, false, null, true]],
    ["i = null", all(null)],
  ]);
});

Deno.test("boolean operators follow SQL three-valued logic", async (t) => {
  await table(t, [
    ["ok and i > 0", [true, false, null, false]],
    ["ok or i > 0", [true, false, null, true]],
    ["not ok", [false, true, null, false]],
    ["null and false", all(false)],
    ["null or true", all(true)],
    ["null and true", all(null)],
    ["null or false", all(null)],
    ["ok and null", [null, false, null, null]],
    ["ok or null", [true, null, null, true]],
    ["not null", all(null)],
    ["i is null", [false, false, true, false]],
    ["i is not null", [true, true, false, true]],
    ["i in (7, 0)", [true, false, null, true]],
    ["i not in (7, 0)", [false, true, null, false]],
    ["i in (7, null)", [true, null, null, null]],
    ["s in ('Hello', 'x')", [true, false, null, false]],
    ["i between 0 and 7", [true, false, null, true]],
    ["i not between 1 and 5", [true, true, null, true]],
    ["j <> 0 and i / j > 1", [true, false, null, null]],
    ["j = 0 or i / j > 1", [true, true, null, null]],
  ]);
});

Deno.test("conditionals pick per row and do not count errors of branches not taken", async (t) => {
  await table(t, [
    ["coalesce(i, j, -1)", [7n, -3n, 3n, 0n]],
    ["coalesce(a, 0)", ["2.50", "-1.25", "0.00", "0.10"]],
    ["coalesce(i / j, 0)", [3.5, 0, 0, 0]],
    ["if(i > 0, 'pos', 'nonpos')", ["pos", "nonpos", "nonpos", "nonpos"]],
    ["if(j = 0, 0, i / j)", [3.5, 0, null, null]],
    ["case when i > 5 then 'big' when i >= 0 then 'small' end", ["big", null, null, "small"]],
    ["case i when 7 then 'seven' when 0 then 'zero' else 'other' end", ["seven", "other", "other", "zero"]],
    ["case when j <> 0 then i / j end", [3.5, null, null, null]],
    ["case when j = 0 then i / j else 1 end", [1, null, 1, 1], 1],
    ["nullif(i, 0)", [7n, -3n, null, null]],
  ]);
});

Deno.test("string functions work on characters, not bytes", async (t) => {
  await table(t, [
    ["lower(s)", ["hello", "héllo wörld", null, "  pad  "]],
    ["upper(s)", ["HELLO", "HÉLLO WÖRLD", null, "  PAD  "]],
    ["trim(s)", ["Hello", "héllo wörld", null, "pad"]],
    ["ltrim(s)", ["Hello", "héllo wörld", null, "pad  "]],
    ["rtrim(s)", ["Hello", "héllo wörld", null, "  pad"]],
    ["length(s)", [5n, 11n, null, 7n]],
    ["substr(s, 2, 3)", ["ell", "éll", null, " pa"]],
    ["substr(s, 0, 2)", ["H", "h", null, " "]],
    ["substr(s, 7)", ["", "wörld", null, " "]],
    ["substr(s, 1, -1)", [null, null, null, null], 3],
    ["s || '!'", ["Hello!", "héllo wörld!", null, "  pad  !"]],
    ["s || i", ["Hello7", "héllo wörld-3", null, "  pad  0"]],
    ["'it''s ' || s", ["it's Hello", "it's héllo wörld", null, "it's   pad  "]],
    ["concat(s, '-', i)", ["Hello-7", "héllo wörld--3", "-", "  pad  -0"]],
    ["starts_with(s, 'He')", [true, false, null, false]],
    ["ends_with(s, 'ld')", [false, true, null, false]],
    ["contains(s, 'ö')", [false, true, null, false]],
    ["contains(s, '')", [true, true, null, true]],
    ["replace(s, 'l', 'L')", ["HeLLo", "héLLo wörLd", null, "  pad  "]],
    ["regexp_match(s, '^h.llo')", [false, true, null, false]],
    ["regexp_replace(s, '(l+)', '[$1]')", ["He[ll]o", "hé[ll]o wör[l]d", null, "  pad  "]],
  ]);
});

Deno.test("date functions compute in UTC, before the epoch too", async (t) => {
  await table(t, [
    ["year(d)", [2024n, 1969n, null, 2000n]],
    ["month(d)", [2n, 12n, null, 1n]],
    ["day(ts)", [29n, 31n, null, 1n]],
    ["quarter(ts)", [1n, 4n, null, 1n]],
    ["day_of_week(d)", [4n, 3n, null, 6n]],
    ["hour(ts)", [13n, 23n, null, 0n]],
    ["minute(ts)", [45n, 59n, null, 0n]],
    ["second(ts)", [10n, 59n, null, 0n]],
    ["date_trunc('hour', ts)", [
      d("2024-02-29T13:00:00.000000Z"),
      d("1969-12-31T23:00:00.000000Z"),
      null,
      d("2000-01-01T00:00:00.000000Z"),
    ]],
    ["date_trunc('year', ts)", [
      d("2024-01-01T00:00:00.000000Z"),
      d("1969-01-01T00:00:00.000000Z"),
      null,
      d("2000-01-01T00:00:00.000000Z"),
    ]],
    ["date_trunc('month', d)", ["2024-02-01", "1969-12-01", null, "2000-01-01"]],
    ["date_trunc('quarter', d)", ["2024-01-01", "1969-10-01", null, "2000-01-01"]],
    ["date_trunc('week', d)", ["2024-02-26", "1969-12-29", null, "1999-12-27"]],
    ["ts + interval '1 day 2 hours'", [
      d("2024-03-01T15:45:10.123456Z"),
      d("1970-01-02T01:59:59.000000Z"),
      null,
      d("2000-01-02T02:00:00.000000Z"),
    ]],
    ["ts - interval '1 second'", [
      d("2024-02-29T13:45:09.123456Z"),
      d("1969-12-31T23:59:58.000000Z"),
      null,
      d("1999-12-31T23:59:59.000000Z"),
    ]],
    ["d + interval '90 minutes'", [
      d("2024-02-29T01:30:00.000000Z"),
      d("1969-12-31T01:30:00.000000Z"),
      null,
      d("2000-01-01T01:30:00.000000Z"),
    ]],
    ["d + 1", ["2024-03-01", "1970-01-01", null, "2000-01-02"]],
    ["d - 1", ["2024-02-28", "1969-12-30", null, "1999-12-31"]],
    // 2024-01-01 is day 19723 of the epoch; 1969-12-31 is day −1; 2000-01-01 is day 10957.
    ["d - date '2024-01-01'", [59n, -19724n, null, -8766n]],
    ["date_diff('hour', d, ts)", [13n, 23n, null, 0n]],
    ["date_diff('minute', ts, d)", [-825n, -1439n, null, 0n]],
    ["now()", all("2024-06-01T00:00:00.000000Z")],
    ["today()", all("2024-06-01")],
  ]);
});

Deno.test("casts convert exactly and null what does not convert", async (t) => {
  await table(t, [
    ["cast(i as string)", ["7", "-3", null, "0"]],
    ["cast(a as int64)", [3n, -1n, null, 0n]],
    ["cast(a as decimal(5,1))", ["2.5", "-1.3", null, "0.1"]],
    ["cast(a as float64)", [2.5, -1.25, null, 0.1]],
    ["cast(f as int64)", [2n, -1n, null, 2n]],
    ["cast(f as string)", ["1.5", "-0.5", null, "2"]],
    ["cast(f as decimal(3,2))", ["1.50", "-0.50", null, "2.00"]],
    ["cast(s as int64)", [null, null, null, null], 3],
    ["cast('42' as int64)", all(42n)],
    ["cast(' 1.235 ' as decimal(4,2))", all("1.24")],
    ["cast('yes' as boolean)", all(true)],
    ["cast('2024-02-30' as date)", all(null), 4],
    ["cast('2024-02-29 13:45:10+01:00' as timestamp)", all("2024-02-29T12:45:10.000000Z")],
    ["cast(ts as date)", ["2024-02-29", "1969-12-31", null, "2000-01-01"]],
    ["cast(d as timestamp)", [
      d("2024-02-29T00:00:00.000000Z"),
      d("1969-12-31T00:00:00.000000Z"),
      null,
      d("2000-01-01T00:00:00.000000Z"),
    ]],
    ["cast(d as string)", ["2024-02-29", "1969-12-31", null, "2000-01-01"]],
    ["cast(ok as int64)", [1n, 0n, null, 1n]],
    ["cast(ok as string)", ["true", "false", null, "true"]],
    ["cast(i as boolean)", [true, true, null, false]],
    ["cast(big as decimal(18,0))", ["9007199254740993", null, null, null], 2],
    ["cast(null as string)", all(null)],
  ]);
});

Deno.test("math functions round half away from zero", async (t) => {
  await table(t, [
    ["abs(i)", [7n, 3n, null, 0n]],
    ["abs(a)", ["2.50", "1.25", null, "0.10"]],
    ["abs(f)", [1.5, 0.5, null, 2]],
    ["round(a)", ["3", "-1", null, "0"]],
    ["round(a, 1)", ["2.5", "-1.3", null, "0.1"]],
    ["round(f)", [2, -1, null, 2]],
    ["round(i)", [7n, -3n, null, 0n]],
    ["floor(a)", ["2", "-2", null, "0"]],
    ["ceil(a)", ["3", "-1", null, "1"]],
    ["floor(f)", [1, -1, null, 2]],
    ["ceil(f)", [2, -0, null, 2]],
  ]);
});

Deno.test("expression types follow the documented rules", async (t) => {
  const cases: [string, string][] = [
    ["i + j", "int64"],
    ["i / j", "float64"],
    ["div(i, j)", "int64"],
    ["a + 1", "decimal(18,2)"],
    ["a + 0.005", "decimal(12,3)"],
    ["a * a", "decimal(18,4)"],
    ["a / j", "decimal(18,6)"],
    ["a * f", "float64"],
    ["s || i", "string"],
    ["d + 1", "date"],
    ["d - d", "int64"],
    ["ts + interval '1 hour'", "timestamp"],
    ["d + interval '1 hour'", "timestamp"],
    ["i > j", "boolean"],
    ["round(a, 1)", "decimal(10,1)"],
    ["coalesce(a, f)", "float64"],
    ["coalesce(d, ts)", "timestamp"],
  ];
  for (const [source, type] of cases) {
    await t.step(source, () => assert.equal(evaluateFixture(source).type, type));
  }
});

Deno.test("compileExpression rejects bad expressions at load, naming the column of the problem", async (t) => {
  const chain = "a * a * a * a * a * a * a * a * a * a";
  const cases: [source: string, column: number, message: RegExp][] = [
    ["'a' + 1", 5, /operator \+ needs numbers, got string and int64/],
    ["amount * 2", 1, /unknown column "amount"/],
    ["A + 1", 1, /unknown column "A": did you mean "a"\?/],
    ['"no such" + 1', 1, /unknown column "no such"/],
    ["i +", 4, /unexpected end of expression/],
    ["1 +* 2", 4, /unexpected "\*"/],
    ["(i + 1", 7, /expected "\)"/],
    ["i # 2", 3, /unexpected character "#"/],
    ["'unterminated", 1, /unterminated string/],
    ["lower(s, s)", 1, /lower\(\) takes 1 argument, got 2/],
    ["substr(s)", 1, /substr\(\) takes 2 to 3 arguments, got 1/],
    ["now(1)", 1, /now\(\) takes 0 arguments, got 1/],
    ["nosuch(1)", 1, /unknown function nosuch\(\)/],
    ["lower(i)", 7, /argument 1 of lower\(\) must be a string, got int64/],
    ["s = 1", 3, /cannot compare string with int64/],
    ["i and ok", 1, /AND needs a boolean, got int64/],
    ["not s", 5, /NOT needs a boolean, got string/],
    ["if(i, 1, 2)", 4, /if\(\) needs a boolean, got int64/],
    ["case when i then 1 end", 11, /WHEN needs a boolean, got int64/],
    ["coalesce(i, 'x')", 13, /coalesce\(\) arguments mix int64 and string/],
    ["if(ok, 1, 'x')", 11, /if\(\) branches mix int64 and string/],
    ["cast(d as int64)", 1, /cannot cast date to int64/],
    ["cast(i as money)", 11, /unknown type "money"/],
    ["cast(i as decimal(20,2))", 11, /decimal needs 1 ≤ precision ≤ 18/],
    ["ts > 'yesterday'", 6, /'yesterday' is not a valid timestamp/],
    ["date 'soon' < d", 6, /invalid date literal 'soon'/],
    ["regexp_match(s, '[')", 17, /Invalid regular expression/],
    ["regexp_match(s, s)", 17, /pattern of regexp_match\(\) must be a string literal/],
    ["date_trunc('fortnight', ts)", 12, /unit must be one of 'second'/],
    ["date_trunc('hour', d)", 12, /needs a timestamp, got date/],
    ["hour(d)", 6, /argument 1 of hour\(\) must be a timestamp, got date/],
    ["round(a, j)", 10, /digits of round\(\) must be an integer literal/],
    ["i < j < 3", 7, /comparisons cannot be chained/],
    ["i is null is null", 11, /comparisons cannot be chained/],
    ["ts - ts", 4, /subtracting timestamps is not supported: use date_diff/],
    ["s - 1", 3, /operator - needs numbers, got string and int64/],
    ["ts * 2", 4, /operator \* cannot take timestamp and int64/],
    ["-s", 1, /unary - needs a number, got string/],
    ["9223372036854775808", 1, /integer is out of range/],
    ["1.0000000000000000001", 1, /more than 18 digits/],
    ["end + 1", 1, /unexpected END \(quote a column with this name: "end"\)/],
    ["interval 'a while' + ts", 10, /invalid interval 'a while'/],
    [chain, chain.lastIndexOf("*") + 1, /needs scale 20: cast an operand to a smaller scale/],
    ["s || interval '1 day'", 3, /\|\| cannot take an interval/],
  ];
  for (const [source, column, message] of cases) {
    await t.step(source, () => {
      const error = assert.throws(() => compileFixture(source), (e: unknown) => {
        assert.ok(e instanceof ExpressionError, `expected an ExpressionError, got ${e}`);
        assert.ok(e instanceof ConfigError);
        assert.equal(e.path, "test");
        assert.equal(e.expression, source);
        assert.match(e.message, message);
        assert.equal(e.column, column, e.message);
        assert.ok(e.message.startsWith(`Invalid expression "${source}" at column ${column}: `), e.message);
        return true;
      });
      return error;
    });
  }
});

Deno.test("compileExpression reads quoted column names and keywords as names", () => {
  const batch = batchFromRows(
    [{ name: "order id", type: "int64" }, { name: "end", type: "int64" }, {
      name: 'say "hi"',
      type: "string",
    }],
    [[1n, 2n, "x"]],
  );
  const expression = compileExpression(`"order id" + "end" || "say ""hi"""`, {
    schema: batch.schema,
    path: "t",
  });
  assert.equal(cellValue(expression.evaluateColumn(batch, { name: "v" }).column, 0), "3x");
  assert.equal(
    compileExpression('CASE WHEN "end" > 1 THEN TRUE END', { schema: batch.schema, path: "t" }).type.type,
    "boolean",
  );
});

Deno.test("evaluateFilter keeps only rows where the expression is true", async (t) => {
  const cases: [string, number[], number][] = [
    ["i > 0", [0], 0],
    ["ok", [0, 3], 0],
    ["i / j > 1", [0], 1],
    ["true", [0, 1, 2, 3], 0],
    ["false", [], 0],
    ["null and true", [], 0],
  ];
  for (const [source, rows, errors] of cases) {
    await t.step(source, () => {
      const result = compileFixture(source).evaluateFilter(FIXTURE);
      assert.deepEqual([...result.rows], rows);
      assert.equal(result.errors, errors);
    });
  }
});
