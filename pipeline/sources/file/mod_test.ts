import assert from "node:assert/strict";
import { loadEnv } from "../../../config/env.ts";
import { createLogger } from "../../../observability/logger.ts";
import { Telemetry } from "../../../observability/metrics.ts";
import { openRuntime, type Runtime } from "../../../server/runtime.ts";
import { runIngest } from "../../runner.ts";
import {
  type FileEvent,
  fileRunId,
  FileSource,
  formatOfName,
  globToRegExp,
  hashFile,
  openFileInput,
} from "./mod.ts";

const silent = createLogger({ write: () => {} });
const HEADER = "id,name,amount\n";

function csvRows(from: number, count: number): string {
  let out = "";
  for (let i = from; i < from + count; i++) out += `${i},name ${i},${(i % 97) + 0.5}\n`;
  return out;
}

interface Harness {
  root: string;
  inbox: string;
  open(options?: { sources?: boolean }): Promise<Runtime>;
}

/** A folder with an inbox and a weir.yaml whose pipeline `drops` watches it; removed afterwards. */
async function withHarness(
  source: string,
  fn: (harness: Harness) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "weir-file-source-" });
  const inbox = `${root}/inbox`;
  await Deno.mkdir(inbox);
  await Deno.writeTextFile(
    `${root}/weir.yaml`,
    `pipelines:
  drops:
    source: { file: { path: ${JSON.stringify(inbox)}, ${source} } }
    schema:
      columns:
        id: { type: int64, required: true }
        name: { type: string }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
    checks: [{ expect: unique, column: id }]
    sinks: [{ postgres: { table: drops, mode: append } }]
    limits: { chunkSize: 64KiB }
`,
  );
  const config = loadEnv({
    WEIR_DATA_DIR: `${root}/data`,
    WEIR_CONFIG: `${root}/weir.yaml`,
    WEIR_WORKERS: "1",
  });
  try {
    await fn({
      root,
      inbox,
      open: (options = {}) => openRuntime(config, { logger: silent, telemetry: new Telemetry(), ...options }),
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Starts a source over the runtime's `drops` pipeline that reads files at once, recording what it did. */
async function startSource(runtime: Runtime, options: { maxDeadLetterBytes?: number } = {}) {
  const events: FileEvent[] = [];
  const source = await FileSource.start(runtime.pipelines.get("drops")!, {
    store: runtime.store,
    pool: runtime.pool,
    kernels: runtime.kernels,
    logger: silent,
    settleMs: 0,
    onFile: (event) => events.push(event),
    ...options,
  });
  await source.idle();
  return { source, events };
}

async function rowCount(runtime: Runtime): Promise<number> {
  const rows = await runtime.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM "drops"`)
    .catch(() => [{ n: 0 }]);
  return rows[0].n;
}

/** Writes `path` as producers should: under a dot name (which the source ignores), then renamed into place. */
async function drop(path: string, data: string | Uint8Array): Promise<void> {
  const slash = path.lastIndexOf("/");
  const temp = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.part`;
  if (typeof data === "string") await Deno.writeTextFile(temp, data);
  else await Deno.writeFile(temp, data);
  await Deno.rename(temp, path);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("formatOfName goes by extension, after an optional .gz", async (t) => {
  const cases: [string, string | undefined, boolean][] = [
    ["a.csv", "csv", false],
    ["a.TSV.gz", "csv", true],
    ["x/b.ndjson", "ndjson", false],
    ["b.jsonl.gz", "ndjson", true],
    ["c.json", "json", false],
    ["d.txt", undefined, false],
  ];
  for (const [name, format, gzip] of cases) {
    await t.step(name, () => assert.deepEqual(formatOfName(name), { format, gzip }));
  }
});

Deno.test("globToRegExp matches within and across folders", async (t) => {
  const cases: [string, string, boolean][] = [
    ["*", "a.csv", true],
    ["*", "sub/a.csv", false],
    ["*.csv", "a.csv", true],
    ["*.csv", "a.csv.gz", false],
    ["**/*.ndjson.gz", "a.ndjson.gz", true],
    ["**/*.ndjson.gz", "x/y/a.ndjson.gz", true],
    ["*.{csv,json}", "a.json", true],
    ["a?.csv", "ab.csv", true],
    ["a?.csv", "a.csv", false],
  ];
  for (const [glob, path, expected] of cases) {
    await t.step(`${glob} ${path}`, () => assert.equal(globToRegExp(glob).test(path), expected));
  }
});

Deno.test("file source ingests a dropped file once, and neither a rescan nor a restart ingests it again", async () => {
  await withHarness("after: mark", async ({ inbox, open }) => {
    let runtime = await open({ sources: false });
    try {
      let { source, events } = await startSource(runtime);
      await drop(`${inbox}/a.csv`, HEADER + csvRows(1, 100));
      await source.scan();
      assert.deepEqual(events.map((e) => e.outcome), ["ingested"]);
      assert.equal(events[0].result?.accepted, 100);
      assert.equal(events[0].result?.quality?.score, 1);
      assert.equal(await rowCount(runtime), 100);
      assert.ok(await exists(`${inbox}/a.csv`), "after: mark leaves the file");
      const run = await runtime.store.runs.get(events[0].run);
      assert.equal(run?.status, "committed");
      assert.deepEqual((run?.quality as { failed: string[] }).failed, []);

      await source.scan();
      assert.equal(events.length, 1, "an unchanged file is not looked at again");
      await source.close();
      await runtime.close();

      runtime = await open({ sources: false });
      ({ source, events } = await startSource(runtime));
      assert.deepEqual(events.map((e) => e.outcome), ["skipped"]);
      assert.equal(await rowCount(runtime), 100);
      assert.equal((await runtime.store.runs.list({ pipeline: "drops" })).items.length, 1);
      await source.close();
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("file source ingests a changed file again as a new run", async () => {
  await withHarness("after: mark", async ({ inbox, open }) => {
    const runtime = await open({ sources: false });
    try {
      const { source, events } = await startSource(runtime);
      await drop(`${inbox}/a.csv`, HEADER + csvRows(1, 10));
      await source.scan();
      await drop(`${inbox}/a.csv`, HEADER + csvRows(1, 10) + csvRows(11, 5));
      await source.scan();
      assert.deepEqual(events.map((e) => e.outcome), ["ingested", "ingested"]);
      assert.notEqual(events[0].run, events[1].run);
      assert.notEqual(events[0].sha256, events[1].sha256);
      assert.equal(events[1].result?.accepted, 15);
      assert.equal(await rowCount(runtime), 25);
      await source.close();
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("file source moves processed files, and the runtime's own source picks up a dropped file", async () => {
  await withHarness("after: move, glob: '*.csv', pollInterval: 200ms", async ({ inbox, open }) => {
    const runtime = await open();
    try {
      assert.ok(runtime.fileSources.has("drops"));
      await drop(`${inbox}/ignored.txt`, "not matched by the glob");
      await drop(`${inbox}/b.csv`, HEADER + csvRows(1, 20));
      // The source takes the file after it settled (events, or the 200 ms scan); wait for it to move.
      while (!(await exists(`${inbox}/processed/b.csv`))) await new Promise((r) => setTimeout(r, 50));
      await runtime.fileSources.get("drops")!.idle();
      assert.equal(await rowCount(runtime), 20);
      assert.ok(!(await exists(`${inbox}/b.csv`)));
      assert.ok(await exists(`${inbox}/ignored.txt`));

      // The same name again with other content lands beside the first under a new name.
      await drop(`${inbox}/b.csv`, HEADER + csvRows(21, 5));
      while (await exists(`${inbox}/b.csv`)) await new Promise((r) => setTimeout(r, 50));
      await runtime.fileSources.get("drops")!.idle();
      assert.equal(await rowCount(runtime), 25);
      const moved = [...Deno.readDirSync(`${inbox}/processed`)].map((e) => e.name).sort();
      assert.equal(moved.length, 2);
      assert.match(moved[0], /^b-[0-9a-f]{12}\.csv$/);
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("file source dead-letters a file that cannot be read, with its bytes capped", async (t) => {
  await withHarness("after: move", async ({ inbox, open }) => {
    const runtime = await open({ sources: false });
    try {
      const { source, events } = await startSource(runtime, { maxDeadLetterBytes: 64 });
      const garbage = new Uint8Array(200).map((_, i) => (i * 37) & 0xff);
      garbage[0] = 0x1f; // gzip's magic, then nonsense
      garbage[1] = 0x8b;
      const cases: { name: string; bytes: Uint8Array; message: RegExp; line?: number }[] = [
        { name: "bad.csv.gz", bytes: garbage, message: /gzip/ },
        { name: "unknown.xyz", bytes: new TextEncoder().encode("?"), message: /Unknown file format/ },
        {
          name: "unterminated.csv",
          bytes: new TextEncoder().encode(HEADER + '1,"open quote,2\n2,b,3\n'),
          message: /ends inside a quoted field/,
          line: 2,
        },
        {
          name: "wrong_header.csv",
          bytes: new TextEncoder().encode("id,label\n1,a\n"),
          message: /header lacks declared columns: name, amount/,
          line: 1,
        },
      ];
      for (const c of cases) {
        await t.step(c.name, async () => {
          await drop(`${inbox}/${c.name}`, c.bytes);
          await source.scan();
          const event = events.find((e) => e.path === c.name);
          assert.equal(event?.outcome, "dead_lettered", String(event?.error));
          const page = await runtime.store.deadLetters.list({ pipeline: "drops", stage: "source.file" });
          const info = page.items.find((l) => l.errors[0].details?.path === c.name);
          assert.ok(info, "a dead letter for the file");
          const letter = (await runtime.store.deadLetters.get(info.id))!;
          assert.deepEqual(letter.original, c.bytes.slice(0, 64));
          assert.equal(letter.errors[0].details?.size, c.bytes.length);
          if (c.bytes.length > 64) assert.match(letter.errors[0].message, /first 64 of 200 bytes kept/);
          assert.match(letter.errors.map((e) => e.message).join("\n"), c.message);
          assert.equal(letter.line, c.line ?? null);
          assert.ok(await exists(`${inbox}/processed/${c.name}`), "a bad file is moved away too");
        });
      }
      // Dead-lettered files count as processed: a rescan does not dead-letter them again.
      await source.scan();
      assert.equal(events.length, cases.length);
      await source.close();
    } finally {
      await runtime.close();
    }
  });
});

Deno.test("file source continues the run of a file interrupted part-way, landing each row once", async () => {
  await withHarness("after: mark", async ({ inbox, open }) => {
    const runtime = await open({ sources: false });
    try {
      // ~300 KiB: several 64 KiB chunks, with a duplicate id in the last one for the quality check.
      const text = HEADER + csvRows(1, 12_000) + "5,again,1\n";
      await drop(`${inbox}/big.csv`, text);
      const plan = runtime.pipelines.get("drops")!;
      const run = await fileRunId("drops", "big.csv", await hashFile(`${inbox}/big.csv`));

      // A process that died after the first chunks: the run stays open with its checkpoints.
      const stop = new AbortController();
      await assert.rejects(
        runIngest(plan, await openFileInput(`${inbox}/big.csv`, { format: "csv", gzip: false }), {
          store: runtime.store,
          pool: runtime.pool,
          kernels: runtime.kernels,
          logger: silent,
          runId: run,
          signal: stop.signal,
          maxInFlight: 1,
          finishRun: false,
          onProgress: () => stop.abort(),
        }),
      );
      const partial = await rowCount(runtime);
      assert.ok(partial > 0 && partial < 12_001, `some rows landed before the stop: ${partial}`);

      const { source, events } = await startSource(runtime);
      assert.deepEqual(events.map((e) => [e.outcome, e.run]), [["ingested", run]]);
      assert.equal(events[0].result?.accepted, 12_001);
      assert.equal(await rowCount(runtime), 12_001);
      const quality = events[0].result?.quality;
      assert.deepEqual(quality?.failed, ["unique(id)"]);
      assert.equal(quality?.checks[0].value, 1);
      assert.equal(quality?.checks[0].distinct, 12_000);
      const stored = await runtime.store.runs.get(run);
      assert.equal(stored?.status, "committed");
      assert.deepEqual(stored?.quality, quality);
      await source.close();
    } finally {
      await runtime.close();
    }
  });
});
