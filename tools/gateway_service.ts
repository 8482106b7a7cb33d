/**
 * The Upstash REST gateway (tools/upstash_gateway.ts) as a background service on 127.0.0.1:8079, for local
 * runs that set `UPSTASH_REDIS_REST_URL`. Its token is `UPSTASH_GATEWAY_TOKEN`, default `weir-dev-token`.
 *
 * @module
 */
import { livePid, spawnDetached, stopProcess } from "./detached.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DIR = `${ROOT}.services/gateway`;
const PID_FILE = `${DIR}/gateway.pid`;
const LOG_FILE = `${DIR}/gateway.log`;
const SCRIPT = `${ROOT}tools/upstash_gateway.ts`;
const PORT = 8079;

/** The gateway's URL. */
export const GATEWAY_URL = `http://127.0.0.1:${PORT}`;
/** The bearer token the background gateway accepts. */
export const GATEWAY_TOKEN = Deno.env.get("UPSTASH_GATEWAY_TOKEN") || "weir-dev-token";

async function answers(): Promise<boolean> {
  try {
    const response = await fetch(`${GATEWAY_URL}/ping`, {
      headers: { authorization: `Bearer ${GATEWAY_TOKEN}` },
      signal: AbortSignal.timeout(1000),
    });
    return response.ok && (await response.json()).result === "PONG";
  } catch {
    return false;
  }
}

/** Starts the gateway unless it already answers; resolves with a line for `services status`. */
export async function gatewayUp(timeoutMs = 20_000): Promise<string> {
  if (await answers()) return `already running on ${GATEWAY_URL}`;
  await Deno.mkdir(DIR, { recursive: true });
  const pid = await spawnDetached(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-sys", SCRIPT],
    env: { UPSTASH_GATEWAY_PORT: String(PORT), UPSTASH_GATEWAY_TOKEN: GATEWAY_TOKEN },
    logFile: LOG_FILE,
    pidFile: PID_FILE,
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers()) return `started on ${GATEWAY_URL} (pid ${pid}, token from UPSTASH_GATEWAY_TOKEN)`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const log = await Deno.readTextFile(LOG_FILE).catch(() => "");
  throw new Error(
    `Upstash gateway did not answer within ${timeoutMs / 1000} s: ${log.trim().split("\n").at(-1)}`,
  );
}

/** Stops the gateway this project started. */
export async function gatewayDown(): Promise<void> {
  const pid = await livePid(PID_FILE, "upstash_gateway.ts");
  if (pid !== null) await stopProcess(pid, 5000);
  await Deno.remove(PID_FILE).catch(() => {});
}

/** Whether the gateway answers. */
export async function gatewayStatus(): Promise<{ state: "running" | "stopped"; url: string }> {
  return { state: await answers() ? "running" : "stopped", url: GATEWAY_URL };
}
