/**
 * The process-wide parts every route and pipeline shares: the store, the kernel pool and the clients of the
 * configured services. Opened once at start, closed once at shutdown, in reverse order.
 *
 * @module
 */
import type { Redis } from "@upstash/redis";
import type { Kafka } from "kafkajs";
import type { EnvConfig } from "../config/env.ts";
import type { Logger } from "../observability/logger.ts";
import type { Telemetry } from "../observability/metrics.ts";
import { createKafka, createRedis } from "./clients.ts";
import type { Dependency } from "./dependencies.ts";
import type { Store } from "../storage/store.ts";
import { createPostgresStore } from "../storage/postgres.ts";
import { createEmbeddedStore } from "../storage/embedded.ts";
import { createPgliteSinkDatabase, createPostgresSinkDatabase } from "../storage/sink_database.ts";
import type { SinkDatabase } from "../pipeline/component.ts";
import postgres from "postgres";
import { connectNoDelay } from "../storage/pg_socket.ts";
import { KernelPool } from "../workers/pool.ts";
import { compileKernels, instantiateKernels, type Kernels } from "../kernels/mod.ts";
import { loadPipelineFile } from "../pipeline/load.ts";
import { buildPlan, type PipelinePlan } from "../pipeline/plan.ts";
import { type FileSource, startFileSource } from "../pipeline/sources/file/mod.ts";
import { GroupCommitter } from "../pipeline/group_commit.ts";
import { SpoolDrainer } from "../pipeline/spool_drainer.ts";
import { spoolDirOf } from "../pipeline/spool.ts";

/** The shared parts of a running weir. */
export interface Runtime {
  logger: Logger;
  /** weir's own tables: PostgreSQL when `DATABASE_URL` is set, else PGlite under `WEIR_DATA_DIR`. */
  store: Store;
  /** Where sinks land rows: the PostgreSQL of `DATABASE_URL`, or the embedded store's own PGlite. */
  database: SinkDatabase;
  /** The kernel workers every pipeline shares. */
  pool: KernelPool;
  /** A main-thread kernel instance, for the chunker's record scanner. */
  kernels: Kernels;
  /** The pipelines of weir.yaml, built. */
  pipelines: ReadonlyMap<string, PipelinePlan>;
  redis?: Redis;
  kafka?: Kafka;
  /** The running `file` sources by pipeline name (none when opened with `sources: false`). */
  fileSources: ReadonlyMap<string, FileSource>;
  /** Lands the spooled bodies of `ack: accepted` ingests (pipeline/spool_drainer.ts). */
  drainer: SpoolDrainer;
  /** The small-request group committer of each HTTP pipeline (pipeline/group_commit.ts). */
  groups: ReadonlyMap<string, GroupCommitter>;
  /** Everything readiness checks. */
  dependencies: Dependency[];
  /** Closes everything opened, last opened first. */
  close(): Promise<void>;
}

/** What the runtime is opened with. */
export interface RuntimeOptions {
  logger: Logger;
  /** Where pool and component metrics are recorded. */
  telemetry: Telemetry;
  /** Start the pipelines' own sources (watched folders). Default true; `weir run` feeds pipelines itself. */
  sources?: boolean;
  /** Drain spooled `ack: accepted` bodies. Default true (false with `sources: false`); tests leave them pending. */
  drain?: boolean;
}

/** Opens the runtime for `config`; on failure, whatever was opened is closed again. */
export async function openRuntime(config: EnvConfig, options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const closers: (() => Promise<void>)[] = [];
  const dependencies: Dependency[] = [];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error) => logger.warn("Close failed", { error }));
    }
  };
  try {
    const storeLogger = logger.child({ component: "store" });
    let store: Store;
    let database: SinkDatabase;
    if (config.DATABASE_URL) {
      store = await createPostgresStore({ url: config.DATABASE_URL, logger: storeLogger });
      closers.push(() => store.close());
      // Sinks get their own pool: long COPY transactions must not starve weir's own bookkeeping.
      const sinkSql = postgres(config.DATABASE_URL, {
        max: 10,
        onnotice: () => {},
        socket: connectNoDelay,
      } as postgres.Options<Record<string, never>>);
      closers.push(() => sinkSql.end({ timeout: 5 }));
      database = createPostgresSinkDatabase(sinkSql, {
        target: `PostgreSQL at ${new URL(config.DATABASE_URL).host}`,
      });
    } else {
      const embedded = await createEmbeddedStore({
        dataDir: `${config.WEIR_DATA_DIR}/pglite`,
        logger: storeLogger,
      });
      store = embedded;
      closers.push(() => embedded.close());
      database = createPgliteSinkDatabase(embedded.pglite);
    }
    dependencies.push({ name: "store", kind: store.kind, check: (signal) => store.healthcheck(signal) });

    const module = await compileKernels();
    const kernels = instantiateKernels(module);
    const pool = await KernelPool.create({
      module,
      workers: config.WEIR_WORKERS,
      logger: logger.child({ component: "kernel_pool" }),
    });
    closers.push(() => pool.close());
    dependencies.push({
      name: "pool",
      kind: "wasm-workers",
      // A real round trip through a worker and its WASM instance, not just a count of threads.
      check: async (signal) => {
        await pool.run("echo", { input: new ArrayBuffer(8), params: null, signal });
      },
    });
    observePool(options.telemetry, pool);

    let redis: Redis | undefined;
    if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
      const client = createRedis({
        url: config.UPSTASH_REDIS_REST_URL,
        token: config.UPSTASH_REDIS_REST_TOKEN,
      });
      redis = client.redis;
      dependencies.push(client.dependency);
    }
    let kafka: Kafka | undefined;
    if (config.KAFKA_BROKERS) {
      const client = createKafka({ brokers: config.KAFKA_BROKERS, logger });
      kafka = client.kafka;
      dependencies.push(client.dependency);
      closers.push(client.close);
    }
    const specs = await loadPipelineFile(config.WEIR_CONFIG, logger);
    const pipelines = new Map<string, PipelinePlan>();
    for (const spec of specs) {
      const plan = await buildPlan(spec, {
        logger,
        telemetry: options.telemetry,
        pool,
        store,
        database,
        redis,
        kafka,
      });
      pipelines.set(spec.name, plan);
      closers.push(() => plan.close());
    }
    // Closed before the sources and plans (closers run in reverse): waiting groups commit and a drain in
    // progress releases its job while the pool, sinks and store are still open.
    const ingestContext = { store, pool, kernels, logger };
    const groups = new Map<string, GroupCommitter>();
    for (const plan of pipelines.values()) {
      if (plan.http) groups.set(plan.name, new GroupCommitter(plan, ingestContext));
    }
    closers.push(async () => {
      await Promise.all([...groups.values()].map((group) => group.close()));
    });
    const drainer = new SpoolDrainer(ingestContext, pipelines);
    closers.push(() => drainer.stop());
    if (options.drain !== false && options.sources !== false) {
      // Before the drain and before serving: nothing of this process is spooling yet.
      await drainer.sweepOrphans(spoolDirOf(config.WEIR_DATA_DIR));
      drainer.start();
    }
    // Last: a source ingests as soon as it starts, so everything it uses must be open.
    const fileSources = new Map<string, FileSource>();
    for (const plan of options.sources === false ? [] : pipelines.values()) {
      if (plan.file === undefined) continue;
      const source = await startFileSource(plan, { store, pool, kernels, logger });
      fileSources.set(plan.name, source);
      closers.push(() => source.close());
    }
    return {
      logger,
      store,
      database,
      pool,
      kernels,
      pipelines,
      redis,
      kafka,
      fileSources,
      drainer,
      groups,
      dependencies,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The pool's counters as gauges: both sides read `stats()` when they collect. */
function observePool(telemetry: Telemetry, pool: KernelPool): void {
  const stats = Object.keys(pool.stats()) as (keyof ReturnType<KernelPool["stats"]>)[];
  for (const stat of stats) {
    telemetry.gauge(
      { name: `weir.pool.${stat}`, description: `Kernel pool: ${POOL_STAT_MEANING[stat]}` },
      () => [{ value: pool.stats()[stat] }],
    );
  }
}

const POOL_STAT_MEANING: Record<keyof ReturnType<KernelPool["stats"]>, string> = {
  workers: "live workers",
  queued: "jobs waiting for a worker",
  busy: "workers running a job",
  completed: "jobs finished since start",
  failed: "jobs failed since start",
  restarts: "workers replaced since start",
  timeouts: "jobs timed out since start",
  retries: "attempts repeated after a trap or crash since start",
};
