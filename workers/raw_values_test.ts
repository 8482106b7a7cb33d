import assert from "node:assert/strict";
import { compileKernels, instantiateKernels } from "../kernels/mod.ts";
import { seededRandom } from "../kernels/testing.ts";
import type { Field } from "../pipeline/batch.ts";
import { chunkRecords, csvHeader } from "../pipeline/chunker.ts";
import type { ColumnRules, Reject } from "../pipeline/validate.ts";
import { type CsvDialect, parseChunk } from "./parse.ts";
import { memberText } from "./raw_values.ts";

const kernels = instantiateKernels(await compileKernels());
const encoder = new TextEncoder();

interface Input {
  format: "csv" | "ndjson";
  text: string;
  columns: (Field & { required?: boolean })[];
  rules: Record<string, ColumnRules>;
  dialect?: CsvDialect;
}

/**
 * Cuts `input` into chunks of about `targetBytes` as the ingest path does, parses each with `parseChunk` (a CSV
 * chunk after the first gets the header, as `parseParams` gives it) and returns every reject in input order.
 */
async function rejectsOf(input: Input, targetBytes: number): Promise<{ rejects: Reject[]; chunks: number }> {
  const bytes = encoder.encode(input.text);
  const dialect = input.dialect;
  const header = input.format === "csv" && (dialect?.header ?? true)
    ? csvHeader(bytes, dialect!.quote)
    : null;
  const rejects: Reject[] = [];
  let chunks = 0;
  for await (
    const chunk of chunkRecords(oneAtATime(bytes), {
      format: input.format,
      kernels,
      delimiter: dialect?.delimiter,
      quote: dialect?.quote,
      targetBytes,
    })
  ) {
    const { value } = parseChunk(kernels, chunk.bytes.slice().buffer, {
      format: input.format,
      columns: input.columns,
      rules: input.rules,
      firstLine: chunk.firstLine,
      dialect,
      header: chunk.sequence === 0 ? null : header,
    });
    rejects.push(...value.rejects);
    chunks++;
  }
  return { rejects, chunks };
}

async function* oneAtATime(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** The rejects of `input` must be `want` whether it is one chunk or many small ones. */
async function assertRejects(input: Input, want: Reject[], targets = [16, 48, 100]): Promise<void> {
  const whole = await rejectsOf(input, 1 << 20);
  assert.deepEqual(whole.rejects, want);
  for (const target of targets) {
    const cut = await rejectsOf(input, target);
    assert.ok(cut.chunks >= 2, `${cut.chunks} chunks of ${target} bytes`);
    assert.deepEqual(cut.rejects, want, `chunks of ${target} bytes`);
  }
}

const reject = (line: number, column: string, rule: string, value: string | null): Reject => ({
  line,
  column,
  rule,
  value,
});

const CSV: CsvDialect = { delimiter: ",", quote: '"', nullTokens: [""] };

const ORDER_COLUMNS: Input["columns"] = [
  { name: "id", type: "int64" },
  { name: "amount", type: "decimal", precision: 10, scale: 2 },
  { name: "ts", type: "timestamp" },
  { name: "note", type: "string" },
  { name: "qty", type: "int64" },
];

const ORDER_RULES: Record<string, ColumnRules> = {
  id: { required: true, unique: true },
  amount: { max: 100 },
  ts: { max: "2026-12-31T23:59:59Z" },
  note: { maxLength: 8, pattern: "^[^!]*$" },
  qty: { min: 1 },
};

Deno.test("rule rejects of CSV rows show the field as written, whatever the chunking", async (t) => {
  await t.step("header, quotes, quoted newlines, CRLF, padding and leading zeros", async () => {
    const text = [
      "id,amount,ts,note,qty", // 1
      "1,12.50,2026-01-01T00:00:00Z,ok,1", // 2
      "2, 0150.50 ,2026-01-01T00:00:00Z,ok,1", // 3: amount max, spaces kept
      '3,"0150.5",2026-01-01T00:00:00Z,ok,1', // 4: amount max, quotes removed
      '4,1.00,2027-06-01 10:00:00+02:00,"a ""b""\r\nc, d",1', // 5-6: ts max
      '5,1.00,2026-01-01T00:00:00Z,"x ""y""\nz and more",1', // 7-8: note maxLength, unescaped
      "6,1.00,2026-01-01T00:00:00Z,hey!,1", // 9: note pattern
      "7,1.00,2026-01-01T00:00:00Z,ok,+000", // 10: qty min
      ",1.00,2026-01-01T00:00:00Z,ok,1", // 11: id required, null
      "8,1.00,2026-01-01T00:00:00Z,ok", // 12: ragged (parser)
      "", // 13: blank
      "0008,1.00,2026-01-01T00:00:00Z,ok,1", // 14: not a duplicate of line 12, which the parser rejected
      "9,1.00,2026-01-01T00:00:00Z,ok,1", // 15
      "09,1.00,2026-01-01T00:00:00Z,ok,1", // 16: id unique
    ].join("\n") + "\r\n";
    // Uniqueness holds within a chunk only, so the duplicate must share one: small chunks split 15 and 16.
    const want = [
      reject(3, "amount", "max", " 0150.50 "),
      reject(4, "amount", "max", "0150.5"),
      reject(5, "ts", "max", "2027-06-01 10:00:00+02:00"),
      reject(7, "note", "maxLength", 'x "y"\nz and more'),
      reject(9, "note", "pattern", "hey!"),
      reject(10, "qty", "min", "+000"),
      reject(11, "id", "required", null),
      reject(12, "", "ragged", "8,1.00,2026-01-01T00:00:00Z,ok"),
    ];
    const input: Input = { format: "csv", text, columns: ORDER_COLUMNS, rules: ORDER_RULES, dialect: CSV };
    const whole = await rejectsOf(input, 1 << 20);
    assert.deepEqual(whole.rejects, [...want, reject(16, "id", "unique", "09")]);
    await assertRejects(
      { ...input, text: text.replace("09,", "10,") },
      want,
    );
  });

  await t.step("no header, another delimiter, lone CRs and trailing delimiters", async () => {
    const text = [
      "1;0150.00;2026-01-01T00:00:00Z;ok;1;", // 1: amount max, trailing delimiter dropped
      "2;1.00;2026-01-01T00:00:00Z;'long ''quoted''\rnote';1", // 2-3: note maxLength
      "3;1.00;2026-01-01T00:00:00Z;ok;-00;", // 4: qty min
      "4;1.00;2026-01-01T00:00:00Z;ok;1", // 5
    ].join("\r");
    await assertRejects({
      format: "csv",
      text,
      columns: ORDER_COLUMNS,
      rules: ORDER_RULES,
      dialect: { delimiter: ";", quote: "'", header: false, nullTokens: [""] },
    }, [
      reject(1, "amount", "max", "0150.00"),
      reject(2, "note", "maxLength", "long 'quoted'\rnote"),
      reject(4, "qty", "min", "-00"),
    ]);
  });

  await t.step("a byte-order mark and a blank line before the header", async () => {
    const text =
      "\ufeff\r\nid,amount,ts,note,qty\r\n1,0150.00,2026-01-01T00:00:00Z,ok,1\r\n2,1,2026-01-01T00:00:00Z,ok,1\r\n";
    await assertRejects(
      { format: "csv", text, columns: ORDER_COLUMNS, rules: ORDER_RULES, dialect: CSV },
      [reject(3, "amount", "max", "0150.00")],
      // Not 16: a first chunk of nothing but the blank line would leave the header to the second chunk, which
      // the ingest path does not expect (it puts the header before every chunk after the first).
      [32, 40, 60],
    );
  });

  await t.step("a header in another order, with unknown columns and a trailing delimiter", async () => {
    const text = [
      "note,skip,qty,id,ts,amount,",
      "ok,x,1,1,2026-01-01T00:00:00Z,100.001,",
      'ok,y,1,2,2026-01-01T00:00:00Z," 0100.010"',
      '"ok",z,1,3,2026-01-01T00:00:00Z,99,',
    ].join("\n");
    await assertRejects(
      { format: "csv", text, columns: ORDER_COLUMNS, rules: ORDER_RULES, dialect: CSV },
      [reject(2, "amount", "type", "100.001"), reject(3, "amount", "max", " 0100.010")],
    );
  });
});

Deno.test("rule rejects of NDJSON records show the JSON value as written, strings unquoted", async () => {
  const text = [
    '{"id":1,"amount":12.5,"ts":"2026-01-01T00:00:00Z","note":"ok","qty":1}', // 1
    '{"id":2,"amount":150.50,"ts":"2026-01-01T00:00:00Z","qty":1}', // 2: amount max
    '{"id":3,"amount":"150.500","qty":1}', // 3: amount max, from a string
    '{"x":{"amount":1},"id":4,"amount":1.0,"amount":100.10, "qty":1}', // 4: the root's last amount
    '{"id":5,"ts":"2027-01-01t00:00:00.1234567+00:00","qty":1}\r', // 5: ts max
    '{"id":6,"note":"caf\\u00e9 au lait","qty":1}', // 6: note maxLength, decoded
    '{"id":7,"note":"no\\"!","qty":1}', // 7: note pattern
    '{"id":8,"qty":-0}', // 8: qty min
    '{"id":9,"qty":"00"}', // 9: type (parser)
    "", // 10
    '{"id":null,"qty":1}', // 11: required (parser)
    '{"id":12,"qty":1e0}', // 12: type (parser)
    '{"id":13,"qty":0}', // 13: qty min
  ].join("\n");
  await assertRejects({
    format: "ndjson",
    text,
    columns: ORDER_COLUMNS.map((c) => c.name === "id" ? { ...c, required: true } : c),
    rules: ORDER_RULES,
  }, [
    reject(2, "amount", "max", "150.50"),
    reject(3, "amount", "max", "150.500"),
    reject(4, "amount", "max", "100.10"),
    reject(5, "ts", "max", "2027-01-01t00:00:00.1234567+00:00"),
    reject(6, "note", "maxLength", "café au lait"),
    reject(7, "note", "pattern", 'no"!'),
    reject(8, "qty", "min", "-0"),
    reject(9, "qty", "type", '"00"'),
    reject(11, "id", "required", "null"),
    reject(12, "qty", "type", "1e0"),
    reject(13, "qty", "min", "0"),
  ]);
});

Deno.test("memberText reads a top-level member as written", () => {
  assert.equal(memberText('{"a":0.50}', "a"), "0.50");
  assert.equal(memberText('{"a":"x\\ty"}', "a"), "x\ty");
  assert.equal(memberText('{"a":true}', "a"), "true");
  assert.equal(memberText('{"b":{"a":1}}', "a"), undefined);
  assert.equal(memberText('{"a":{"a":1}}', "a"), undefined);
  assert.equal(memberText('{"a":1,"a":2e3}', "a"), "2e3");
  assert.equal(memberText("{", "a"), undefined);
});

Deno.test("rule rejects of random CSV show each field as written, for any chunking", async () => {
  const rnd = seededRandom(11);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const breaks = ["\n", "\r\n", "\r"];
  for (let doc = 0; doc < 40; doc++) {
    const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
    let text = "id,amount,note\n";
    let line = 2;
    const want: Reject[] = [];
    for (let i = 0; i < 30; i++) {
      const cents = Math.floor(rnd() * 10000);
      const number = `${"0".repeat(Math.floor(rnd() * 3))}${Math.floor(cents / 100)}.${
        String(cents % 100).padStart(2, "0")
      }`;
      const amount = rnd() < 0.3 ? ` ${number} ` : number;
      const note = Array.from(
        { length: Math.floor(rnd() * 6) },
        () => pick(["a", "é", '"', ",", "\n", "\r\n", " "]),
      )
        .join("");
      const noteField = /[",\r\n]/.test(note) || rnd() < 0.2 ? quote(note) : note;
      const amountField = rnd() < 0.2 ? quote(amount) : amount;
      if (cents > 5000) want.push(reject(line, "amount", "max", amount));
      else if ([...note].length > 3) want.push(reject(line, "note", "maxLength", note));
      const row = `${i},${amountField},${noteField}${pick(breaks)}`;
      text += row;
      line += row.split(/\r\n|\r|\n/).length - 1;
    }
    const input: Input = {
      format: "csv",
      text,
      columns: [
        { name: "id", type: "int64" },
        { name: "amount", type: "decimal", precision: 8, scale: 2 },
        { name: "note", type: "string" },
      ],
      rules: { amount: { max: 50 }, note: { maxLength: 3 } },
      dialect: CSV,
    };
    await assertRejects(input, want, [Math.floor(16 + rnd() * 200)]);
  }
});
