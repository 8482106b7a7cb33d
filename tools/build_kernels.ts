/**
 * Builds the AssemblyScript kernels (kernels/assembly/index.ts) into build/kernels/weir.wasm with the
 * compiler's API, no shelling out. `--if-changed` skips the build when a hash of the kernel sources, the
 * compiler flags and the compiler version matches the one stored beside the output; `start`, `test` and
 * `bench` run it every time, so that path loads no compiler and only reads and hashes a few files.
 *
 * ```sh
 * deno task build:kernels               # always build
 * deno task build:kernels --if-changed  # build only when an input changed
 * ```
 *
 * @module
 */

/** Compiler flags besides the entry file and the output, part of the build hash. See kernels/README.md. */
export const KERNEL_COMPILER_FLAGS: readonly string[] = Object.freeze([
  "-O3",
  "--enable",
  "simd",
  "--runtime",
  "stub",
  "--noAssert",
]);

// Bump when the way inputs are hashed or outputs written changes, so old outputs are rebuilt.
const BUILD_FORMAT = "weir-kernels/1";
const ROOT = new URL("../", import.meta.url);
const DEFAULT_SOURCE_DIR = new URL("kernels/assembly/", ROOT);
const DEFAULT_OUT_FILE = new URL("build/kernels/weir.wasm", ROOT);
// DiagnosticCategory.Error in the compiler.
const CATEGORY_ERROR = 3;

/** Options for {@linkcode buildKernels}. */
export interface BuildKernelsOptions {
  /** Skip the compiler when the stored hash matches the inputs and the output exists. Default false. */
  ifChanged?: boolean;
  /** Directory holding `index.ts` and the kernel sources. Default `kernels/assembly/` in the repo. */
  sourceDir?: string | URL;
  /** Where the module goes; the hash is stored beside it as `<outFile>.hash`. Default `build/kernels/weir.wasm`. */
  outFile?: string | URL;
}

/** What {@linkcode buildKernels} did. */
export interface BuildKernelsResult {
  /** False when `ifChanged` found the output up to date. */
  built: boolean;
  /** Absolute path of the module. */
  outFile: string;
  /** Hex SHA-256 of the inputs (sources, flags, compiler version). */
  hash: string;
  /** Size of the module in bytes. */
  bytes: number;
  /** Wall time of the call in milliseconds. */
  ms: number;
}

/** The compiler rejected the kernels; `diagnostics` is its formatted output. */
export class KernelBuildError extends Error {
  override name = "KernelBuildError";
  /** The compiler's diagnostics, as it would print them. */
  readonly diagnostics: string;

  constructor(message: string, options: { diagnostics: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.diagnostics = options.diagnostics;
  }
}

/**
 * Compiles the kernels, or, with `ifChanged`, returns early when nothing changed.
 *
 * @throws {KernelBuildError} when the compiler reports errors.
 */
export async function buildKernels(options: BuildKernelsOptions = {}): Promise<BuildKernelsResult> {
  const started = performance.now();
  const sourceDir = toPath(options.sourceDir ?? DEFAULT_SOURCE_DIR, true);
  const outFile = toPath(options.outFile ?? DEFAULT_OUT_FILE, false);
  const hashFile = `${outFile}.hash`;
  const hash = await hashInputs(sourceDir);

  if (options.ifChanged) {
    const [stored, size] = await Promise.all([readTextOrNull(hashFile), fileSizeOrNull(outFile)]);
    if (stored?.trim() === hash && size !== null) {
      return { built: false, outFile, hash, bytes: size, ms: performance.now() - started };
    }
  }

  const binary = await compile(`${sourceDir}index.ts`);
  const outDir = outFile.slice(0, outFile.lastIndexOf("/") + 1);
  await Deno.mkdir(outDir, { recursive: true });
  // Write then rename, so a concurrent reader or a second build never sees half a module, and write the
  // hash only after the module it describes is in place.
  await writeAtomic(outFile, binary);
  await writeAtomic(hashFile, new TextEncoder().encode(hash + "\n"));
  return { built: true, outFile, hash, bytes: binary.byteLength, ms: performance.now() - started };
}

async function compile(entry: string): Promise<Uint8Array> {
  // Loaded lazily: the compiler and Binaryen take about half a second to load, which `--if-changed`
  // must not pay.
  const asc = await import("assemblyscript/asc");
  let diagnostics = "";
  const errors: string[] = [];
  let binary: Uint8Array | null = null;
  const decoder = new TextDecoder();
  const collect = {
    write(chunk: Uint8Array | string) {
      diagnostics += typeof chunk === "string" ? chunk : decoder.decode(chunk);
    },
  };
  const result = await asc.main([entry, ...KERNEL_COMPILER_FLAGS, "--outFile", "weir.wasm"], {
    stdout: collect,
    stderr: collect,
    writeFile(name, contents) {
      if (name.endsWith("weir.wasm") && typeof contents !== "string") binary = contents;
    },
    reportDiagnostic(diagnostic) {
      if (diagnostic.category !== CATEGORY_ERROR) return;
      const text = `TS${diagnostic.code}: ${diagnostic.message.replace(/\.$/, "")}`;
      const range = diagnostic.range;
      const source = range?.source;
      errors.push(
        source ? `${source.normalizedPath}${position(source.normalizedPath, range!.start)}: ${text}` : text,
      );
    },
  });
  if (result.error || binary === null) {
    const first = errors[0] ?? result.error?.message ?? "the compiler produced no module";
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
    throw new KernelBuildError(`${first}${more}`, { diagnostics, cause: result.error ?? undefined });
  }
  return binary;
}

/** `:line:column` of an offset in a source file; the compiler reports only the path and the offset. */
function position(path: string, offset: number): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return ""; // a library file (`~lib/...`) or one that is gone: the path alone must do
  }
  const before = text.slice(0, offset);
  return `:${before.split("\n").length}:${offset - before.lastIndexOf("\n")}`;
}

async function hashInputs(sourceDir: string): Promise<string> {
  const files = await listSources(sourceDir, "");
  if (!files.includes("index.ts")) {
    throw new KernelBuildError(`Kernel entry not found: ${sourceDir}index.ts`, { diagnostics: "" });
  }
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [
    encoder.encode(`${BUILD_FORMAT}\0${compilerVersion()}\0${JSON.stringify(KERNEL_COMPILER_FLAGS)}\0`),
  ];
  const contents = await Promise.all(files.map((file) => Deno.readFile(sourceDir + file)));
  files.forEach((file, i) => {
    parts.push(encoder.encode(`${file}\0${contents[i].byteLength}\0`), contents[i]);
  });
  const all = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  const digest = await crypto.subtle.digest("SHA-256", all);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The pinned compiler's version, from where the import map resolves it; no need to load it. */
function compilerVersion(): string {
  const resolved = import.meta.resolve("assemblyscript/asc");
  return /assemblyscript[@/](\d+\.\d+\.\d+[^/]*)/.exec(resolved)?.[1] ?? resolved;
}

async function listSources(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir + prefix)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) found.push(...await listSources(dir, rel + "/"));
    else if (entry.isFile && entry.name.endsWith(".ts")) found.push(rel);
  }
  return found.sort();
}

function toPath(location: string | URL, isDir: boolean): string {
  let path = location instanceof URL ? decodeURIComponent(location.pathname) : location;
  if (!path.startsWith("/")) path = `${Deno.cwd()}/${path}`;
  if (isDir && !path.endsWith("/")) path += "/";
  return path;
}

async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function fileSizeOrNull(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

const USAGE = "Usage: build_kernels.ts [--if-changed] [--source DIR] [--out FILE]";

function parseArgs(args: string[]): BuildKernelsOptions {
  const options: BuildKernelsOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--if-changed") options.ifChanged = true;
    else if (arg === "--source" && i + 1 < args.length) options.sourceDir = args[++i];
    else if (arg === "--out" && i + 1 < args.length) options.outFile = args[++i];
    else throw new Error(`Unknown argument: ${arg}\n${USAGE}`);
  }
  return options;
}

async function main(args: string[]): Promise<number> {
  const say = (line: string) => console.error(line);
  let options: BuildKernelsOptions;
  try {
    options = parseArgs(args);
  } catch (error) {
    say(`weir: ${(error as Error).message}`);
    return 2;
  }
  try {
    const result = await buildKernels(options);
    const relative = result.outFile.startsWith(Deno.cwd() + "/")
      ? result.outFile.slice(Deno.cwd().length + 1)
      : result.outFile;
    const size = `${(result.bytes / 1024).toFixed(1)} KiB`;
    say(
      result.built
        ? `weir: kernels built: ${relative} (${size}, ${Math.round(result.ms)} ms)`
        : `weir: kernels up to date: ${relative} (${size})`,
    );
    return 0;
  } catch (error) {
    if (error instanceof KernelBuildError && error.diagnostics) {
      await Deno.stderr.write(new TextEncoder().encode(error.diagnostics.trimEnd() + "\n"));
    }
    say(`weir: kernel build failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
