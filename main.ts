/**
 * weir's command line. It composes, never implements: each command lives in its own module.
 *
 * @module
 */
import { loadEnv } from "./config/env.ts";
import { createLogger } from "./observability/logger.ts";
import { ConfigError, CsvSyntaxError, KernelError, PipelineError } from "./pipeline/errors.ts";
import { WEIR_VERSION } from "./routes/version.ts";
import { serve } from "./server/serve.ts";
import { demoDataCommand } from "./cli/demo_data.ts";
import { sniffCommand } from "./cli/sniff.ts";

const USAGE = `weir ${WEIR_VERSION}: data pipelines on Deno

Usage: weir <command> [options]

Commands:
  serve            Serve the HTTP API (default)
  check [FILE]     Validate weir.yaml (or FILE) without starting anything
  run PIPELINE FILE…
                   Run a pipeline over files (csv, ndjson, json, .gz) with progress and a summary
                   (--format F)
  sniff FILE|-     Guess a CSV file's dialect, header and column types
  parse FILE|-     Print a CSV file's records as JSON lines, rejected rows on stderr
                   (--delimiter D, --no-header, --types infer)
  demo-data        Write a sample orders CSV for the example pipeline to stdout (--rows N, --seed S)
  version          Print the version
  help             Print this help

Configuration comes from the environment (PORT, WEIR_HOST, WEIR_DATA_DIR, DATABASE_URL,
UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN, KAFKA_BROKERS, WEIR_WORKERS, WEIR_LOG_LEVEL,
WEIR_SHUTDOWN_TIMEOUT_MS, WEIR_IDEMPOTENCY_LEASE_MS); see README.md.`;

/** Runs one command and resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [command = "serve", ...rest] = args;
  switch (command) {
    case "serve": {
      const config = loadEnv(Deno.env.toObject());
      await serve(config, createLogger({ level: config.WEIR_LOG_LEVEL, fields: { service: "weir" } }));
      return 0;
    }
    case "check": {
      // Loaded on demand: it pulls in every component's module, which serving does not need up front.
      const { checkCommand } = await import("./cli/check.ts");
      return await checkCommand(rest);
    }
    case "run": {
      // Loaded on demand, like check: it opens the whole runtime.
      const { runCommand } = await import("./cli/run.ts");
      return await runCommand(rest);
    }
    case "sniff":
      return await sniffCommand(rest);
    case "parse": {
      // Loaded on demand: it starts kernel workers, which no other command needs.
      const { parseCommand } = await import("./cli/parse.ts");
      return await parseCommand(rest);
    }
    case "demo-data":
      return await demoDataCommand(rest);
    case "version":
    case "--version":
      console.log(WEIR_VERSION);
      return 0;
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      console.error(`weir: unknown command: ${command} ${rest.length ? "…" : ""}\n\n${USAGE}`);
      return 2;
  }
}

/** One clear line for the errors weir raises on purpose; the stack only for what nobody expected. */
function describeFatal(error: unknown): string {
  const known = error instanceof ConfigError || error instanceof PipelineError ||
    error instanceof KernelError ||
    error instanceof CsvSyntaxError;
  if (known) return `weir: ${error.message}`;
  if (error instanceof Error) return `weir: unexpected error: ${error.message}\n${error.stack ?? ""}`;
  return `weir: unexpected error: ${String(error)}`;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(describeFatal(error));
    Deno.exitCode = 1;
  }
}
