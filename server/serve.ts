/**
 * `weir serve`: listens first (so liveness answers while the store opens), then opens the runtime and turns
 * ready; drains on SIGTERM/SIGINT within a deadline.
 *
 * @module
 */
import type { EnvConfig } from "../config/env.ts";
import type { Logger } from "../observability/logger.ts";
import { Telemetry } from "../observability/metrics.ts";
import { ConfigError } from "../pipeline/errors.ts";
import type { Phase } from "../routes/health.ts";
import { createApp } from "../routes/mod.ts";
import { openRuntime, type Runtime } from "./runtime.ts";
import { spoolDirOf } from "../pipeline/spool.ts";

/** A running server. */
export interface RunningServer {
  /** The address actually bound (useful with `PORT=0`). */
  addr: Deno.NetAddr;
  /** The opened runtime. */
  runtime: Runtime;
  /** Drains in-flight requests, then closes every pool and connection. Idempotent. */
  shutdown(reason: string): Promise<void>;
  /** Resolves once shutdown completed. */
  finished: Promise<void>;
}

/** Starts weir's HTTP server on the configured address and opens the runtime behind it. */
export async function startServer(config: EnvConfig, logger: Logger): Promise<RunningServer> {
  const telemetry = new Telemetry();
  let phase: Phase = "starting";
  let runtime: Runtime | undefined;
  const app = createApp({
    logger,
    telemetry,
    readiness: () => ({ phase, dependencies: runtime?.dependencies ?? [] }),
    runtime: () => phase === "serving" ? runtime : undefined,
    spoolDir: spoolDirOf(config.WEIR_DATA_DIR),
    idempotencyLeaseMs: config.WEIR_IDEMPOTENCY_LEASE_MS,
  });
  const server = listen(config, app.fetch);
  logger.info("Listening", { url: `http://${server.addr.hostname}:${server.addr.port}` });
  try {
    runtime = await openRuntime(config, { logger, telemetry });
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  const opened = runtime;
  phase = "serving";
  logger.info("Ready", {
    dependencies: opened.dependencies.map((dependency) => `${dependency.name}:${dependency.kind}`),
  });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    shutdownPromise ??= (async () => {
      phase = "draining";
      logger.info("Draining", { reason, timeoutMs: config.WEIR_SHUTDOWN_TIMEOUT_MS });
      // server.shutdown() stops accepting and waits for in-flight requests; then the pools they used close.
      await server.shutdown();
      await opened.close();
      logger.info("Stopped");
    })();
    return shutdownPromise;
  };
  return {
    addr: server.addr,
    runtime: opened,
    shutdown,
    finished: server.finished.then(() => shutdownPromise),
  };
}

function listen(config: EnvConfig, handler: Deno.ServeHandler): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve({ port: config.PORT, hostname: config.WEIR_HOST, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new ConfigError(`Port ${config.PORT} on ${config.WEIR_HOST} is in use: set PORT to a free port`, {
        path: "PORT",
        cause: error,
      });
    }
    if (error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`Cannot listen on ${config.WEIR_HOST}:${config.PORT}: ${error.message}`, {
        path: "WEIR_HOST",
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Serves until SIGTERM or SIGINT, then drains. If draining outlives `WEIR_SHUTDOWN_TIMEOUT_MS` the process exits
 * with status 1 rather than hang a deploy.
 */
export async function serve(config: EnvConfig, logger: Logger): Promise<void> {
  const server = await startServer(config, logger);
  const onSignal = (signal: Deno.Signal) => () => {
    const deadline = setTimeout(() => {
      logger.error("Shutdown deadline passed: exiting with work in flight", {
        timeoutMs: config.WEIR_SHUTDOWN_TIMEOUT_MS,
      });
      Deno.exit(1);
    }, config.WEIR_SHUTDOWN_TIMEOUT_MS);
    server.shutdown(signal).finally(() => clearTimeout(deadline));
  };
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  const handlers = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  await server.finished;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
}
