/**
 * The local spool behind `ack: accepted`: a request body written to a file under `WEIR_DATA_DIR/spool` and made
 * durable (the file fsync'd, then its directory, so that the name survives a power cut too) before the client is
 * told 202. Hashing happens while writing, for idempotency keys.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The spool directory of a data directory (`WEIR_DATA_DIR`). */
export function spoolDirOf(dataDir: string): string {
  return `${dataDir}/spool`;
}

/** A body on disk. */
export interface SpooledBody {
  /** Absolute path of the file. */
  path: string;
  /** Bytes written. */
  bytes: number;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
}

/**
 * Writes `body` to a new file in `dir` (created if missing) and fsyncs the file and the directory. On any
 * failure, the file is removed and the error rethrown.
 *
 * @example
 * ```ts
 * import { spoolBody } from "./spool.ts";
 * const dir = await Deno.makeTempDir();
 * const spooled = await spoolBody(dir, [new TextEncoder().encode("a\n")]);
 * if (spooled.bytes !== 2 || (await Deno.readTextFile(spooled.path)) !== "a\n") throw new Error("not spooled");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function spoolBody(
  dir: string,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { prefix?: string } = {},
): Promise<SpooledBody> {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.realPath(
    await Deno.makeTempFile({ dir, prefix: options.prefix ?? "body-", suffix: ".spool" }),
  );
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    {
      using file = await Deno.open(path, { write: true });
      for await (const piece of body) {
        hash.update(piece);
        // write() may write less than asked; finish the piece.
        for (let at = 0; at < piece.length;) at += await file.write(piece.subarray(at));
        bytes += piece.length;
      }
      await file.sync();
    }
    await syncDirectory(dir);
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  return { path, bytes, sha256: hash.digest("hex") };
}

/** Fsyncs a directory, so that files created or renamed in it survive a crash of the machine. */
export async function syncDirectory(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}

/**
 * Moves a spooled file into `failed/` beside it (kept for an operator, never drained again) and returns the new
 * path; `null` when the file is gone.
 */
export async function quarantineSpooled(path: string): Promise<string | null> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const failed = `${dir}/failed`;
  await Deno.mkdir(failed, { recursive: true });
  const target = `${failed}/${path.slice(dir.length + 1)}`;
  try {
    await Deno.rename(path, target);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  await syncDirectory(failed);
  return target;
}
