/**
 * The `redis` sink, through @upstash/redis: rows as hashes (`HSET prefix:key col value …`, nulls `HDEL`ed) or
 * as stream entries (`XADD prefix * col value …`, nulls omitted), values as text (see json_row.ts for numbers).
 *
 * **Exactly once.** Each chunk of `chunkRows` rows is written by one Lua script that first adds
 * `sequence:chunk` to the run's marker set (`prefix:__weir:commits:<run>`) and writes nothing when it was
 * there already. A script runs atomically in Redis, so rows and marker land together or not at all, and a
 * retry (or a concurrent duplicate) of a committed chunk is a no-op. Durability is Redis's: with AOF
 * `appendfsync everysec` a Redis crash may lose the last second, rows and markers alike, so a retry then
 * rewrites them rather than duplicating. A WATCH/MULTI check-and-set is not possible over the REST protocol
 * (stateless requests), hence the script.
 *
 * @module
 */

import type { Batch } from "../../batch.ts";
import { cellValue } from "../../batch.ts";
import type { Sink } from "../../component.ts";
import { ConfigError, PipelineError } from "../../errors.ts";
import { configPath, messageOf, sinkError, splitRows } from "../context.ts";
import type { SinkDefinition } from "../context.ts";
import { sinkInstruments } from "../instruments.ts";
import { keyText } from "../json_row.ts";
import { RedisSinkConfig } from "./config.ts";

export { RedisSinkConfig } from "./config.ts";

const NAME = "redis";
const COMPONENT = "sink.redis";

// KEYS[1]: marker set. ARGV: member, marker ttl, mode, ttl (0 = none), maxlen (0 = none), stream key,
// column count n, n column names, then per row: its key, a null mask ('1' = null) and n values.
const SCRIPT = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
local mode, ttl, maxlen, stream = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local n = tonumber(ARGV[7])
local i, rows = 8 + n, 0
while i <= #ARGV do
  local key, mask = ARGV[i], ARGV[i + 1]
  local set, unset = {}, {}
  for c = 1, n do
    if string.sub(mask, c, c) == '1' then
      table.insert(unset, ARGV[7 + c])
    else
      table.insert(set, ARGV[7 + c]); table.insert(set, ARGV[i + 1 + c])
    end
  end
  if mode == 'hash' then
    if #set > 0 then redis.call('HSET', key, unpack(set)) end
    if #unset > 0 then redis.call('HDEL', key, unpack(unset)) end
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  else
    if #set == 0 then set = {ARGV[8], ''} end
    if maxlen > 0 then
      redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(set))
    else
      redis.call('XADD', stream, '*', unpack(set))
    end
  end
  rows = rows + 1
  i = i + 2 + n
end
if mode == 'stream' and ttl > 0 then redis.call('EXPIRE', stream, ttl) end
return rows
`;

const TRANSIENT =
  /fetch|network|ECONN|EPIPE|socket|timed? ?out|503|502|504|429|BUSY|LOADING|TRYAGAIN|MASTERDOWN/i;

function isRetriable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof ConfigError) return false;
    if (e instanceof TypeError || TRANSIENT.test(messageOf(e))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The `redis` sink. */
export const redisSink: SinkDefinition<RedisSinkConfig> = {
  kind: "sink",
  name: NAME,
  summary: "Writes rows to Redis hashes or a stream through @upstash/redis, exactly once per batch chunk",
  config: RedisSinkConfig,
  isRetriable,
  keepsNoBatch: true,
  build(config, ctx) {
    const redis = ctx.redis;
    if (!redis) {
      return Promise.reject(
        new ConfigError(
          "The redis sink needs Redis: set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN",
          {
            path: configPath(NAME),
          },
        ),
      );
    }
    const { fields, key } = ctx.schema;
    if (config.mode === "hash" && key.length === 0) {
      return Promise.reject(
        new ConfigError("Hash mode needs a key: declare schema.key or use mode stream", {
          path: configPath(NAME, "mode"),
        }),
      );
    }
    const prefix = config.prefix ?? ctx.pipeline;
    const meters = sinkInstruments(ctx.telemetry, NAME);
    const names = fields.map((f) => f.name);
    const head = [
      config.mode,
      String(config.ttlSeconds ?? 0),
      String(config.maxLen ?? 0),
      prefix,
      String(names.length),
      ...names,
    ];

    const chunkArgs = (batch: Batch, from: number, to: number): { args: string[]; bytes: number } => {
      const args: string[] = [];
      let bytes = 0;
      const columns = names.map((n) => batch.columns[n]);
      for (let row = from; row < to; row++) {
        let mask = "";
        const values: string[] = [];
        for (const column of columns) {
          const value = cellValue(column, row);
          mask += value === null ? "1" : "0";
          values.push(value === null ? "" : String(value));
        }
        const rowKey = config.mode === "hash" ? `${prefix}:${keyText(batch, key, row)}` : "";
        args.push(rowKey, mask, ...values);
        for (const a of values) bytes += a.length;
      }
      return { args, bytes };
    };

    let closed = false;
    const sink: Sink = {
      async write(batch, w) {
        if (closed) throw new PipelineError("Sink is closed", { component: COMPONENT, retriable: false });
        w.signal.throwIfAborted();
        meters.received(batch.length);
        const marker = `${prefix}:__weir:commits:${w.runId}`;
        const chunks = splitRows(batch.length, Math.max(1, Math.ceil(batch.length / config.chunkRows)));
        try {
          // Chunks in order: a stream keeps the batch's row order.
          for (const [index, { from, to }] of chunks.entries()) {
            const { args, bytes } = chunkArgs(batch, from, to);
            const written = await redis.eval<string[], number>(
              SCRIPT,
              [marker],
              [`${w.sequence}:${index}`, String(config.markerTtlSeconds), ...head, ...args],
            );
            meters.bytes(bytes);
            meters.sent(Number(written));
          }
        } catch (error) {
          meters.error();
          throw sinkError(error, {
            component: COMPONENT,
            message: `Writing to Redis ${prefix} failed`,
            retriable: isRetriable(error),
          });
        }
      },
      async healthcheck(signal) {
        signal.throwIfAborted();
        await redis.ping();
      },
      close() {
        // The client is the context's (shared, stateless HTTP): nothing of ours to release.
        closed = true;
        return Promise.resolve();
      },
    };
    return Promise.resolve(sink);
  },
};
