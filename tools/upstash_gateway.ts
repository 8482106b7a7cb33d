/**
 * An Upstash-REST-compatible HTTP gateway in front of a real Redis, so that code written against
 * `@upstash/redis` (idempotency keys, rate limits, caches) runs unchanged against the Redis of a developer
 * machine or CI.
 *
 * It speaks the subset of Upstash's REST protocol that `@upstash/redis` uses:
 *
 * - `POST /` with a JSON array `["SET", "k", "v"]` → `{"result": …}`
 * - `POST /pipeline` with an array of commands → `[{"result": …} | {"error": "…"}, …]`, not atomic
 * - `POST /multi-exec` with an array of commands → the same shape, run inside `MULTI`/`EXEC`; a command
 *   that Redis refuses to queue aborts the whole transaction with a 400 `{"error": "EXECABORT …"}`
 * - `GET /get/k` or `POST /set/k` with the raw value as body (path-style, handy with curl)
 * - `Authorization: Bearer <token>` (or `?_token=`); anything else is a 401 `{"error": …}`
 * - `Upstash-Encoding: base64`: every string in a result is base64, so binary values survive JSON;
 *   integers and nulls stay as they are
 *
 * Replies map as RESP2 does (the shape Upstash returns): bulk and status strings → strings, integers →
 * numbers (exact digits beyond 2^53), nil → null, arrays → arrays, a Redis error → `{"error": "<message>"}`
 * with status 400 (inside a pipeline or transaction, per entry with status 200).
 *
 * Connections: one shared, pipelined connection carries every non-blocking command. Redis runs one command
 * at a time, so a slow command delays everyone whatever the number of connections; pipelining only removes
 * the round trip per request. Blocking commands (`BLPOP`, `XREAD … BLOCK`, `WAIT`, …) would stall that
 * connection, so each request that has one gets a dedicated connection, closed when it is answered, when its
 * HTTP client goes away, or on shutdown; beyond `maxBlockingConnections` at once it is refused with a 503.
 * Commands that change connection state (`SELECT`, `MULTI`, `WATCH`, `SUBSCRIBE`, `HELLO`, …) are refused
 * with a 400 that says what to do instead.
 *
 * Not supported: Upstash's server-sent-event `subscribe`/`psubscribe` endpoints. `Upstash-Sync-Token` is
 * accepted and not returned: with one primary, a reply is sent only after Redis applied the write, so every
 * later request reads it.
 *
 * Run it: `UPSTASH_GATEWAY_TOKEN=dev deno run --allow-net --allow-env --allow-sys tools/upstash_gateway.ts`
 * (`UPSTASH_GATEWAY_PORT`, default 8079; `REDIS_URL`, default `redis://127.0.0.1:6379`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { createClient, ErrorReply, RESP_TYPES } from "@redis/client";
import { createLogger, type Logger } from "../observability/logger.ts";

/** Options for {@linkcode serveUpstashGateway}. */
export interface UpstashGatewayOptions {
  /** TCP port; 0 picks a free one. Default 8079. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Redis to forward to; a database number in the path selects it. Default `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  /** Bearer token every request must carry. */
  token: string;
  /** Aborting it shuts the gateway down, like {@linkcode UpstashGateway.shutdown}. */
  signal?: AbortSignal;
  /** Where the gateway logs. Default: JSON lines on stderr. */
  logger?: Logger;
  /** Requests with a blocking command that may run at once, each on its own connection. Default 16. */
  maxBlockingConnections?: number;
  /** Largest request body accepted, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
}

/** A running gateway. */
export interface UpstashGateway extends AsyncDisposable {
  /** Base URL for `new Redis({ url, token })`, e.g. `http://127.0.0.1:8079`. */
  readonly url: string;
  /** Settles once the gateway has shut down, however that was asked for. */
  readonly finished: Promise<void>;
  /** Ends blocked commands, waits for other requests in flight, then closes the Redis connections. */
  shutdown(): Promise<void>;
}

const DEFAULT_PORT = 8079;
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/**
 * Starts the gateway and resolves once it listens and Redis answered; rejects if Redis cannot be reached.
 *
 * @example
 * ```ts
 * import { Redis } from "@upstash/redis";
 * import { serveUpstashGateway } from "./upstash_gateway.ts";
 *
 * await using gateway = await serveUpstashGateway({ port: 0, token: "dev" });
 * const redis = new Redis({ url: gateway.url, token: "dev", enableTelemetry: false });
 * const key = `weir:example:${crypto.randomUUID()}`;
 * await redis.set(key, { hello: "world" }, { ex: 60 });
 * const value = await redis.get<{ hello: string }>(key);
 * if (value?.hello !== "world") throw new Error("expected the value back");
 * await redis.del(key);
 * ```
 */
export async function serveUpstashGateway(options: UpstashGatewayOptions): Promise<UpstashGateway> {
  if (!options.token) throw new TypeError("Missing token: the gateway needs a bearer token to check");
  const log = options.logger ?? createLogger().child({ component: "upstash_gateway" });
  const redisUrl = options.redisUrl ?? DEFAULT_REDIS_URL;
  const connections = await RedisConnections.open(redisUrl, {
    log,
    maxBlocking: options.maxBlockingConnections ?? 16,
  });
  const handler = new GatewayHandler({
    connections,
    token: options.token,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024,
    log,
  });

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port: options.port ?? DEFAULT_PORT,
      hostname: options.hostname ?? "127.0.0.1",
      onListen: () => {},
      onError: (error) => {
        log.error("Request failed", { error });
        return jsonResponse(500, { error: "Internal gateway error: see the gateway log" });
      },
    }, (request) => handler.handle(request));
  } catch (error) {
    connections.destroy();
    throw error;
  }
  const host = server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname;
  const url = `http://${host}:${server.addr.port}`;
  log.info("Upstash gateway listening", { url, redis: redactUrl(redisUrl) });

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      options.signal?.removeEventListener("abort", onAbort);
      // Blocked commands first: a BLPOP with timeout 0 would otherwise hold the graceful shutdown forever.
      connections.destroyDedicated();
      // server.shutdown(), not an abort signal: the signal drops requests in flight instead of answering them.
      await server.shutdown();
      await connections.close();
      log.info("Upstash gateway stopped", { url });
    })();
    return closing;
  };
  const onAbort = () => void shutdown();
  if (options.signal?.aborted) await shutdown();
  else options.signal?.addEventListener("abort", onAbort, { once: true });

  const finished = server.finished.then(shutdown).catch((error) => {
    log.error("Upstash gateway did not stop cleanly", { error });
  });

  return { url, finished, shutdown, [Symbol.asyncDispose]: shutdown };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

/** A request the gateway refuses before Redis sees it; the status says why. */
class RequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "RequestError";
  }
}

interface HandlerOptions {
  connections: RedisConnections;
  token: string;
  maxBodyBytes: number;
  log: Logger;
}

/** One command's outcome in a pipeline or transaction, before encoding. */
type Outcome = { reply: unknown } | { error: string };

class GatewayHandler {
  #connections: RedisConnections;
  #token: Uint8Array;
  #maxBodyBytes: number;
  #log: Logger;

  constructor(options: HandlerOptions) {
    this.#connections = options.connections;
    this.#token = new TextEncoder().encode(options.token);
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#log = options.log;
  }

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!this.#authorized(request, url)) {
      return jsonResponse(401, { error: "Unauthorized: invalid or missing bearer token" });
    }
    const encoding: Encoding = request.headers.get("upstash-encoding")?.toLowerCase() === "base64"
      ? "base64"
      : "utf8";
    try {
      switch (url.pathname) {
        case "/pipeline":
        case "/multi-exec": {
          if (request.method !== "POST") throw new RequestError(405, `Method not allowed: use POST`);
          const commands = parseCommandList(await this.#readJson(request));
          const entries = url.pathname === "/pipeline"
            ? await this.#pipeline(commands, request)
            : await this.#transaction(commands);
          return jsonResponse(200, entries.map((entry) => encodeEntry(entry, encoding)));
        }
        default: {
          const command = url.pathname === "/" && request.method === "POST"
            ? parseCommand(await this.#readJson(request), "Invalid command")
            : await this.#pathCommand(request, url);
          const reply = await this.#single(command, request);
          if (reply instanceof ErrorReply) return jsonResponse(400, { error: reply.message });
          return jsonResponse(200, { result: toJson(reply, encoding) });
        }
      }
    } catch (error) {
      if (error instanceof RequestError) return jsonResponse(error.status, { error: error.message });
      if (error instanceof RedisUnavailableError) {
        this.#log.warn("Redis unavailable", { error: error.cause });
        return jsonResponse(503, { error: error.message });
      }
      throw error;
    }
  }

  #authorized(request: Request, url: URL): boolean {
    const header = request.headers.get("authorization");
    const bearer = header?.match(/^bearer\s+(.+)$/i)?.[1]?.trim();
    const given = bearer ?? url.searchParams.get("_token");
    if (given === null || given === undefined) return false;
    const bytes = new TextEncoder().encode(given);
    // Constant-time for equal lengths; the length of the token is not the secret.
    return bytes.length === this.#token.length && timingSafeEqual(bytes, this.#token);
  }

  // Takes the request, not its signal: only blocking commands read request.signal, which Deno warns about.
  async #single(command: RedisCommand, request: Request): Promise<unknown> {
    rejectUnsupported(command);
    const [reply] = isBlocking(command)
      ? await this.#connections.dedicated(request.signal, (connection) => connection.sendAll([command]))
      : await this.#connections.shared.sendAll([command]);
    return settledReply(reply);
  }

  async #pipeline(commands: RedisCommand[], request: Request): Promise<Outcome[]> {
    const refusals = commands.map(unsupportedReason);
    const runnable = commands.filter((_, i) => refusals[i] === undefined);
    const replies = runnable.length === 0
      ? []
      : runnable.some(isBlocking)
      ? await this.#connections.dedicated(request.signal, (connection) => connection.sendAll(runnable))
      : await this.#connections.shared.sendAll(runnable);
    let next = 0;
    return refusals.map((refusal) => {
      if (refusal !== undefined) return { error: refusal };
      const reply = settledReply(replies[next++]);
      return reply instanceof ErrorReply ? { error: reply.message } : { reply };
    });
  }

  async #transaction(commands: RedisCommand[]): Promise<Outcome[]> {
    commands.forEach(rejectUnsupported);
    // Inside MULTI a blocking command does not block, so the shared connection is right for all of them.
    const replies = await this.#connections.shared.sendAll([["MULTI"], ...commands, ["EXEC"]]);
    const multi = settledReply(replies[0]);
    if (multi instanceof ErrorReply) throw new RequestError(400, multi.message);
    const queued = replies.slice(1, -1).map(settledReply);
    const refused = queued.findIndex((reply) => reply instanceof ErrorReply);
    if (refused !== -1) {
      const name = commandName(commands[refused]).toUpperCase();
      const reason = (queued[refused] as ErrorReply).message;
      throw new RequestError(
        400,
        `EXECABORT Transaction discarded because of previous errors: command ${
          refused + 1
        } (${name}): ${reason}`,
      );
    }
    const exec = settledReply(replies[replies.length - 1]);
    if (exec instanceof ErrorReply) throw new RequestError(400, exec.message);
    if (!Array.isArray(exec)) {
      throw new RequestError(400, "EXEC returned no results: the transaction was aborted");
    }
    return exec.map((reply: unknown) => reply instanceof ErrorReply ? { error: reply.message } : { reply });
  }

  /** `GET /get/key`, or `POST /set/key` with the value as the raw body (binary-safe). */
  async #pathCommand(request: Request, url: URL): Promise<RedisCommand> {
    if (request.method !== "GET" && request.method !== "POST") {
      throw new RequestError(405, "Method not allowed: use POST, or GET for a path-style command");
    }
    const segments = url.pathname.split("/").slice(1);
    if (segments[0] === "") throw new RequestError(400, "Missing command: POST a JSON array to /");
    let command: RedisCommand;
    try {
      command = segments.map((segment) => decodeURIComponent(segment));
    } catch {
      throw new RequestError(400, `Invalid path: a segment is not valid percent-encoding`);
    }
    if (request.method === "POST") {
      const body = await readBody(request, this.#maxBodyBytes);
      if (body.length > 0) command.push(Buffer.from(body.buffer, body.byteOffset, body.length));
    }
    return command;
  }

  async #readJson(request: Request): Promise<unknown> {
    const text = new TextDecoder().decode(await readBody(request, this.#maxBodyBytes));
    try {
      // Numbers keep their source digits: `INCRBY k 12345678901234567890` must reach Redis as written.
      return JSON.parse(
        text,
        (_key, value, context?: { source?: string }) =>
          typeof value === "number" ? context?.source ?? String(value) : value,
      );
    } catch (error) {
      throw new RequestError(400, `Invalid JSON body: ${(error as Error).message}`);
    }
  }
}

async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new RequestError(413, `Request body too large: the limit is ${limit} bytes`);
  if (Number(request.headers.get("content-length") ?? 0) > limit) throw tooLarge();
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Commands

/** A command as sent to Redis: strings are UTF-8, Buffers go as they are. */
type RedisCommand = Array<string | Buffer>;

function parseCommand(value: unknown, context: string): RedisCommand {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, `${context}: expected a non-empty JSON array like ["SET", "key", "value"]`);
  }
  return value.map((argument, i) => {
    // Numbers arrive as their source text (see #readJson).
    if (typeof argument === "string") return argument;
    if (typeof argument === "boolean") return String(argument);
    throw new RequestError(
      400,
      `${context}: argument ${i + 1} is ${argument === null ? "null" : typeof argument}, ` +
        `expected a string, number or boolean`,
    );
  });
}

function parseCommandList(value: unknown): RedisCommand[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, `Invalid pipeline: expected a non-empty JSON array of commands`);
  }
  return value.map((command, i) => parseCommand(command, `Invalid command ${i + 1}`));
}

function commandName(command: RedisCommand): string {
  return command[0].toString().toLowerCase();
}

/** Commands that change the state of the connection they run on, which here is shared by every request. */
const CONNECTION_STATE: Record<string, string> = {
  multi: "use the /multi-exec endpoint for transactions",
  exec: "use the /multi-exec endpoint for transactions",
  discard: "use the /multi-exec endpoint for transactions",
  watch: "WATCH needs a connection of its own; use a Lua script (EVAL) for check-and-set",
  unwatch: "WATCH needs a connection of its own; use a Lua script (EVAL) for check-and-set",
  select: "put the database number in the gateway's Redis URL instead",
  auth: "the gateway authenticates to Redis with the credentials in its Redis URL",
  hello: "the gateway speaks RESP2 to Redis, the protocol Upstash replies follow",
  quit: "HTTP requests have no connection to close",
  reset: "HTTP requests have no connection to reset",
  monitor: "MONITOR takes over the connection",
  subscribe: "pub/sub streaming is not supported by this gateway",
  psubscribe: "pub/sub streaming is not supported by this gateway",
  ssubscribe: "pub/sub streaming is not supported by this gateway",
  unsubscribe: "pub/sub streaming is not supported by this gateway",
  punsubscribe: "pub/sub streaming is not supported by this gateway",
  sunsubscribe: "pub/sub streaming is not supported by this gateway",
  sync: "replication commands take over the connection",
  psync: "replication commands take over the connection",
  replconf: "replication commands take over the connection",
};

const CLIENT_STATE = new Set(["reply", "tracking", "caching"]);

function unsupportedReason(command: RedisCommand): string | undefined {
  const name = commandName(command);
  const reason = CONNECTION_STATE[name] ??
    (name === "client" && CLIENT_STATE.has(command[1]?.toString().toLowerCase() ?? "")
      ? "it changes the state of a connection that every request shares"
      : undefined);
  if (reason === undefined) return undefined;
  const label = command.slice(0, name === "client" ? 2 : 1).join(" ").toUpperCase();
  return `ERR command not supported by the gateway: ${label}: ${reason}`;
}

function rejectUnsupported(command: RedisCommand): void {
  const reason = unsupportedReason(command);
  if (reason !== undefined) throw new RequestError(400, reason);
}

const BLOCKING = new Set([
  "blpop",
  "brpop",
  "brpoplpush",
  "blmove",
  "blmpop",
  "bzpopmin",
  "bzpopmax",
  "bzmpop",
  "wait",
  "waitaof",
]);

function isBlocking(command: RedisCommand): boolean {
  const name = commandName(command);
  if (BLOCKING.has(name)) return true;
  if (name !== "xread" && name !== "xreadgroup") return false;
  // Options come before STREAMS; after it, a key may well be called "block".
  for (const argument of command.slice(1)) {
    const word = argument.toString().toLowerCase();
    if (word === "streams") return false;
    if (word === "block") return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Replies

type Encoding = "base64" | "utf8";

/** A reply as JSON: what `toJson` makes of a Redis reply. */
type JsonValue = string | number | null | JsonValue[] | { error: string } | RawJson;

/** A number that JSON.stringify writes verbatim (`JSON.rawJSON`, not yet in TypeScript's lib). */
type RawJson = { readonly rawJSON: string };
const rawJson = (JSON as JSON & { rawJSON(text: string): RawJson }).rawJSON;

// RESP2, not RESP3: Upstash replies have RESP2 shapes (HGETALL a flat array, ZSCORE a string), and
// @upstash/redis parses those. Bulk and status strings stay Buffers so binary values survive; integers come
// as their digits so that ones beyond 2^53 stay exact.
const REPLY_TYPES = {
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.SIMPLE_STRING]: Buffer,
  [RESP_TYPES.NUMBER]: String,
} as const;

function toJson(reply: unknown, encoding: Encoding): JsonValue {
  if (reply === null || reply === undefined) return null;
  if (reply instanceof Uint8Array) {
    return Buffer.from(reply.buffer, reply.byteOffset, reply.length).toString(encoding);
  }
  if (typeof reply === "string") {
    const value = Number(reply);
    return Number.isSafeInteger(value) ? value : rawJson(reply);
  }
  if (typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, encoding));
  // An error inside an array (a Lua table holding redis.error_reply): kept visible as an object.
  if (reply instanceof ErrorReply) return { error: reply.message };
  throw new TypeError(`Unexpected Redis reply: ${Object.prototype.toString.call(reply)}`);
}

function encodeEntry(entry: Outcome, encoding: Encoding): { result: JsonValue } | { error: string } {
  return "error" in entry ? entry : { result: toJson(entry.reply, encoding) };
}

// ---------------------------------------------------------------------------------------------------------
// Redis connections

/** Redis could not be reached; the request may succeed later. */
class RedisUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`Redis is unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "RedisUnavailableError";
  }
}

function settledReply(result: PromiseSettledResult<unknown>): unknown {
  if (result.status === "fulfilled") return result.value;
  if (result.reason instanceof ErrorReply) return result.reason;
  throw new RedisUnavailableError(result.reason);
}

function createRedisClient(
  url: string,
  reconnectStrategy: (retries: number, cause: Error) => number | Error,
) {
  return createClient({
    url,
    RESP: 2,
    // Fail fast while Redis is down rather than queueing requests without bound.
    disableOfflineQueue: true,
    socket: { reconnectStrategy },
  });
}

type NodeRedisClient = ReturnType<typeof createRedisClient>;

/** One node-redis connection; commands are pipelined, replies come back with their RESP2 shape. */
class RedisConnection {
  readonly client: NodeRedisClient;

  constructor(client: NodeRedisClient) {
    this.client = client;
  }

  /**
   * Sends the commands back to back and settles each; Redis errors are rejections with an ErrorReply.
   * Sharing a chain id keeps them contiguous on the wire, which MULTI … EXEC needs on a shared connection.
   */
  sendAll(commands: RedisCommand[]): Promise<PromiseSettledResult<unknown>[]> {
    const options = { chainId: Symbol("gateway request"), typeMapping: REPLY_TYPES };
    return Promise.allSettled(commands.map((command) => this.client.sendCommand(command, options)));
  }
}

interface ConnectionsOptions {
  log: Logger;
  maxBlocking: number;
}

class RedisConnections {
  readonly shared: RedisConnection;
  #log: Logger;
  #maxBlocking: number;
  #url: string;
  #dedicated = new Set<NodeRedisClient>();

  private constructor(url: string, shared: NodeRedisClient, options: ConnectionsOptions) {
    this.#url = url;
    this.shared = new RedisConnection(shared);
    this.#log = options.log;
    this.#maxBlocking = options.maxBlocking;
  }

  static async open(url: string, options: ConnectionsOptions): Promise<RedisConnections> {
    let connected = false;
    // The first connection fails the start; later drops reconnect with a capped backoff.
    const client = createRedisClient(
      url,
      (retries, cause) => connected ? Math.min(50 * 2 ** retries, 2_000) : cause,
    );
    client.on("error", (error: Error) => {
      if (connected) options.log.warn("Redis connection error", { error });
    });
    try {
      await client.connect();
    } catch (error) {
      client.destroy();
      throw new Error(`Cannot connect to Redis at ${redactUrl(url)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    connected = true;
    return new RedisConnections(url, client, options);
  }

  /** Runs `use` on a connection of its own, closed afterwards or as soon as `signal` aborts. */
  async dedicated<T>(signal: AbortSignal, use: (connection: RedisConnection) => Promise<T>): Promise<T> {
    if (this.#dedicated.size >= this.#maxBlocking) {
      throw new RequestError(
        503,
        `Too many blocking commands in flight: the limit is ${this.#maxBlocking}, retry later`,
      );
    }
    if (signal.aborted) throw new RequestError(400, "Request aborted: the client went away");
    const client = createRedisClient(this.#url, (_retries, cause) => cause);
    client.on("error", (error: Error) => this.#log.debug("Dedicated Redis connection error", { error }));
    this.#dedicated.add(client);
    // The HTTP client went away: closing the connection ends a BLPOP that nobody waits for any more.
    const onAbort = () => client.destroy();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      try {
        await client.connect();
      } catch (error) {
        throw new RedisUnavailableError(error);
      }
      return await use(new RedisConnection(client));
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#dedicated.delete(client);
      if (client.isOpen) client.destroy();
    }
  }

  destroyDedicated(): void {
    for (const client of this.#dedicated) client.destroy();
  }

  async close(): Promise<void> {
    this.destroyDedicated();
    await this.shared.client.close();
  }

  destroy(): void {
    this.destroyDedicated();
    this.shared.client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------
// CLI

if (import.meta.main) {
  const log = createLogger().child({ component: "upstash_gateway" });
  const token = Deno.env.get("UPSTASH_GATEWAY_TOKEN");
  const port = Number(Deno.env.get("UPSTASH_GATEWAY_PORT") ?? DEFAULT_PORT);
  if (!token) {
    log.error("Missing token: set UPSTASH_GATEWAY_TOKEN to the bearer token clients must send");
    Deno.exit(2);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    log.error("Invalid UPSTASH_GATEWAY_PORT: expected an integer from 0 to 65535", {
      value: Deno.env.get("UPSTASH_GATEWAY_PORT"),
    });
    Deno.exit(2);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, onSignal);
  try {
    const gateway = await serveUpstashGateway({
      port,
      redisUrl: Deno.env.get("REDIS_URL") ?? DEFAULT_REDIS_URL,
      token,
      signal: stop.signal,
      logger: log,
    });
    await gateway.finished;
  } catch (error) {
    log.error("Upstash gateway failed", { error });
    Deno.exitCode = 1;
  } finally {
    for (const name of signals) Deno.removeSignalListener(name, onSignal);
  }
}
