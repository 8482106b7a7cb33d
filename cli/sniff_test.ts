import { deepStrictEqual, equal, match } from "node:assert/strict";
import { denoIo, sniffCommand, type SniffCommandIo } from "./sniff.ts";

function memoryIo(files: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: SniffCommandIo = {
    readHead: (path, max) => {
      if (!(path in files)) return Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`));
      const bytes = new TextEncoder().encode(files[path]);
      return Promise.resolve({ bytes: bytes.subarray(0, max), complete: bytes.length <= max });
    },
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  };
  return { io, out, err };
}

Deno.test("sniffCommand prints the sniffed dialect and columns as JSON", async () => {
  const { io, out } = memoryIo({ "a.csv": "id;when\n1;2026-11-28\n2;2026-11-29\n" });
  equal(await sniffCommand(["a.csv"], io), 0);
  const r = JSON.parse(out.join("\n"));
  equal(r.file, "a.csv");
  equal(r.delimiter, ";");
  deepStrictEqual(r.columns.map((c: { name: string; type: { kind: string } }) => [c.name, c.type.kind]), [
    ["id", "int64"],
    ["when", "date"],
  ]);
});

Deno.test("sniffCommand exits with a code that says what went wrong", async (t) => {
  const table: { name: string; args: string[]; code: number; err: RegExp }[] = [
    { name: "missing file argument", args: [], code: 2, err: /Usage: weir sniff/ },
    { name: "unknown option", args: ["--nope", "a.csv"], code: 2, err: /Unknown option: --nope/ },
    { name: "bad --bytes", args: ["--bytes", "x", "a.csv"], code: 2, err: /Invalid --bytes/ },
    { name: "unreadable file", args: ["missing.csv"], code: 1, err: /Cannot read missing\.csv/ },
  ];
  for (const c of table) {
    await t.step(c.name, async () => {
      const { io, err } = memoryIo({ "a.csv": "a\n1\n" });
      equal(await sniffCommand(c.args, io), c.code);
      match(err.join("\n"), c.err);
    });
  }
});

Deno.test("sniffCommand reads a real file through Deno", async () => {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, "x|y\n1|a\n2|b\n");
    const out: string[] = [];
    const code = await sniffCommand([path], {
      readHead: denoIo.readHead,
      stdout: (l) => out.push(l),
      stderr: () => {},
    });
    equal(code, 0);
    equal(JSON.parse(out.join("\n")).delimiter, "|");
  } finally {
    await Deno.remove(path);
  }
});
