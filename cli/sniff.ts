/**
 * `weir sniff FILE`: prints the sniffed CSV dialect, header and column types of FILE (or stdin for `-`) as JSON.
 * main.ts dispatches `sniff` here: `Deno.exit(await sniffCommand(Deno.args.slice(1)))`.
 *
 * @module
 */

import { sniff, SNIFF_BYTES } from "../pipeline/sniff.ts";

/** Where the command reads and writes; tests pass their own. */
export interface SniffCommandIo {
  /** Reads up to `max` bytes from the start of `path` (`-` for stdin); resolves with what was read and whether that was all. */
  readHead(path: string, max: number): Promise<{ bytes: Uint8Array; complete: boolean }>;
  /** Writes a line of output. */
  stdout(line: string): void;
  /** Writes a line of diagnostics. */
  stderr(line: string): void;
}

const USAGE = "Usage: weir sniff [--bytes N] FILE|-";

/** Reads at most `max` bytes, so sniffing a 5 GB file or an endless pipe costs the same. */
async function readHead(path: string, max: number): Promise<{ bytes: Uint8Array; complete: boolean }> {
  const file = path === "-" ? Deno.stdin : await Deno.open(path, { read: true });
  try {
    // One byte more than needed tells whether the sample is the whole input.
    const buf = new Uint8Array(max + 1);
    let n = 0;
    while (n < buf.length) {
      const r = await file.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    return { bytes: buf.subarray(0, Math.min(n, max)), complete: n <= max };
  } finally {
    if (path !== "-") file.close();
  }
}

/** The real terminal and file system. */
export const denoIo: SniffCommandIo = {
  readHead,
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
};

/**
 * Runs `weir sniff` with `args` (those after `sniff`); resolves with the exit code: 0 on success, 1 when the file
 * cannot be read, 2 on a usage error.
 */
export async function sniffCommand(args: readonly string[], io: SniffCommandIo = denoIo): Promise<number> {
  let maxBytes = SNIFF_BYTES;
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--bytes") {
      maxBytes = Number(args[++i]);
      if (!Number.isInteger(maxBytes) || maxBytes <= 0) {
        io.stderr(`Invalid --bytes: expected a positive integer, got ${args[i]}`);
        return 2;
      }
    } else if (a === "-h" || a === "--help") {
      io.stdout(USAGE);
      return 0;
    } else if (a.startsWith("--")) {
      io.stderr(`Unknown option: ${a}\n${USAGE}`);
      return 2;
    } else if (path === undefined) path = a;
    else {
      io.stderr(`Unexpected argument: ${a}\n${USAGE}`);
      return 2;
    }
  }
  if (path === undefined) {
    io.stderr(USAGE);
    return 2;
  }
  let head: { bytes: Uint8Array; complete: boolean };
  try {
    head = await io.readHead(path, maxBytes);
  } catch (e) {
    io.stderr(`Cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const result = sniff(head.bytes, { maxBytes, complete: head.complete });
  io.stdout(JSON.stringify({ file: path, ...result }, null, 2));
  return 0;
}
