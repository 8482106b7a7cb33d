/**
 * The real `weir serve` process: start-up on the embedded default, readiness, fatal configuration lines,
 * and a clean drain on SIGTERM.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys=hostname,osRelease",
];

interface Weir {
  child: Deno.ChildProcess;
  url: string;
  /** Resolves once weir logged that its runtime is open. */
  ready: Promise<void>;
  /** Every stderr line read so far. */
  lines: string[];
  /** Resolves with the exit status once stderr is drained. */
  exited: Promise<Deno.CommandStatus>;
}

async function startWeir(env: Record<string, string>): Promise<Weir> {
  const dataDir = await Deno.makeTempDir({ prefix: "weir-server-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "serve"],
    env: { PORT: "0", WEIR_DATA_DIR: dataDir, WEIR_WORKERS: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise: listening, resolve: resolveUrl, reject: rejectUrl } = Promise.withResolvers<string>();
  const { promise: ready, resolve: resolveReady, reject: rejectReady } = Promise.withResolvers<void>();
  ready.catch(() => {}); // observed by the tests that wait for readiness
  const reading = (async () => {
    let buffered = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffered += text;
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (line.includes('"Listening"')) resolveUrl(JSON.parse(line).url);
        if (line.includes('"Ready"')) resolveReady();
      }
    }
    if (buffered) lines.push(buffered);
    rejectUrl(new Error(`weir exited before listening:\n${lines.join("\n")}`));
    rejectReady(new Error(`weir exited before it was ready:\n${lines.join("\n")}`));
  })();
  const exited = reading.then(() => child.status).finally(() => Deno.remove(dataDir, { recursive: true }));
  try {
    return { child, url: await listening, ready, lines, exited };
  } catch (error) {
    await exited;
    throw error;
  }
}

async function runToExit(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "serve"],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("weir serve answers healthz and readyz on the embedded default, then drains on SIGTERM", async () => {
  const weir = await startWeir({});
  try {
    // Live as soon as it listens, before the embedded store has opened.
    const health = await fetch(`${weir.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    await weir.ready;
    const ready = await fetch(`${weir.url}/readyz`);
    const body = await ready.json();
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.equal(body.status, "ready");
    assert.equal(body.dependencies.store.status, "up");
    assert.equal(body.dependencies.store.kind, "pglite");
    assert.equal(body.dependencies.pool.status, "up");
    const metrics = await (await fetch(`${weir.url}/metrics`)).text();
    assert.match(metrics, /^weir_pool_workers 1$/m);
    assert.match(metrics, /^weir_pool_completed [1-9]/m, "the readiness check ran a job through the pool");
  } finally {
    weir.child.kill("SIGTERM");
  }
  const status = await weir.exited;
  assert.equal(status.code, 0, weir.lines.join("\n"));
  assert.ok(weir.lines.some((line) => line.includes('"Stopped"')));
});

Deno.test("weir serve reports a dependency that is down as 503", async () => {
  // Port 1 refuses connections: the configured Kafka is down, so weir is live but not ready.
  const weir = await startWeir({ KAFKA_BROKERS: "127.0.0.1:1" });
  try {
    await weir.ready;
    const ready = await fetch(`${weir.url}/readyz`);
    const body = await ready.json();
    assert.equal(ready.status, 503);
    assert.equal(body.dependencies.kafka.status, "down");
    assert.equal(body.dependencies.store.status, "up");
  } finally {
    weir.child.kill("SIGTERM");
    await weir.exited;
  }
});

Deno.test("weir serve stops with one clear line", async (t) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const busyPort = String((listener.addr as Deno.NetAddr).port);
  const dataDir = await Deno.makeTempDir({ prefix: "weir-server-test-" });
  const cases: [string, Record<string, string>, RegExp][] = [
    ["a wrong variable", { PORT: "eighty" }, /^weir: Invalid PORT: expected a whole number/],
    [
      "a port in use",
      { PORT: busyPort, WEIR_DATA_DIR: dataDir },
      new RegExp(`^weir: Port ${busyPort} .* is in use`),
    ],
    [
      "an unreachable DATABASE_URL",
      { PORT: "0", DATABASE_URL: "postgres://weir@127.0.0.1:1/weir" },
      /^weir: .*PostgreSQL.*127\.0\.0\.1:1/,
    ],
  ];
  try {
    for (const [name, env, expected] of cases) {
      await t.step(name, async () => {
        const { code, stderr } = await runToExit(env);
        assert.equal(code, 1);
        const fatal = stderr.split("\n").filter((line) => line.startsWith("weir:"));
        assert.equal(fatal.length, 1, stderr);
        assert.match(fatal[0], expected);
        assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
      });
    }
  } finally {
    listener.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
