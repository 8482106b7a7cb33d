/**
 * Background processes that outlive the `deno` process that started them (`deno task services up` runs
 * before, not around, the test run): started in their own session, tracked by a pid file.
 *
 * @module
 */

/** Options for {@linkcode spawnDetached}. */
export interface SpawnDetachedOptions {
  args: string[];
  /** File that receives stdout and stderr (appended). */
  logFile: string;
  /** File the pid is written to. */
  pidFile: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** Starts `command` in a new session with its output in `logFile`, and records its pid. */
export async function spawnDetached(command: string, options: SpawnDetachedOptions): Promise<number> {
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", 'exec "$@" >>"$DETACHED_LOG" 2>&1 </dev/null', "sh", command, ...options.args],
    env: { ...options.env, DETACHED_LOG: options.logFile },
    cwd: options.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Neither this process nor a test's event loop waits for the service.
  child.unref();
  await Deno.writeTextFile(options.pidFile, `${child.pid}\n`);
  return child.pid;
}

/**
 * The pid in `pidFile` when that process is alive and its command line contains `marker` (a reused pid
 * belongs to someone else), else null.
 */
export async function livePid(pidFile: string, marker: string): Promise<number | null> {
  const text = await Deno.readTextFile(pidFile).catch(() => "");
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const info = await processInfo(pid);
  return info !== null && info.args.includes(marker) ? pid : null;
}

/**
 * State and command line of a live process, from `ps`: Deno grants `/proc/<pid>` only under --allow-all.
 * A zombie counts as gone.
 */
export async function processInfo(pid: number): Promise<{ state: string; args: string } | null> {
  const { success, stdout } = await new Deno.Command("ps", {
    args: ["-p", String(pid), "-o", "stat=", "-o", "args="],
    stdin: "null",
    stderr: "null",
  }).output();
  if (!success) return null;
  const line = new TextDecoder().decode(stdout).trim();
  const [state = "", ...args] = line.split(/\s+/);
  if (!line || state.startsWith("Z")) return null;
  return { state, args: args.join(" ") };
}

/** SIGTERM, then SIGKILL once `timeoutMs` passed; resolves when the process is gone. */
export async function stopProcess(pid: number, timeoutMs: number): Promise<void> {
  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (await processInfo(pid) !== null && Date.now() < deadline) await delay(100);
  if (await processInfo(pid) !== null) {
    Deno.kill(pid, "SIGKILL");
    while (await processInfo(pid) !== null) await delay(100);
  }
}
