import assert from "node:assert/strict";
import { KernelError } from "../pipeline/errors.ts";
import { compileKernels, instantiateKernels, KERNEL_STATUS, RecordScanState } from "./mod.ts";
import { SCAN_FLAG, SCAN_MODE, SCAN_PIECE_BYTES, SCAN_STATE } from "./records.ts";
import { seededRandom } from "./testing.ts";

const module = await compileKernels();
const kernels = instantiateKernels(module);
const encoder = new TextEncoder();

interface Observed {
  records: number[];
  cuts: (number | null)[];
  finish: { status: number; records: number; cut: number | null };
  total: number;
  lines: number;
}

/** Scans `text` split at `splits` (chunk lengths; the rest is one last chunk) and collects every output. */
function scan(
  text: string | Uint8Array,
  splits: number[],
  options: { delimiter?: string; quote?: string } = {},
) {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  const state = new RecordScanState(options);
  const observed: Observed = {
    records: [],
    cuts: [],
    finish: { status: 0, records: 0, cut: null },
    total: 0,
    lines: 0,
  };
  let at = 0;
  for (const length of [...splits, bytes.length - splits.reduce((a, b) => a + b, 0)]) {
    const result = kernels.scanRecords(state, bytes.subarray(at, at + length));
    observed.records.push(result.records);
    observed.cuts.push(result.cut);
    at += length;
  }
  observed.finish = kernels.finishRecords(state);
  observed.total = state.records;
  observed.lines = state.lines;
  return observed;
}

Deno.test("scanRecords reports records and cut points per chunk", async (t) => {
  const cases: {
    name: string;
    text: string;
    splits: number[];
    records: number[];
    cuts: (number | null)[];
  }[] = [
    { name: "LF records", text: "a,b\nc,d\n", splits: [], records: [2], cuts: [8] },
    { name: "cut before a partial record", text: "a\nbc", splits: [], records: [1], cuts: [2] },
    { name: "CRLF records", text: "a\r\nb\r\n", splits: [], records: [2], cuts: [6] },
    { name: "CR records", text: "a\rb\rc", splits: [], records: [2], cuts: [4] },
    { name: "CRLF split between chunks", text: "a\r\nb\r\n", splits: [2], records: [0, 2], cuts: [null, 4] },
    {
      name: "CR at a chunk end closes in the next chunk",
      text: "a\rb\n",
      splits: [2],
      records: [0, 2],
      cuts: [null, 2],
    },
    { name: "CR closes at offset 0", text: "a\rb", splits: [2], records: [0, 1], cuts: [null, 0] },
    { name: "quoted LF is data", text: '"a\nb",c\nd\n', splits: [], records: [2], cuts: [10] },
    { name: "quoted CRLF is data", text: 'x,"\r\n"\r\n', splits: [], records: [1], cuts: [8] },
    { name: "doubled quote split between chunks", text: '"a"\n"b"\n', splits: [], records: [2], cuts: [8] },
    {
      name: "doubled quote across the boundary",
      text: '"a""\n"\n',
      splits: [3],
      records: [0, 1],
      cuts: [null, 4],
    },
    { name: "closing quote at a chunk end", text: '"a"\nb\n', splits: [3], records: [0, 2], cuts: [null, 3] },
    {
      name: "quote inside an unquoted field is a byte",
      text: 'ab"c\nd\n',
      splits: [],
      records: [2],
      cuts: [7],
    },
    {
      name: "quote after a closing quote is a byte",
      text: '"a"x"\ny\n',
      splits: [],
      records: [2],
      cuts: [8],
    },
    {
      name: "empty lines are boundaries, not records",
      text: "\n\na\n\r\n",
      splits: [],
      records: [1],
      cuts: [6],
    },
    {
      name: "empty chunk changes nothing",
      text: "a\r\nb\n",
      splits: [2, 0],
      records: [0, 0, 2],
      cuts: [null, null, 3],
    },
    {
      name: "one byte per chunk",
      text: '"\n"\n',
      splits: [1, 1, 1],
      records: [0, 0, 0, 1],
      cuts: [null, null, null, 1],
    },
    {
      name: "long quoted field spans SIMD blocks",
      text: `"${"x".repeat(40)}\n${"y".repeat(40)}"\n${"z".repeat(33)}\n`,
      splits: [17],
      records: [0, 2],
      cuts: [null, 101],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const observed = scan(c.text, c.splits);
      assert.deepStrictEqual({ records: observed.records, cuts: observed.cuts }, {
        records: c.records,
        cuts: c.cuts,
      });
    });
  }
});

Deno.test("finishRecords reports the last record and an unterminated quote", async (t) => {
  const cases = [
    { name: "no last record", text: "a\n", status: 0, records: 0, cut: null },
    { name: "last record without terminator", text: "a\nb", status: 0, records: 1, cut: 0 },
    { name: "pending CR", text: "a\r", status: 0, records: 1, cut: 0 },
    { name: "closed quote at the end", text: '"a"', status: 0, records: 1, cut: 0 },
    {
      name: "unterminated quote",
      text: '"a\n',
      status: KERNEL_STATUS.UNTERMINATED_QUOTE,
      records: 1,
      cut: 0,
    },
    { name: "empty stream", text: "", status: 0, records: 0, cut: null },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const { finish } = scan(c.text, []);
      assert.deepStrictEqual(finish, { status: c.status, records: c.records, cut: c.cut });
    });
  }
});

Deno.test("scanRecords honours the delimiter and quote", async (t) => {
  const cases = [
    {
      name: "semicolon and apostrophe",
      text: "'a\n';b\n",
      options: { delimiter: ";", quote: "'" },
      records: 1,
    },
    { name: "quote after another delimiter is a byte", text: 'x;"a\nb"\n', options: {}, records: 2 },
    { name: "tab", text: 'x\t"a\nb"\n', options: { delimiter: "\t" }, records: 1 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepStrictEqual(scan(c.text, [], c.options).total, c.records);
    });
  }
});

Deno.test("scanRecords counts lines inside quoted fields", () => {
  const observed = scan('a,"1\r\n2\r3\n4"\r\nb\n', [5]);
  assert.deepStrictEqual({ records: observed.total, lines: observed.lines }, { records: 2, lines: 5 });
});

Deno.test("RecordScanState tracks the stream", () => {
  const state = new RecordScanState();
  kernels.scanRecords(state, encoder.encode('a\n"b'));
  assert.deepStrictEqual(
    {
      consumed: state.consumed,
      recordStart: state.recordStart,
      records: state.records,
      inQuotes: state.inQuotes,
    },
    { consumed: 4, recordStart: 2, records: 1, inQuotes: true },
  );
  kernels.finishRecords(state);
  assert.deepStrictEqual(state.finished, true);
});

Deno.test("RecordScanState remembers a CR for the stream's later chunks", () => {
  const state = new RecordScanState();
  const sawCr = () =>
    (new DataView(state.toBlock().buffer).getUint32(SCAN_STATE.FLAGS, true) & SCAN_FLAG.SAW_CR) !== 0;
  kernels.scanRecords(state, encoder.encode("abc,def\n".repeat(40)));
  assert.strictEqual(sawCr(), false);
  // Windows of the next chunks are read with CRs in mind, without first stopping at one.
  kernels.scanRecords(state, encoder.encode("abc,def\r\n".repeat(40)));
  assert.strictEqual(sawCr(), true);
  assert.deepStrictEqual(kernels.scanRecords(state, encoder.encode("gh\r\n".repeat(30))).records, 30);
  assert.deepStrictEqual({ records: state.records, lines: state.lines, sawCr: sawCr() }, {
    records: 110,
    lines: 110,
    sawCr: true,
  });
});

Deno.test("RecordScanState moves between instances", () => {
  const first = new RecordScanState();
  kernels.scanRecords(first, encoder.encode('a\n"b\n'));
  const second = new RecordScanState();
  second.setBlock(first.toBlock());
  const other = instantiateKernels(module);
  assert.deepStrictEqual(other.scanRecords(second, encoder.encode('"\nc\n')), {
    status: 0,
    records: 2,
    cut: 4,
  });
});

Deno.test("RecordScanState rejects unusable delimiters and quotes", async (t) => {
  const cases = [
    { name: "same delimiter and quote", options: { delimiter: '"' } },
    { name: "two characters", options: { delimiter: ",," } },
    { name: "LF delimiter", options: { delimiter: "\n" } },
    { name: "CR quote", options: { quote: "\r" } },
    { name: "non-ASCII", options: { delimiter: "§" } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.throws(() => new RecordScanState(c.options), RangeError);
    });
  }
});

Deno.test("scanRecords fails with a status for a misused state", async (t) => {
  await t.step("after finish", () => {
    const state = new RecordScanState();
    kernels.finishRecords(state);
    assert.throws(
      () => kernels.scanRecords(state, encoder.encode("a\n")),
      (error: unknown) => error instanceof KernelError && error.status === KERNEL_STATUS.BAD_STATE,
    );
  });
  await t.step("corrupt mode", () => {
    const state = new RecordScanState();
    const block = state.toBlock();
    block[SCAN_STATE.MODE] = 7;
    state.setBlock(block);
    assert.throws(
      () => kernels.scanRecords(state, encoder.encode("a\n")),
      (error: unknown) => error instanceof KernelError && error.reason === "status",
    );
  });
});

Deno.test("scan state layout matches the module", () => {
  const exports = new WebAssembly.Instance(module, {}).exports;
  const fromModule: Record<string, number> = {};
  for (const [name, value] of Object.entries(exports)) {
    if (/^SCAN_(STATE|MODE|FLAG)_/.test(name) && value instanceof WebAssembly.Global) {
      fromModule[name] = Number(value.value);
    }
  }
  const mirror: Record<string, number> = {};
  for (const [group, table] of [["STATE", SCAN_STATE], ["MODE", SCAN_MODE], ["FLAG", SCAN_FLAG]] as const) {
    for (const [name, value] of Object.entries(table)) mirror[`SCAN_${group}_${name}`] = value;
  }
  assert.deepStrictEqual(mirror, fromModule);
});

// A plain whole-input reading of the rules in kernels/README.md, written independently of the kernel:
// it sees the entire input at once, so it needs no carried state.
function reference(bytes: Uint8Array, delimiter: number, quote: number) {
  const CR = 13, LF = 10;
  const bounds: { end: number; record: boolean }[] = [];
  let i = 0, recordStart = 0, lines = 0, fieldStart = true, unterminated = false;
  while (i < bytes.length) {
    const c = bytes[i];
    if (fieldStart && c === quote) {
      i++;
      let closed = false;
      while (i < bytes.length) {
        const q = bytes[i];
        if (q === quote) {
          if (bytes[i + 1] === quote) {
            i += 2;
            continue;
          }
          i++;
          closed = true;
          break;
        }
        if (q === CR || (q === LF && bytes[i - 1] !== CR)) lines++;
        i++;
      }
      unterminated = !closed;
      fieldStart = false;
      continue;
    }
    if (c === LF || c === CR) {
      const end = c === CR && bytes[i + 1] === LF ? i + 2 : i + 1;
      bounds.push({ end, record: i > recordStart });
      lines++;
      recordStart = end;
      i = end;
      fieldStart = true;
      continue;
    }
    fieldStart = c === delimiter;
    i++;
  }
  return { bounds, lines, tail: recordStart < bytes.length, unterminated };
}

/** What the kernel must report for a chunking, derived from the whole-input reading. */
function expected(bytes: Uint8Array, lengths: number[]) {
  const ref = reference(bytes, 0x2c, 0x22);
  const records: number[] = [];
  const cuts: (number | null)[] = [];
  let next = 0, start = 0;
  for (const length of lengths) {
    const end = start + length;
    let count = 0, cut: number | null = null;
    // A boundary after a lone CR is only known once the byte after it has been seen.
    while (
      next < ref.bounds.length &&
      (bytes[ref.bounds[next].end - 1] === 13 ? ref.bounds[next].end < end : ref.bounds[next].end <= end)
    ) {
      if (ref.bounds[next].record) count++;
      cut = ref.bounds[next].end - start;
      next++;
    }
    records.push(count);
    cuts.push(cut);
    start = end;
  }
  const pending = ref.bounds.slice(next);
  const finishRecords = pending.filter((b) => b.record).length + (ref.tail ? 1 : 0);
  return {
    records,
    cuts,
    finish: {
      status: ref.tail && ref.unterminated ? KERNEL_STATUS.UNTERMINATED_QUOTE : 0,
      records: finishRecords,
      cut: pending.length > 0 || ref.tail ? 0 : null,
    },
    total: ref.bounds.filter((b) => b.record).length + (ref.tail ? 1 : 0),
    lines: ref.lines,
  };
}

const ALPHABET = ["a", "a", "a", "b", ",", ",", '"', '"', "\n", "\r", "\r\n", "xxxxxxxxxxxxxxxxxxxxxxx"];
/**
 * Without CRs, and with quotes mostly where RFC 4180 puts them: the scanner reads such 64-byte windows at once,
 * so this alphabet takes that path, and leaves it at the stray quotes.
 */
const LF_ALPHABET = [
  "a",
  "bb",
  ",",
  ",",
  "\n",
  "\n",
  '"q, ""x""\ny"',
  ',""',
  '"',
  "xxxxxxxxxxxxxxxxxxxxxxx",
  "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
];

/**
 * Long runs of plain bytes between the special ones: after a 4 KiB stretch of long lines the scanner skips
 * windows without quotes and line breaks, and it goes back to reading every window after short lines.
 */
const LONG_ALPHABET = [
  ...LF_ALPHABET,
  "\r\n",
  "z".repeat(150),
  "z".repeat(400),
];

Deno.test("scanRecords gives the same records and cuts for any chunking", async (t) => {
  for (
    const [label, seeds, maxParts, alphabet] of [
      ["short inputs", 1500, 40, ALPHABET],
      ["long inputs", 60, 2000, ALPHABET],
      ["long inputs without CRs", 300, 2000, LF_ALPHABET],
      ["inputs with long lines", 60, 3000, LONG_ALPHABET],
    ] as const
  ) {
    await t.step(label, () => {
      for (let seed = 1; seed <= seeds; seed++) {
        const random = seededRandom(seed);
        const text = Array.from(
          { length: Math.floor(random() * maxParts) },
          () => alphabet[Math.floor(random() * alphabet.length)],
        ).join("");
        const bytes = encoder.encode(text);
        const splits: number[] = [];
        let left = bytes.length;
        while (left > 0 && random() < 0.8) {
          const length = Math.min(left, Math.floor(random() * (random() < 0.5 ? 4 : 70)));
          splits.push(length);
          left -= length;
        }
        const want = expected(bytes, [...splits, left]);
        const got = scan(bytes, splits);
        assert.deepStrictEqual(
          got,
          want,
          `seed ${seed}: ${JSON.stringify(text)} split ${JSON.stringify(splits)}`,
        );
      }
    });
  }
});

/** Scans `bytes` in chunks of `lengths` with `scanRecords`, copying them 3 bytes into a buffer. */
function scanInto(bytes: Uint8Array, lengths: number[]) {
  const state = new RecordScanState();
  const into = new Uint8Array(bytes.length + 7);
  const records: number[] = [];
  const cuts: (number | null)[] = [];
  let at = 0;
  for (const length of lengths) {
    const result = kernels.scanRecords(state, bytes.subarray(at, at + length), {
      copyTo: into.subarray(3 + at),
    });
    records.push(result.records);
    cuts.push(result.cut);
    at += length;
  }
  const finish = kernels.finishRecords(state);
  return { records, cuts, finish, total: state.records, lines: state.lines, copy: into.subarray(3, 3 + at) };
}

Deno.test("scanRecords with copyTo scans the same and copies the chunk, across its pieces", async (t) => {
  const piece = SCAN_PIECE_BYTES;
  const check = (bytes: Uint8Array, lengths: number[], label: string) => {
    const { copy, ...got } = scanInto(bytes, lengths);
    assert.deepStrictEqual(got, expected(bytes, lengths), label);
    assert.ok(copy.every((b, i) => b === bytes[i]), `${label}: copied bytes differ`);
  };
  await t.step("random inputs of several pieces, random chunkings", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const random = seededRandom(seed);
      const alphabet = seed % 2 === 0 ? ALPHABET : LF_ALPHABET;
      const parts: string[] = [];
      for (let n = 0; n < 3 * piece;) {
        const part = alphabet[Math.floor(random() * alphabet.length)];
        parts.push(part);
        n += part.length;
      }
      const bytes = encoder.encode(parts.join(""));
      const lengths: number[] = [];
      for (let left = bytes.length; left > 0;) {
        const length = Math.min(left, Math.floor(random() * 2.5 * piece));
        lengths.push(length);
        left -= length;
      }
      check(bytes, lengths, `seed ${seed}`);
    }
  });
  await t.step("terminators and quoted line breaks at piece edges", () => {
    // Records of plain bytes, with the interesting bytes placed right at the first piece edge.
    for (
      const [edge, label] of [
        ["\r\n", "CRLF split by the edge"],
        ["\r", "lone CR before the edge"],
        ["\r\r", "two lone CRs across the edge"],
        ['"a\nb"\n', "quoted LF spanning the edge"],
        ['"a\r\nb"\n', "quoted CRLF spanning the edge"],
        ['""\n', "empty quoted field at the edge"],
        ['x"\n', "a quote in mid-field just before the edge"],
      ]
    ) {
      for (let shift = -3; shift <= 3; shift++) {
        const head = "x,".repeat(piece).slice(0, piece - Math.ceil(edge.length / 2) + shift);
        const bytes = encoder.encode(head.replace(/,$/, "y") + edge + "1,2\n3,4");
        check(bytes, [bytes.length], `${label}, shift ${shift}`);
        check(bytes, [piece + 1, bytes.length - piece - 1], `${label}, shift ${shift}, two chunks`);
      }
    }
  });
});

Deno.test("scanRecords reads special bytes the same at every window edge", async (t) => {
  // Each pattern is placed so that it straddles a 64-byte window edge (and, from 4096 on, the edge of a
  // stretch of windows) at every offset; the whole-input reading decides what must come out.
  const patterns = [
    ["\r\n", "CRLF"],
    ["\r", "lone CR"],
    ["\r\r\n", "lone CR then CRLF"],
    ['"a\nb"', "quoted LF"],
    ['"a\r\nb"', "quoted CRLF"],
    ['"a""b"', "doubled quote"],
    ['""', "empty quoted field"],
    ['x"y"', "quotes in mid-field"],
    ['x"', "a quote ending a field in mid-field"],
    ['"a"x', "bytes after a closing quote"],
    ["\n\n", "empty line"],
  ];
  for (const [pattern, label] of patterns) {
    await t.step(label, () => {
      for (const edge of [64, 128, 4096, 4160]) {
        for (let shift = -pattern.length - 1; shift <= 1; shift++) {
          // Short records or long lines up to the pattern, so its first byte lands at edge + shift (or one
          // later, after a delimiter or a line break).
          const heads = ["ab,c\n", `${"z".repeat(199)}\n`].map((line) =>
            line.repeat(edge).slice(0, edge + shift)
          );
          for (const field of heads.flatMap((head) => [`${head},`, `${head}\n`, head])) {
            const text = `${field}${pattern},"q\n",z\n${"w,".repeat(40)}\n`;
            const bytes = encoder.encode(text);
            for (const splits of [[], [edge], [edge - 1, 2], [edge + shift + 1]]) {
              const want = expected(bytes, [...splits, bytes.length - splits.reduce((a, b) => a + b, 0)]);
              assert.deepStrictEqual(
                scan(bytes, splits),
                want,
                `${label} at ${edge}${shift >= 0 ? "+" : ""}${shift}`,
              );
            }
          }
        }
      }
    });
  }
});

Deno.test("scanRecords counts records whose only line break follows windows it skipped", () => {
  // After long lines the scanner skips windows without quotes and line breaks; a record that starts at a
  // window edge and fills whole windows is still a record, not an empty line, and a lone CR in a window
  // without LFs still ends one.
  for (const eol of ["\n", "\r\n"]) {
    const long = `${"z".repeat(199)}${eol}`.repeat(30); // 6000 bytes or more: the scanner skips by now
    for (const pad of [15, 16, 17, 79, 80, 81]) {
      for (const record of [63, 64, 65, 128, 129]) {
        const text = `${long}${"p".repeat(pad - 1)}${eol}${"y".repeat(record)}${eol}"a${eol}b",c${eol}` +
          `${"w".repeat(100)}\r${"v".repeat(100)}${eol}${eol}`;
        const bytes = encoder.encode(text);
        for (const splits of [[], [4096], [6080, 64]]) {
          const want = expected(bytes, [...splits, bytes.length - splits.reduce((a, b) => a + b, 0)]);
          assert.deepStrictEqual(
            scan(bytes, splits),
            want,
            `${JSON.stringify(eol)}, pad ${pad}, record ${record}, splits ${splits}`,
          );
        }
      }
    }
  }
});
