/**
 * A real Apache Kafka broker for tests and dev: one KRaft node (broker and controller in one JVM) on
 * 127.0.0.1:9092, run from the Maven Central jars listed in `tools/kafka/pom.xml`. Everything it
 * writes lives under `.services/kafka/` (git-ignored): `libs/` (jars), `data/` (log dirs),
 * `server.properties`, `log4j2.properties`, `kafka.pid` and `logs/kafka.out`.
 *
 * ```sh
 * deno run --allow-run --allow-net --allow-read --allow-write --allow-env --allow-sys tools/kafka.ts up
 * deno run ... tools/kafka.ts status
 * deno run ... tools/kafka.ts down [--purge]
 * ```
 *
 * The broker is started detached (its own session, stdio to a file), so it outlives the `deno`
 * process that started it: `deno task services up` runs before, not around, the test run.
 *
 * @module
 */

import { Kafka, logLevel } from "kafkajs";
import { fileURLToPath } from "node:url";
import { createLogger, type Logger } from "../observability/logger.ts";
import { livePid, processInfo, spawnDetached } from "./detached.ts";

/** Where the broker listens for clients. */
export const KAFKA_BROKER = "127.0.0.1:9092";
const CONTROLLER = "127.0.0.1:9093";
const DEFAULT_READY_TIMEOUT_MS = 90_000;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 30;
/**
 * JVM flags for a fast start on a small, shared machine (two cores, also running the tests). Under
 * load, these plus the class archive in startBroker took the broker's time-to-ready from 15-20 s
 * (G1, C2) to 5-7 s. C1 only: C2's compiler threads compete with the tests for the cores, and a
 * test broker never needs peak code. Serial GC: one GC thread, and with a 512 MB heap its pauses
 * are a few milliseconds.
 */
const QUICK_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

/** Options for {@linkcode kafkaUp}. */
export interface KafkaUpOptions {
  /** Repository root; state goes to `<root>/.services/kafka`. Default: the directory above `tools/`. */
  root?: string;
  /** How long to wait for a started broker to answer a metadata request. Default 90 000 ms. */
  readyTimeoutMs?: number;
  /** Maximum JVM heap, passed as `-Xmx`. Default `512m`: plenty for tests on a machine others share. */
  heap?: string;
  /** More JVM flags, after the defaults (the JVM keeps the last of a repeated flag), e.g. for a benchmark. */
  jvmOptions?: string[];
  /** Progress records. Default: JSON lines on stderr. */
  logger?: Logger;
  /** Stops waiting (the broker, if started, keeps running). */
  signal?: AbortSignal;
}

/** What {@linkcode kafkaUp} found or started. */
export interface KafkaBroker {
  /** Bootstrap servers for clients, e.g. `["127.0.0.1:9092"]`. */
  brokers: string[];
  /** The broker JVM's pid when we started it (now or earlier); `null` for a broker someone else runs. */
  pid: number | null;
  /** Whether a broker was already answering, so nothing was started. */
  reused: boolean;
  /** Wall time of the call, in milliseconds. */
  elapsedMs: number;
}

/** Options for {@linkcode kafkaDown}. */
export interface KafkaDownOptions {
  /** Repository root, as for {@linkcode kafkaUp}. */
  root?: string;
  /** How long to wait after SIGTERM before SIGKILL. Default 30 000 ms. */
  stopTimeoutMs?: number;
  /** Also delete the data directory, so that the next `up` formats a fresh cluster. */
  purge?: boolean;
  /** Progress records. Default: JSON lines on stderr. */
  logger?: Logger;
}

/** Options for {@linkcode kafkaStatus}. */
export interface KafkaStatusOptions {
  /** Repository root, as for {@linkcode kafkaUp}. */
  root?: string;
}

/** Whether a broker answers on {@linkcode KAFKA_BROKER}, and whether it is ours. */
export interface KafkaStatus {
  /** `running` when a broker answers a metadata request. */
  state: "running" | "stopped";
  /** Pid of the broker we started, when it is alive (it may still be starting). */
  pid: number | null;
  /** Bootstrap servers. */
  brokers: string[];
}

/** The broker could not be started or stopped; `logTail` holds the end of its log when there is one. */
export class KafkaBrokerError extends Error {
  override name = "KafkaBrokerError";
  /** The error lines (or else the last lines) of `.services/kafka/logs/kafka.out`, or an empty string. */
  readonly logTail: string;

  constructor(message: string, options: { cause?: unknown; logTail?: string } = {}) {
    super(message, { cause: options.cause });
    this.logTail = options.logTail ?? "";
  }
}

/**
 * Makes sure a Kafka broker answers on 127.0.0.1:9092: reuses a running one, otherwise fetches the
 * jars (once), formats the KRaft storage (once), starts the broker detached and waits until it
 * answers a metadata request. Safe to call from several processes at once.
 *
 * @example Usage in a test
 * ```ts ignore
 * import { kafkaUp } from "./kafka.ts";
 * const { brokers } = await kafkaUp();
 * ```
 */
export async function kafkaUp(options: KafkaUpOptions = {}): Promise<KafkaBroker> {
  const started = performance.now();
  const paths = servicePaths(options.root);
  const log = options.logger ?? defaultLogger();
  const elapsed = () => Math.round(performance.now() - started);

  if (await brokerAnswers()) {
    const pid = await ownPid(paths);
    log.info("Kafka broker already running", { brokers: [KAFKA_BROKER], pid });
    return { brokers: [KAFKA_BROKER], pid, reused: true, elapsedMs: elapsed() };
  }

  await Deno.mkdir(paths.dir, { recursive: true });
  // `deno test --parallel` runs many files at once and each may call kafkaUp; the lock makes one of
  // them start the broker while the others wait and then find it answering.
  using lock = await Deno.open(paths.lock, { create: true, write: true });
  await lock.lock(true);

  if (await brokerAnswers()) {
    const pid = await ownPid(paths);
    return { brokers: [KAFKA_BROKER], pid, reused: true, elapsedMs: elapsed() };
  }

  let pid = await ownPid(paths);
  if (pid === null) {
    await ensureJars(paths, log);
    await writeConfig(paths);
    await formatStorage(paths, log);
    pid = await startBroker(paths, [`-Xmx${options.heap ?? "512m"}`, ...options.jvmOptions ?? []]);
    log.info("Kafka broker starting", { pid, log: paths.out });
  } else {
    // Ours and alive but not answering yet: another caller started it a moment ago.
    log.info("Kafka broker is starting, waiting for it", { pid });
  }

  await waitUntilReady(paths, pid, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, options.signal);
  log.info("Kafka broker ready", { brokers: [KAFKA_BROKER], pid, ms: elapsed() });
  return { brokers: [KAFKA_BROKER], pid, reused: false, elapsedMs: elapsed() };
}

/**
 * Stops the broker that {@linkcode kafkaUp} started: SIGTERM, then SIGKILL after a deadline. A broker
 * that someone else runs on the port is left alone. Resolves to whether a broker was stopped.
 */
export async function kafkaDown(options: KafkaDownOptions = {}): Promise<boolean> {
  const paths = servicePaths(options.root);
  const log = options.logger ?? defaultLogger();
  const pid = await ownPid(paths);
  let stopped = false;
  if (pid !== null) {
    const termAt = Date.now();
    signalProcess(pid, "SIGTERM");
    const deadline = termAt + (options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    while (await isRunning(pid) && Date.now() < deadline) await delay(200);
    if (await isRunning(pid)) {
      log.warn("Kafka broker ignored SIGTERM, sending SIGKILL", { pid });
      signalProcess(pid, "SIGKILL");
      while (await isRunning(pid)) await delay(100);
      // A class archive written during this shutdown may be cut short; the next start writes a new one.
      const archive = await Deno.stat(paths.classArchive).catch(() => null);
      if ((archive?.mtime?.getTime() ?? 0) >= termAt) {
        await Deno.remove(paths.classArchive).catch(ignoreNotFound);
      }
    }
    stopped = true;
    log.info("Kafka broker stopped", { pid });
  } else if (await brokerAnswers()) {
    log.warn("A Kafka broker that was not started by tools/kafka.ts answers, leaving it running", {
      brokers: [KAFKA_BROKER],
    });
  }
  await Deno.remove(paths.pidFile).catch(ignoreNotFound);
  if (options.purge) {
    if (await brokerAnswers()) throw new KafkaBrokerError("Refusing to purge data: a broker still answers");
    await Deno.remove(paths.data, { recursive: true }).catch(ignoreNotFound);
    log.info("Kafka data deleted", { dir: paths.data });
  }
  return stopped;
}

/** Reports whether a broker answers on 127.0.0.1:9092 and the pid of ours, if alive. */
export async function kafkaStatus(options: KafkaStatusOptions = {}): Promise<KafkaStatus> {
  const paths = servicePaths(options.root);
  const [answers, pid] = await Promise.all([brokerAnswers(), ownPid(paths)]);
  return { state: answers ? "running" : "stopped", pid, brokers: [KAFKA_BROKER] };
}

interface ServicePaths {
  pom: string;
  dir: string;
  libs: string;
  classArchive: string;
  data: string;
  logs: string;
  out: string;
  config: string;
  log4j: string;
  pidFile: string;
  lock: string;
}

function servicePaths(root = fileURLToPath(new URL("..", import.meta.url))): ServicePaths {
  const dir = `${root.replace(/\/$/, "")}/.services/kafka`;
  return {
    pom: fileURLToPath(new URL("./kafka/pom.xml", import.meta.url)),
    dir,
    libs: `${dir}/libs`,
    // Inside libs/ so that it goes away with the jars it was made from.
    classArchive: `${dir}/libs/kafka.jsa`,
    data: `${dir}/data`,
    logs: `${dir}/logs`,
    out: `${dir}/logs/kafka.out`,
    config: `${dir}/server.properties`,
    log4j: `${dir}/log4j2.properties`,
    pidFile: `${dir}/kafka.pid`,
    lock: `${dir}/.lock`,
  };
}

/**
 * Fetches the jars with Maven unless `libs/` already holds the set for the current pom. The download
 * goes to a scratch directory that is renamed into place, so an interrupted one is never mistaken
 * for a cache; the pom's hash marks which pom the jars belong to, so bumping a version refetches
 * (comments and layout are left out of the hash, so editing those does not).
 */
async function ensureJars(paths: ServicePaths, log: Logger): Promise<void> {
  const pom = (await Deno.readTextFile(paths.pom)).replace(/<!--[\s\S]*?-->/g, "").replace(/\s+/g, " ");
  const pomHash = await sha256Hex(new TextEncoder().encode(pom));
  const marker = `${paths.libs}/.pom-sha256`;
  if ((await Deno.readTextFile(marker).catch(() => "")).trim() === pomHash) return;

  const scratch = `${paths.libs}.partial`;
  await Deno.remove(scratch, { recursive: true }).catch(ignoreNotFound);
  log.info("Fetching Kafka jars from Maven Central", { pom: paths.pom, into: paths.libs });
  await run(
    "mvn",
    [
      "-q",
      "-B",
      "-f",
      paths.pom,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${scratch}`,
    ],
    "Maven could not fetch the Kafka jars",
    {
      // Maven's own JVM start dominates when the jars are already in ~/.m2; see startBroker.
      MAVEN_OPTS: [Deno.env.get("MAVEN_OPTS") ?? "", ...QUICK_JVM].join(" ").trim(),
    },
  );
  await Deno.writeTextFile(`${scratch}/.pom-sha256`, pomHash + "\n");
  await Deno.remove(paths.libs, { recursive: true }).catch(ignoreNotFound);
  await Deno.rename(scratch, paths.libs);
}

async function writeConfig(paths: ServicePaths): Promise<void> {
  const server = [
    "# Written by tools/kafka.ts on every start; edit that file, not this one.",
    "process.roles=broker,controller",
    "node.id=1",
    // A static voter set works on every KRaft release and needs no `--standalone` at format time.
    `controller.quorum.voters=1@${CONTROLLER}`,
    `listeners=PLAINTEXT://${KAFKA_BROKER},CONTROLLER://${CONTROLLER}`,
    `advertised.listeners=PLAINTEXT://${KAFKA_BROKER}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    `log.dirs=${paths.data}`,
    // One node: every replication factor and ISR minimum must be 1 or topics cannot be created.
    "default.replication.factor=1",
    "min.insync.replicas=1",
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    // Fewer internal partitions than the default 50 make the first group join and the first
    // transaction in a fresh cluster noticeably faster; one node gains nothing from more.
    "offsets.topic.num.partitions=4",
    "transaction.state.log.num.partitions=4",
    "num.partitions=1",
    "auto.create.topics.enable=true",
    // Tests join groups constantly; the default 3 s delay would be paid on every first join.
    "group.initial.rebalance.delay.ms=0",
    "",
  ].join("\n");
  const log4j = [
    "# Written by tools/kafka.ts. All to stdout, which the launcher sends to logs/kafka.out.",
    "appender.out.type=Console",
    "appender.out.name=out",
    "appender.out.layout.type=PatternLayout",
    "appender.out.layout.pattern=[%d] %p %m (%c)%n",
    "rootLogger.level=INFO",
    "rootLogger.appenderRef.out.ref=out",
    // Per-request and per-partition-state chatter would drown the lines that explain a failure.
    "logger.request.name=kafka.request.logger",
    "logger.request.level=WARN",
    "logger.state.name=state.change.logger",
    "logger.state.level=WARN",
    "",
  ].join("\n");
  await Deno.writeTextFile(paths.config, server);
  await Deno.writeTextFile(paths.log4j, log4j);
}

/** Formats the KRaft log dir once; a formatted one keeps its cluster id and topics across restarts. */
async function formatStorage(paths: ServicePaths, log: Logger): Promise<void> {
  try {
    await Deno.stat(`${paths.data}/meta.properties`);
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const clusterId = randomClusterId();
  log.info("Formatting Kafka storage", { dir: paths.data, clusterId });
  await run("java", [
    ...QUICK_JVM,
    `-Dlog4j2.configurationFile=${paths.log4j}`,
    "-cp",
    `${paths.libs}/*`,
    "kafka.tools.StorageTool",
    "format",
    "--cluster-id",
    clusterId,
    "--config",
    paths.config,
  ], "Kafka storage format failed");
}

/**
 * Starts `kafka.Kafka` in its own session with stdio going to `logs/kafka.out`, so that neither the
 * end of this process nor a terminal hang-up stops it; the pid recorded is the JVM's.
 */
async function startBroker(paths: ServicePaths, jvmOptions: string[]): Promise<number> {
  await Deno.mkdir(paths.logs, { recursive: true });
  await Deno.rename(paths.out, `${paths.out}.1`).catch(ignoreNotFound);
  const classArchive = paths.classArchive;
  const haveArchive = await Deno.stat(classArchive).then(() => true, (error) => {
    ignoreNotFound(error);
    return false;
  });
  const args = [
    "-Xms128m",
    ...QUICK_JVM,
    // An AppCDS archive of the broker's classes, written when the first broker exits cleanly
    // (`down`) and mapped by every start after. A stale one (new JDK, new jars) is ignored by the
    // JVM; new jars replace libs/ and the archive with them.
    haveArchive ? `-XX:SharedArchiveFile=${classArchive}` : `-XX:ArchiveClassesAtExit=${classArchive}`,
    "-Xlog:cds=off",
    "-Xlog:cds+dynamic=off",
    "-Djava.awt.headless=true",
    ...jvmOptions,
    `-Dlog4j2.configurationFile=${paths.log4j}`,
    `-Dkafka.logs.dir=${paths.logs}`,
    "-cp",
    `${paths.libs}/*`,
    "kafka.Kafka",
    paths.config,
  ];
  return await spawnDetached("java", {
    args,
    logFile: paths.out,
    pidFile: paths.pidFile,
    cwd: paths.dir,
  });
}

async function waitUntilReady(
  paths: ServicePaths,
  pid: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    signal?.throwIfAborted();
    if (await brokerAnswers()) return;
    if (!(await isRunning(pid))) {
      await Deno.remove(paths.pidFile).catch(ignoreNotFound);
      throw new KafkaBrokerError(`Kafka broker exited during startup: see ${paths.out}`, {
        logTail: await logTail(paths),
      });
    }
    if (Date.now() > deadline) {
      throw new KafkaBrokerError(
        `Kafka broker did not answer on ${KAFKA_BROKER} within ${
          Math.round(timeoutMs / 1000)
        } s: see ${paths.out}`,
        { logTail: await logTail(paths) },
      );
    }
    await delay(250);
  }
}

/**
 * True when a broker on {@linkcode KAFKA_BROKER} answers a metadata request with itself in the
 * cluster; an open port alone is not enough, since the broker accepts connections before it serves.
 */
async function brokerAnswers(): Promise<boolean> {
  const admin = new Kafka({
    clientId: "weir-tools-kafka",
    brokers: [KAFKA_BROKER],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    return brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The pid in our pid file, when that process is alive and still a Kafka broker (pids get reused). */
function ownPid(paths: ServicePaths): Promise<number | null> {
  return livePid(paths.pidFile, "kafka.Kafka");
}

/** Whether `pid` is alive; a zombie (exited, not yet reaped by this very process) counts as gone. */
async function isRunning(pid: number): Promise<boolean> {
  return await processInfo(pid) !== null;
}

async function run(
  command: string,
  args: string[],
  failure: string,
  env: Record<string, string> = {},
): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, env, stdin: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new KafkaBrokerError(`${failure}: ${command} is not on PATH`, { cause: error });
    }
    throw error;
  }
  if (!output.success) {
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    throw new KafkaBrokerError(`${failure}: ${command} exited with code ${output.code}`, {
      logTail: lastLines(text, LOG_TAIL_LINES),
    });
  }
}

/** A KRaft cluster id: 16 random bytes in unpadded base64url, as `kafka-storage random-uuid` prints. */
function randomClusterId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The broker log's error lines, or its last lines when it has none. A plain tail is no use: after a
 * fatal error Kafka goes on to print a few hundred lines of configuration while shutting down.
 */
async function logTail(paths: ServicePaths): Promise<string> {
  const text = await Deno.readTextFile(paths.out).catch(() => "");
  const errors = text.split("\n").filter((line) =>
    /^\[[^\]]+\] (ERROR|FATAL) /.test(line) || /^(Caused by: |Error|Exception)/.test(line)
  );
  return errors.length > 0 ? errors.slice(-LOG_TAIL_LINES).join("\n") : lastLines(text, LOG_TAIL_LINES);
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

/** Sends `signal` to `pid`; a process that is already gone is what we wanted anyway. */
function signalProcess(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch (error) {
    ignoreNotFound(error);
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function defaultLogger(): Logger {
  return createLogger().child({ component: "tools.kafka" });
}

async function main(args: string[]): Promise<number> {
  const [command, ...flags] = args;
  const usage = "Usage: deno run -A tools/kafka.ts up|down [--purge]|status";
  try {
    switch (command) {
      case "up": {
        const broker = await kafkaUp();
        console.log(
          `running ${broker.brokers.join(",")} pid=${broker.pid ?? "external"} ` +
            `${broker.reused ? "reused" : "started"} in ${(broker.elapsedMs / 1000).toFixed(1)} s`,
        );
        return 0;
      }
      case "down": {
        const stopped = await kafkaDown({ purge: flags.includes("--purge") });
        console.log(stopped ? "stopped" : "nothing to stop: no broker started by tools/kafka.ts is running");
        return 0;
      }
      case "status": {
        const status = await kafkaStatus();
        console.log(
          status.state === "running"
            ? `running ${status.brokers.join(",")} pid=${status.pid ?? "external"}`
            : status.pid === null
            ? "stopped"
            : `stopped (pid ${status.pid} is alive but not answering yet)`,
        );
        return 0;
      }
      default:
        console.error(usage);
        return 2;
    }
  } catch (error) {
    if (error instanceof KafkaBrokerError) {
      console.error(error.message);
      if (error.logTail) console.error(error.logTail);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
