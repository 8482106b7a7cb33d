/**
 * Measures `deno task start` from launch to the first 200 on `/healthz` and on `/readyz`.
 *
 *   deno run -A bench/startup.ts [--cold]
 *
 * `--cold` uses a fresh data directory (the embedded store is created and migrated) and a fresh DENO_DIR (every
 * npm dependency is downloaded again); without it the run reuses both, as a restart would.
 *
 * @module
 */
const root = new URL("..", import.meta.url).pathname;
const cold = Deno.args.includes("--cold");
const port = 18000 + Math.floor(Math.random() * 1000);
// Under ./data: `deno task weir` may write nowhere else.
await Deno.mkdir(`${root}data`, { recursive: true });
const dataDir = await Deno.makeTempDir({ dir: `${root}data`, prefix: "startup-" });
const env: Record<string, string> = { PORT: String(port), WEIR_DATA_DIR: dataDir };
if (cold) env.DENO_DIR = await Deno.makeTempDir({ prefix: "weir-startup-deno-" });
if (!cold) {
  // Warm: the data directory already holds a migrated store, as after a first start.
  await measure();
}
const result = await measure();
console.log(
  `startup (${
    cold ? "cold" : "warm"
  }): healthz 200 after ${result.healthz} ms, readyz 200 after ${result.readyz} ms`,
);
await Deno.remove(dataDir, { recursive: true });
if (env.DENO_DIR) await Deno.remove(env.DENO_DIR, { recursive: true });

async function measure(): Promise<{ healthz: number; readyz: number }> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: root,
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const healthz = await until(`http://127.0.0.1:${port}/healthz`, started);
  const readyz = await until(`http://127.0.0.1:${port}/readyz`, started);
  child.kill("SIGTERM");
  await child.status;
  return { healthz, readyz };
}

async function until(url: string, started: number): Promise<number> {
  while (performance.now() - started < 300_000) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === 200) return Math.round(performance.now() - started);
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${url} did not answer 200 within 300 s`);
}
