/**
 * Sizes and durations as people write them in weir.yaml (`64MiB`, `500ms`, `5s`), parsed once at load into
 * bytes and milliseconds, so nothing downstream parses units again.
 *
 * @module
 */
import * as v from "valibot";

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3 };

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)$/i;
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses a size such as `64MiB`, `1.5GB` or `512` (bytes) into whole bytes; `undefined` when malformed. */
export function parseByteSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
}

/** Parses a duration such as `500ms`, `5s`, `1m` or `2h` into milliseconds; `undefined` when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]]) : undefined;
}

/**
 * A byte size in config: a whole number of bytes or a string with a unit (`B`, `KB`, `MB`, `GB`, `TB`, `KiB`,
 * `MiB`, `GiB`, `TiB`); the output is bytes.
 */
export function byteSize(options: { min?: number } = {}) {
  const min = options.min ?? 1;
  const message = `expected a size of at least ${min} bytes, such as 512, 64KiB or 1GiB`;
  return v.pipe(
    v.union([v.number(), v.string()], message),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const bytes = typeof dataset.value === "number" ? dataset.value : parseByteSize(dataset.value);
      if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < min) {
        addIssue({ message, received: JSON.stringify(dataset.value) });
        return NEVER;
      }
      return bytes;
    }),
  );
}

/** A duration in config: a string with a unit (`ms`, `s`, `m`, `h`, `d`); the output is milliseconds. */
export function duration(options: { min?: number } = {}) {
  const min = options.min ?? 0;
  const message = `expected a duration such as 500ms, 5s or 1m${min > 0 ? ` (at least ${min}ms)` : ""}`;
  return v.pipe(
    v.string(message),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const ms = parseDuration(dataset.value);
      if (ms === undefined || ms < min) {
        addIssue({ message, received: JSON.stringify(dataset.value) });
        return NEVER;
      }
      return ms;
    }),
  );
}
