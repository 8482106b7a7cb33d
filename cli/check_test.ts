import { deepStrictEqual, equal, match } from "node:assert/strict";
import { checkCommand, type CheckCommandIo } from "./check.ts";
import { PERMISSIVE_CATALOG, TEST_CATALOG } from "../pipeline/spec_testing.ts";

function memoryIo(files: Record<string, string>, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CheckCommandIo = {
    readText: (path) =>
      path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`)),
    env: (name) => env[name],
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  };
  return { io, out, err };
}

const GOOD = `pipelines:
  orders:
    source: { http: {} }
    schema: { key: [id], columns: { id: { type: int64 }, amount: { type: decimal } } }
    transforms: [ { filter: "amount > 0" } ]
    sinks: [ { postgres: { table: orders } }, { kafka: { topic: orders } } ]
  clicks:
    source: { file: { path: inbox } }
    schema: { columns: { url: { type: string } } }
    sinks: [ { file: { path: out.ndjson } } ]
    rejects: drop
`;

Deno.test("checkCommand prints a summary of a valid file and exits 0", async () => {
  const { io, out, err } = memoryIo({ "weir.yaml": GOOD });
  equal(await checkCommand([], { io, catalog: TEST_CATALOG }), 0);
  deepStrictEqual(err, []);
  deepStrictEqual(out, [
    "weir.yaml: ok, 2 pipelines",
    "  orders: source http; 2 columns (key id); 1 transform (filter); 0 checks; sinks postgres, kafka; rejects dlq",
    "  clicks: source file; 1 column; 0 transforms; 0 checks; sinks file; rejects drop",
  ]);
});

Deno.test("checkCommand prints every problem as file:line:column and exits 1", async () => {
  const bad = GOOD.replace("{ table: orders }", "{ table: orders, mode: merge }").replace(
    "rejects: drop",
    "rejects: keep",
  );
  const { io, out, err } = memoryIo({ "conf/weir.yaml": bad });
  equal(await checkCommand(["conf/weir.yaml"], { io, catalog: TEST_CATALOG }), 1);
  deepStrictEqual(out, []);
  deepStrictEqual(err, [
    'conf/weir.yaml:6:49: pipelines.orders.sinks[0].postgres.mode: expected "append" | "upsert", got "merge"',
    'conf/weir.yaml:11:14: pipelines.clicks.rejects: expected "dlq" | "drop" | "fail", got "keep"',
    "conf/weir.yaml: 2 problems",
  ]);
});

Deno.test("checkCommand reads $WEIR_CONFIG when no file is given", async () => {
  const { io, out } = memoryIo({ "/etc/weir.yaml": GOOD }, { WEIR_CONFIG: "/etc/weir.yaml" });
  equal(await checkCommand([], { io, catalog: TEST_CATALOG }), 0);
  equal(out[0], "/etc/weir.yaml: ok, 2 pipelines");
});

Deno.test("checkCommand exits with a code that says what went wrong", async (t) => {
  const table: { name: string; args: string[]; code: number; err: RegExp }[] = [
    {
      name: "unreadable file",
      args: ["missing.yaml"],
      code: 1,
      err: /^Cannot read missing\.yaml: No such file/,
    },
    {
      name: "unknown option",
      args: ["--strict"],
      code: 2,
      err: /^Unknown option: --strict\nUsage: weir check/,
    },
    { name: "two files", args: ["a.yaml", "b.yaml"], code: 2, err: /^Unexpected argument: b\.yaml/ },
  ];
  for (const c of table) {
    await t.step(c.name, async () => {
      const { io, err } = memoryIo({ "a.yaml": GOOD });
      equal(await checkCommand(c.args, { io, catalog: TEST_CATALOG }), c.code);
      match(err.join("\n"), c.err);
    });
  }
});

Deno.test("checkCommand accepts the repository's example weir.yaml", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CheckCommandIo = {
    readText: (path) => Deno.readTextFile(new URL(`../${path}`, import.meta.url)),
    env: () => undefined,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  };
  // The real registry: the example must name real components with real configs.
  equal(await checkCommand(["weir.yaml"], { io }), 0, err.join("\n"));
  match(
    out.join("\n"),
    /^weir\.yaml: ok, 1 pipeline\n {2}orders: source http; 7 columns \(key id\); 2 transforms \(derive, filter\); 2 checks; sinks postgres; rejects dlq$/,
  );
  // And with a catalog that accepts any component config, so a change to the sinks cannot hide a schema problem.
  equal(await checkCommand(["weir.yaml"], { io, catalog: PERMISSIVE_CATALOG }), 0, err.join("\n"));
});
