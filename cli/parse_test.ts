import assert from "node:assert/strict";
import { compileKernels } from "../kernels/mod.ts";
import { parseCommand, type ParseCommandIo, type ParseCommandOptions } from "./parse.ts";
import { concatBytes } from "../pipeline/bytes.ts";

const module = await compileKernels();
const encoder = new TextEncoder();

/** An in-memory terminal: files by name, stdout and stderr collected as text. */
function memoryIo(files: Record<string, string | Uint8Array>) {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const collect = (into: Uint8Array[]) =>
    new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk.slice()) });
  const io: ParseCommandIo = {
    open: (path) => {
      if (!(path in files)) return Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`));
      const content = files[path];
      const bytes = typeof content === "string" ? encoder.encode(content) : content;
      return Promise.resolve(ReadableStream.from([bytes]));
    },
    stdout: collect(out),
    stderr: collect(err),
  };
  const text = (parts: Uint8Array[]) => new TextDecoder().decode(concatBytes(parts));
  return {
    io,
    records: () => jsonLines(text(out)),
    rejects: () => jsonLines(text(err)),
    stderr: () => text(err),
  };
}

function jsonLines(text: string): unknown[] {
  // Usage and read errors are text; only the JSON lines are records or rejects.
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function run(
  args: string[],
  files: Record<string, string | Uint8Array>,
  options: ParseCommandOptions = {},
) {
  const m = memoryIo(files);
  const code = await parseCommand(args, m.io, { module, ...options });
  return { code, records: m.records(), rejects: m.rejects(), stderr: m.stderr() };
}

const ORDERS = "\ufeffid,name,amount,when\r\n" +
  '1,"Lovelace, Ada",12.50,2026-01-01T10:00:00Z\r\n' +
  '2,"say ""hi""",,2026-01-02T10:00:00Z\r\n' +
  "\r\n" +
  '3,"two\nlines",-3.25,2026-01-03T10:00:00Z\r\n' +
  "4,too,many,fields,here\r\n" +
  "5,last,0.5,2026-01-05T10:00:00Z";

Deno.test("parseCommand writes one JSON object per record with strings as written", async () => {
  const r = await run(["orders.csv"], { "orders.csv": ORDERS });
  assert.equal(r.code, 0);
  assert.deepStrictEqual(r.records, [
    { id: "1", name: "Lovelace, Ada", amount: "12.50", when: "2026-01-01T10:00:00Z" },
    { id: "2", name: 'say "hi"', amount: "", when: "2026-01-02T10:00:00Z" },
    { id: "3", name: "two\nlines", amount: "-3.25", when: "2026-01-03T10:00:00Z" },
    { id: "5", name: "last", amount: "0.5", when: "2026-01-05T10:00:00Z" },
  ]);
  assert.deepStrictEqual(r.rejects, [
    { line: 7, reason: "ragged", column: null, value: "4,too,many,fields,here" },
  ]);
});

Deno.test("parseCommand --types infer parses typed columns and rejects values that do not fit", async () => {
  const text = "id,price,ok,day,at,label\n" +
    "1,12.50,true,2026-01-01,2026-01-01 10:00:00,a\n" +
    "2,3.10,false,2026-01-02,2026-01-02 11:30:00,NA\n" +
    "3,,true,2026-01-03,2026-01-03 12:00:00,c\n";
  // Types come from the first 64 KiB; a value past it that does not fit its column rejects its row.
  let filler = "";
  for (let i = 4; filler.length <= 70_000; i++) filler += `${i},1.00,true,2026-01-04,2026-01-04 00:00:00,d\n`;
  const fillerRows = filler.split("\n").length - 1;
  const r = await run(["t.csv", "--types", "infer"], {
    "t.csv": text + filler + "x,1.00,true,2026-01-04,,d\n",
  });
  assert.equal(r.code, 0);
  assert.deepStrictEqual(r.records.slice(0, 3), [
    { id: 1, price: "12.50", ok: true, day: "2026-01-01", at: "2026-01-01T10:00:00.000000Z", label: "a" },
    { id: 2, price: "3.10", ok: false, day: "2026-01-02", at: "2026-01-02T11:30:00.000000Z", label: null },
    { id: 3, price: null, ok: true, day: "2026-01-03", at: "2026-01-03T12:00:00.000000Z", label: "c" },
  ]);
  assert.equal(r.records.length, 3 + fillerRows);
  assert.deepStrictEqual(r.rejects, [{ line: 5 + fillerRows, reason: "type", column: "id", value: "x" }]);
});

Deno.test("parseCommand --types infer keeps columns with non-ISO dates as text", async () => {
  const r = await run(["t.csv", "--types", "infer"], { "t.csv": "when,n\n01/02/2026,1\n03/04/2026,2\n" });
  assert.deepStrictEqual(r.records, [{ when: "01/02/2026", n: 1 }, { when: "03/04/2026", n: 2 }]);
});

Deno.test("parseCommand reads the dialect from the options or sniffs it", async (t) => {
  const table: { name: string; args: string[]; text: string; records: unknown[] }[] = [
    {
      name: "sniffed semicolon",
      args: [],
      text: "a;b\n1;x,y\n2;z\n",
      records: [{ a: "1", b: "x,y" }, { a: "2", b: "z" }],
    },
    {
      name: "--delimiter tab as \\t",
      args: ["--delimiter", "\\t"],
      text: "a\tb\n1\t2\n",
      records: [{ a: "1", b: "2" }],
    },
    {
      name: "--delimiter wins over what sniffing would pick",
      args: ["--delimiter", "|"],
      text: "a|b,c\n1|2,3\n",
      records: [{ a: "1", "b,c": "2,3" }],
    },
    {
      name: "--no-header names columns by position and keeps the first record",
      args: ["--no-header"],
      text: "1,2\n3,4\n",
      records: [{ column_1: "1", column_2: "2" }, { column_1: "3", column_2: "4" }],
    },
    {
      name: "empty, repeated and trailing header names",
      args: [],
      text: "a,,a,\n1,2,3,\n",
      records: [{ a: "1", column_2: "2", a_2: "3" }],
    },
    { name: "a header without records", args: [], text: "a,b", records: [] },
    { name: "an empty file", args: [], text: "", records: [] },
  ];
  for (const c of table) {
    await t.step(c.name, async () => {
      const r = await run([...c.args, "f.csv"], { "f.csv": c.text });
      assert.equal(r.code, 0);
      assert.deepStrictEqual(r.records, c.records);
      assert.deepStrictEqual(r.rejects, []);
    });
  }
});

Deno.test("parseCommand gives the same records and lines whatever the chunk size", async () => {
  const lines = ["id,text,n"];
  for (let i = 1; i <= 400; i++) {
    const text = i % 7 === 0 ? `"multi\nline ${i}"` : i % 5 === 0 ? `"quoted, ""${i}"""` : `plain ${i}`;
    lines.push(i % 31 === 0 ? `${i},ragged` : `${i},${text},${i * 3}`);
  }
  const text = lines.join("\n") + "\n";
  const whole = await run(["f.csv", "--types", "infer"], { "f.csv": text }, { chunkBytes: 1 << 20 });
  assert.equal(whole.records.length, 400 - 12);
  assert.equal(whole.rejects.length, 12);
  for (const chunkBytes of [64, 333, 4096]) {
    const cut = await run(["f.csv", "--types", "infer"], { "f.csv": text }, { chunkBytes, workers: 2 });
    assert.deepStrictEqual(cut.records, whole.records, `chunkBytes ${chunkBytes}`);
    assert.deepStrictEqual(cut.rejects, whole.rejects, `chunkBytes ${chunkBytes}`);
  }
  // Line numbers count the header and the newlines inside quoted fields.
  const first = whole.rejects[0] as { line: number; value: string };
  assert.equal(first.value, "31,ragged");
  assert.equal(first.line, 1 + 31 + Math.floor(30 / 7));
});

Deno.test("parseCommand reports an unterminated quote with its line and goes on", async () => {
  const r = await run(["f.csv"], { "f.csv": 'a,b\n1,2\n3,"open\n4,5\n' }, { chunkBytes: 64 });
  assert.equal(r.code, 0);
  assert.deepStrictEqual(r.records, [{ a: "1", b: "2" }]);
  assert.equal(r.rejects.length, 1);
  assert.deepStrictEqual(
    { ...(r.rejects[0] as Record<string, unknown>), message: undefined },
    { line: 3, reason: "quote", column: null, message: undefined },
  );
  assert.match((r.rejects[0] as { message: string }).message, /line 3, column 3/);
  // In a later chunk, the line is still the input's.
  const rows = Array.from({ length: 40 }, (_, i) => `${i},x\n`).join("");
  const later = await run(["f.csv"], { "f.csv": `a,b\n${rows}7,"open\n4,5\n` }, { chunkBytes: 64 });
  assert.equal(later.records.length, 40);
  assert.deepStrictEqual(later.rejects.map((r) => (r as { line: number }).line), [42]);
  assert.match((later.rejects[0] as { message: string }).message, /line 42, column 3/);
});

Deno.test("parseCommand exits with a code that says what went wrong", async (t) => {
  const table: { name: string; args: string[]; code: number; err: RegExp }[] = [
    { name: "missing file argument", args: [], code: 2, err: /Missing FILE/ },
    { name: "unknown option", args: ["--nope", "a.csv"], code: 2, err: /Unknown option: --nope/ },
    { name: "bad --delimiter", args: ["--delimiter", "ab", "a.csv"], code: 2, err: /Invalid --delimiter/ },
    { name: "bad --types", args: ["--types", "guess", "a.csv"], code: 2, err: /Invalid --types/ },
    { name: "unreadable file", args: ["missing.csv"], code: 1, err: /Cannot read missing\.csv/ },
    { name: "help", args: ["--help"], code: 0, err: /Usage: weir parse/ },
  ];
  for (const c of table) {
    await t.step(c.name, async () => {
      const r = await run(c.args, { "a.csv": "a\n1\n" });
      assert.equal(r.code, c.code);
      assert.match(r.stderr, c.err);
    });
  }
});

Deno.test("parseCommand stops reading while stdout does not take its writes", async () => {
  const row = encoder.encode("1,some text,3.5\n");
  let pulled = 0;
  // An endless input: only backpressure from stdout can keep what is read bounded.
  const input = new ReadableStream<Uint8Array>({
    start: (c) => c.enqueue(encoder.encode("a,b,c\n")),
    pull: (c) => {
      const piece = new Uint8Array(row.length * 4096);
      for (let i = 0; i < 4096; i++) piece.set(row, i * row.length);
      pulled += piece.length;
      c.enqueue(piece);
    },
  }, { highWaterMark: 0 });
  let firstWrite!: () => void;
  const written = new Promise<void>((resolve) => firstWrite = resolve);
  let fail!: (error: Error) => void;
  const stuck = new Promise<void>((_, reject) => fail = reject);
  const io: ParseCommandIo = {
    open: () => Promise.resolve(input),
    stdout: new WritableStream({
      write: () => {
        firstWrite();
        return stuck;
      },
    }),
    stderr: new WritableStream(),
  };
  const command = parseCommand(["-"], io, { module, chunkBytes: 256 << 10 });
  await written;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const afterWait = pulled;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const read = pulled;
  // A failing stdout ends the command with its error, and the pool with it.
  fail(new Error("stdout is gone"));
  await assert.rejects(command, /stdout is gone/);
  // Chunks in flight (a few of 256 KiB) plus the sniffing sample bound what was read; nothing more is pulled.
  assert.ok(afterWait < 8 << 20, `read ${afterWait} bytes while stdout was stuck`);
  assert.equal(read, afterWait, "reading stopped");
});

Deno.test("weir parse runs as a command, reading stdin with -", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      new URL("../main.ts", import.meta.url).pathname,
      "parse",
      "-",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode("id,name\n1,a\n2\n3,c\n"));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.deepStrictEqual(jsonLines(new TextDecoder().decode(stdout)), [{ id: "1", name: "a" }, {
    id: "3",
    name: "c",
  }]);
  assert.deepStrictEqual(jsonLines(new TextDecoder().decode(stderr)), [
    { line: 3, reason: "ragged", column: null, value: "2" },
  ]);
});

/** Runs `weir parse` on `text` as a file given by path (read in byte ranges) and as stdin (read by the chunker). */
async function fileAndStdin(args: string[], text: string, options: ParseCommandOptions) {
  const dir = await Deno.makeTempDir({ prefix: "weir-parse-" });
  try {
    const path = `${dir}/in.csv`;
    const bytes = encoder.encode(text);
    await Deno.writeFile(path, bytes);
    const decode = (parts: Uint8Array[]) => new TextDecoder().decode(concatBytes(parts));
    const collect = (into: Uint8Array[]) =>
      new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk.slice()) });
    const run = async (io: ParseCommandIo, out: Uint8Array[], err: Uint8Array[], argPath: string) => {
      const code = await parseCommand([...args, argPath], io, { module, ...options });
      return { code, stdout: decode(out), stderr: decode(err) };
    };
    // The file's stream is read for the sniffing sample only.
    let pulled = 0;
    const fileOut: Uint8Array[] = [], fileErr: Uint8Array[] = [];
    const byPath = await run(
      {
        open: async (p) =>
          (await Deno.open(p)).readable.pipeThrough(
            new TransformStream({ transform: (piece, c) => void (pulled += piece.length, c.enqueue(piece)) }),
          ),
        isFile: async (p) => (await Deno.stat(p)).isFile,
        stdout: collect(fileOut),
        stderr: collect(fileErr),
      },
      fileOut,
      fileErr,
      path,
    );
    // Stdin comes in uneven pieces, as from a pipe.
    const pieces: Uint8Array[] = [];
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n * 7 + 3) % 5000 + 1) {
      pieces.push(bytes.slice(at, at + n));
    }
    const stdinOut: Uint8Array[] = [], stdinErr: Uint8Array[] = [];
    const byStdin = await run(
      {
        open: () => Promise.resolve(ReadableStream.from(pieces)),
        isFile: () => Promise.resolve(false),
        stdout: collect(stdinOut),
        stderr: collect(stdinErr),
      },
      stdinOut,
      stdinErr,
      "-",
    );
    return { byPath, byStdin, pulled, size: bytes.length };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseCommand writes the same for a file given by path (byte ranges) as for its bytes on stdin", async (t) => {
  const rows = (n: number, row: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => row(i + 1)).join("");
  const mixed = (i: number) =>
    i % 31 === 0
      ? `${i},ragged\n`
      : i % 7 === 0
      ? `${i},"multi\nline ""${i}""",${i * 3}\n`
      : i % 11 === 0
      ? `${i},"open ${i}\nmiddle ""even""\nclose",x${i}\n`
      : `${i},plain ${i},${i}.5\n`;
  const cases: { name: string; args: string[]; text: string; stderr?: RegExp }[] = [
    {
      name: "quoted newlines, doubled quotes, ragged rows",
      args: [],
      text: "id,text,n\n" + rows(10_000, mixed),
      stderr: /"reason":"ragged"/,
    },
    {
      name: "CRLF, a BOM, blank lines",
      args: [],
      text: "\ufeff\r\nid,text,n\r\n" +
        rows(800, (i) => mixed(i).replaceAll("\n", "\r\n") + (i % 13 ? "" : "\r\n")),
    },
    { name: "renamed headers", args: [], text: "a,,a,\n" + rows(800, (i) => `${i},"x\n${i}",${i},\n`) },
    { name: "--no-header", args: ["--no-header"], text: rows(1500, mixed) },
    {
      name: "--types infer",
      args: ["--types", "infer"],
      stderr: /\{"line":2501,"reason":"type","column":"id","value":"x"\}/,
      text: "id,price,ok,day\n" +
        rows(
          3000,
          (i) =>
            i === 2500 ? `x,1.00,true,2026-01-01\n` : `${i},${i}.25,${i % 2 === 0},2026-01-0${1 + i % 9}\n`,
        ),
    },
    {
      name: "an unterminated quote mid-file",
      args: [],
      stderr: /\{"line":701,"reason":"quote"/,
      text: "id,text,n\n" +
        rows(1500, (i) => i === 700 ? `${i},"never closed,1\n` : `${i},plain ${i},${i}\n`),
    },
    { name: "a header only", args: [], text: "a,b\n" },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      for (const chunkBytes of [97, 1000, 8192]) {
        const { byPath, byStdin, pulled, size } = await fileAndStdin(c.args, c.text, {
          chunkBytes,
          workers: 2,
        });
        assert.equal(byPath.code, 0);
        assert.deepStrictEqual(byPath, byStdin, `chunkBytes ${chunkBytes}`);
        if (c.stderr) assert.match(byPath.stderr, c.stderr);
        if (size > 200_000) {
          assert.ok(pulled < size, `the file was read in ranges (${pulled} of ${size} bytes)`);
        }
      }
    });
  }
});
