/**
 * The cache behind `lookup`: Redis through @upstash/redis when the context has a client, otherwise an
 * in-process map; both expire entries after a TTL and share one small interface.
 *
 * @module
 */

import type { Redis } from "@upstash/redis";

/** A cached lookup result: the row's values as text, or null when the key has no row (cached too). */
export interface CachedRow {
  readonly v: readonly (string | null)[] | null;
}

/** Cache-aside storage for lookups. */
export interface LookupCache {
  /** Where entries live, for logs and metrics. */
  readonly kind: "redis" | "memory";
  /** The entries for `keys`, in order; undefined where there is none (or it expired). */
  getMany(keys: readonly string[]): Promise<(CachedRow | undefined)[]>;
  /** Stores `entries`, each expiring after `ttlMs`. */
  setMany(entries: readonly (readonly [string, CachedRow])[], ttlMs: number): Promise<void>;
}

/** Keys per MGET or pipeline, so one huge batch does not become one huge request. */
const CHUNK = 1000;

/** A {@linkcode LookupCache} in Redis: one MGET per chunk of keys, one pipelined `SET … PX` per chunk. */
export class RedisLookupCache implements LookupCache {
  readonly kind = "redis";
  #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async getMany(keys: readonly string[]): Promise<(CachedRow | undefined)[]> {
    const out: (CachedRow | undefined)[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const values = await this.#redis.mget<unknown[]>(...keys.slice(i, i + CHUNK));
      for (const value of values) out.push(decode(value));
    }
    return out;
  }

  async setMany(entries: readonly (readonly [string, CachedRow])[], ttlMs: number): Promise<void> {
    for (let i = 0; i < entries.length; i += CHUNK) {
      const pipeline = this.#redis.pipeline();
      for (const [key, row] of entries.slice(i, i + CHUNK)) {
        pipeline.set(key, JSON.stringify(row), { px: Math.max(1, Math.round(ttlMs)) });
      }
      await pipeline.exec();
    }
  }
}

/** A value read back: the client may have parsed the JSON already (its default) or not. */
function decode(value: unknown): CachedRow | undefined {
  if (value === null || value === undefined) return undefined;
  const parsed = typeof value === "string" ? JSON.parse(value) : value;
  if (typeof parsed !== "object" || parsed === null || !("v" in parsed)) return undefined;
  return parsed as CachedRow;
}

/** A {@linkcode LookupCache} in this process, bounded: past `maxEntries` the oldest entries go first. */
export class MemoryLookupCache implements LookupCache {
  readonly kind = "memory";
  #entries = new Map<string, { row: CachedRow; expires: number }>();
  #maxEntries: number;
  #now: () => number;

  constructor(options: { maxEntries: number; now?: () => number }) {
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? (() => performance.now());
  }

  getMany(keys: readonly string[]): Promise<(CachedRow | undefined)[]> {
    const now = this.#now();
    return Promise.resolve(keys.map((key) => {
      const entry = this.#entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expires <= now) {
        this.#entries.delete(key);
        return undefined;
      }
      return entry.row;
    }));
  }

  setMany(entries: readonly (readonly [string, CachedRow])[], ttlMs: number): Promise<void> {
    const expires = this.#now() + ttlMs;
    for (const [key, row] of entries) {
      // Re-inserting moves the key to the end of the map's order, which is the eviction order.
      this.#entries.delete(key);
      this.#entries.set(key, { row, expires });
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
    return Promise.resolve();
  }

  /** Entries held (expired ones included until read or evicted). */
  get size(): number {
    return this.#entries.size;
  }
}
