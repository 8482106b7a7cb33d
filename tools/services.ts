/**
 * `deno task services up|down|status`: the real services the tests and local runs use.
 *
 * - PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) normally run already on this kind of machine; `up`
 *   checks them and starts them when they are installed but down.
 * - Apache Kafka: the single-node KRaft broker of tools/kafka.ts.
 * - The Upstash REST gateway of tools/upstash_gateway.ts, on 127.0.0.1:8079, for @upstash/redis.
 *
 * @module
 */
import { kafkaDown, kafkaStatus, kafkaUp } from "./kafka.ts";
import { gatewayDown, gatewayStatus, gatewayUp } from "./gateway_service.ts";

/** A service's state as `status` prints it. */
export interface ServiceState {
  name: string;
  state: "running" | "stopped";
  detail: string;
}

const POSTGRES = { hostname: "127.0.0.1", port: 5432 };
const REDIS = { hostname: "127.0.0.1", port: 6379 };

/** Whether something accepts TCP connections at `address`. */
export async function listening(address: { hostname: string; port: number }): Promise<boolean> {
  try {
    const connection = await Deno.connect(address);
    connection.close();
    return true;
  } catch {
    return false;
  }
}

async function redisAnswersPing(): Promise<boolean> {
  try {
    using connection = await Deno.connect(REDIS);
    await connection.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(16);
    const read = await connection.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, read ?? 0)).startsWith("+PONG");
  } catch {
    return false;
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
}

async function installed(command: string): Promise<boolean> {
  try {
    return (await new Deno.Command("which", { args: [command], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}

async function postgresUp(): Promise<string> {
  if (await listening(POSTGRES)) return "already running on 127.0.0.1:5432";
  if (!await installed("pg_ctlcluster")) {
    throw new Error("PostgreSQL is not running on 127.0.0.1:5432 and pg_ctlcluster is not installed");
  }
  const versions = [...Deno.readDirSync("/etc/postgresql")].map((entry) => entry.name).sort();
  const version = versions.at(-1);
  if (!version) throw new Error("PostgreSQL is installed but has no cluster under /etc/postgresql");
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"]);
  await waitFor(() => listening(POSTGRES), "PostgreSQL");
  return `started cluster ${version}/main`;
}

async function redisUp(): Promise<string> {
  if (await redisAnswersPing()) return "already running on 127.0.0.1:6379";
  if (!await installed("redis-server")) {
    throw new Error("Redis is not running on 127.0.0.1:6379 and redis-server is not installed");
  }
  await run("redis-server", [
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  await waitFor(redisAnswersPing, "Redis");
  return "started redis-server";
}

/** Brings every service up; the first failure stops with its reason. */
export async function servicesUp(): Promise<ServiceState[]> {
  // PostgreSQL and Redis are quick checks; Kafka may download jars and takes longest, so it starts alongside.
  const [postgres, redis, kafka] = await Promise.all([postgresUp(), redisUp(), kafkaUp()]);
  const gateway = await gatewayUp();
  return [
    { name: "postgres", state: "running", detail: postgres },
    { name: "redis", state: "running", detail: redis },
    {
      name: "kafka",
      state: "running",
      detail: `${kafka.reused ? "already running" : "started"} on ${kafka.brokers.join(",")}`,
    },
    { name: "upstash-gateway", state: "running", detail: gateway },
  ];
}

/** Stops what the project started (Kafka, the gateway); PostgreSQL and Redis belong to the machine. */
export async function servicesDown(): Promise<ServiceState[]> {
  await Promise.all([kafkaDown(), gatewayDown()]);
  return await servicesStatus();
}

/** Reports each service. */
export async function servicesStatus(): Promise<ServiceState[]> {
  const [postgres, redis, kafka, gateway] = await Promise.all([
    listening(POSTGRES),
    redisAnswersPing(),
    kafkaStatus(),
    gatewayStatus(),
  ]);
  const state = (up: boolean) => up ? "running" : "stopped";
  return [
    { name: "postgres", state: state(postgres), detail: "127.0.0.1:5432" },
    { name: "redis", state: state(redis), detail: "127.0.0.1:6379" },
    { name: "kafka", state: kafka.state, detail: kafka.brokers.join(",") },
    { name: "upstash-gateway", state: gateway.state, detail: gateway.url },
  ];
}

if (import.meta.main) {
  const command = Deno.args[0] ?? "status";
  const actions: Record<string, () => Promise<ServiceState[]>> = {
    up: servicesUp,
    down: servicesDown,
    status: servicesStatus,
  };
  const action = actions[command];
  if (!action) {
    console.error(`services: unknown command: ${command} (expected up, down or status)`);
    Deno.exit(2);
  }
  try {
    for (const service of await action()) {
      console.log(`${service.name.padEnd(16)} ${service.state.padEnd(8)} ${service.detail}`);
    }
  } catch (error) {
    console.error(`services: ${command} failed: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
