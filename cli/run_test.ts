import assert from "node:assert/strict";
import { formatBytes, formatDuration, runCommand, summaryTable } from "./run.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
// The permissions of `deno task weir`: writes under ./data only.
const TASK_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write=./data",
  "--allow-sys=hostname,osRelease",
];

const WEIR_YAML = `pipelines:
  items:
    source: { http: {} }
    schema:
      columns:
        id: { type: int64, required: true }
        name: { type: string }
        amount: { type: decimal, precision: 12, scale: 2, min: 0 }
    checks: [{ expect: unique, column: id }, { expect: row_count, min: 1 }]
    sinks: [{ postgres: { table: items } }]
`;

/** A folder under ./data (the only place the task may write) with weir.yaml; removed afterwards. */
async function withWorkspace(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.mkdir(`${ROOT}/data`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/data`, prefix: "run-test-" });
  await Deno.writeTextFile(`${dir}/weir.yaml`, WEIR_YAML);
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function weirRun(dir: string, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, MAIN, "run", ...args],
    cwd: ROOT,
    env: {
      // Relative to ./, as a user of the task would write them.
      WEIR_DATA_DIR: `./${dir.slice(ROOT.length + 1)}/state`,
      WEIR_CONFIG: `${dir}/weir.yaml`,
      WEIR_WORKERS: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("weir run ingests csv and gzipped ndjson files, prints a summary and exits 0", async () => {
  await withWorkspace(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.csv`, "id,name,amount\n1,a,1.50\n2,b,-1\n3,c,2\n");
    await Deno.writeFile(
      `${dir}/b.ndjson.gz`,
      await gzip('{"id":4,"name":"d","amount":3.25}\n{"id":5,"name":"e","amount":4}\n'),
    );
    const { code, stdout, stderr } = await weirRun(dir, ["items", `${dir}/a.csv`, `${dir}/b.ndjson.gz`]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^file\s+received\s+accepted\s+rejected\s+bytes\s+time\s+run\s+committed\s+quality$/,
    );
    assert.match(lines[2], /a\.csv\s+3\s+2\s+1\s+.*\sr_[0-9a-f]+\s+yes\s+1\.0000$/);
    assert.match(lines[3], /b\.ndjson\.gz\s+2\s+2\s+0\s+.*\sr_[0-9a-f]+\s+yes\s+1\.0000$/);
    assert.match(lines[4], /^total\s+5\s+4\s+1\s+.*2\/2/);
    // Not a terminal: plain lines, one per finished file, and no JSON logs below warn.
    assert.match(stderr, /a\.csv: 3 rows in .*, 2 accepted, 1 rejected, committed\n/);
    assert.ok(!stderr.includes("\x1b[K"), "no terminal control sequences");
    assert.doesNotMatch(stderr, /"level":"info"/);
  });
});

Deno.test("weir run exits 1 when a file cannot be read and still runs the others", async () => {
  await withWorkspace(async (dir) => {
    await Deno.writeFile(`${dir}/bad.csv.gz`, new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await Deno.writeTextFile(`${dir}/good.csv`, "id,name,amount\n1,a,1\n1,b,2\n");
    const { code, stdout } = await weirRun(dir, ["items", `${dir}/bad.csv.gz`, `${dir}/good.csv`]);
    assert.equal(code, 1);
    assert.match(stdout, /bad\.csv\.gz\s+0\s+0\s+0\s.*no \(failed\)/);
    // The duplicate id fails the unique check: the run still commits, the score tells.
    assert.match(stdout, /good\.csv\s+2\s+2\s+0\s.*yes\s+0\.5000/);
    assert.match(stdout, /\n\S*bad\.csv\.gz: invalid gzip header\n/);
  });
});

Deno.test("weir run draws a bar on a terminal and answers usage errors with 2", async (t) => {
  await t.step("usage errors", async () => {
    const cases = [[], ["items"], ["items", "x.csv", "--format", "xml"], ["items", "x.csv", "--bogus"]];
    for (const args of cases) {
      let err = "";
      const code = await runCommand(args, { env: {}, stderr: (s) => (err += s), stdout: () => {} });
      assert.equal(code, 2, args.join(" "));
      assert.match(err, /Usage: weir run/);
    }
  });
  await t.step("a bar on a terminal, and an unknown pipeline", async () => {
    await withWorkspace(async (dir) => {
      await Deno.writeTextFile(`${dir}/rows.txt`, '{"id":1,"name":"a","amount":1}\n');
      const env = { WEIR_DATA_DIR: `${dir}/state`, WEIR_CONFIG: `${dir}/weir.yaml`, WEIR_WORKERS: "1" };
      let err = "";
      let out = "";
      const code = await runCommand(["items", "--format", "ndjson", `${dir}/rows.txt`], {
        env,
        isTerminal: true,
        stderr: (s) => (err += s),
        stdout: (s) => (out += s),
      });
      assert.equal(code, 0, err);
      assert.ok(err.startsWith("\r\x1b[K"), "a redrawn line");
      assert.match(err, /rows\.txt \[-{24}\]\s+0% 0 B\/31 B 0 rows\/s ETA --/);
      assert.match(err, /rows\.txt: 1 rows in .*, 1 accepted, 0 rejected, committed\n$/);
      assert.match(out, /rows\.txt\s+1\s+1\s+0\s/);

      err = "";
      const unknown = await runCommand(["nope", `${dir}/rows.txt`], { env, stderr: (s) => (err += s) });
      assert.equal(unknown, 2);
      assert.match(err, /unknown pipeline: nope \(.* has items\)/);
    });
  });
});

Deno.test("summary helpers format bytes, durations and a table", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(12_345), "12.3s");
  assert.equal(formatDuration(62_000), "1:02");
  assert.equal(formatDuration(3_723_000), "1:02:03");
  const table = summaryTable([{
    file: "a.csv",
    size: 10,
    received: 3,
    accepted: 2,
    rejected: 1,
    bytes: 10,
    ms: 5,
    run: "r_1",
    committed: false,
    error: "Bad",
  }]);
  assert.equal(
    table,
    [
      "file   received  accepted  rejected  bytes  time  run  committed    quality",
      "-----  --------  --------  --------  -----  ----  ---  -----------  -------",
      "a.csv         3         2         1   10 B   5ms  r_1  no (failed)  -",
      "",
      "a.csv: Bad",
      "",
    ].join("\n"),
  );
});
