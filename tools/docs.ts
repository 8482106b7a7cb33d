/**
 * `deno task docs`: writes docs/weir.schema.json (the JSON Schema editors use for weir.yaml) and
 * docs/components.md (the reference of every source, transform and sink), both generated from the valibot
 * schemas. `--check` writes nothing and exits 1 when either file is out of date.
 *
 * @module
 */
import { componentsMarkdown, specJsonSchema } from "../pipeline/spec_docs.ts";
import { REGISTRY } from "../pipeline/registry.ts";

/** The generated files by path relative to the repository root. */
export function generatedDocs(): Record<string, string> {
  return {
    "docs/weir.schema.json": JSON.stringify(specJsonSchema(REGISTRY), null, 2) + "\n",
    "docs/components.md": componentsMarkdown(REGISTRY),
  };
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const root = new URL("../", import.meta.url);
  let stale = 0;
  for (const [path, text] of Object.entries(generatedDocs())) {
    const url = new URL(path, root);
    const current = await Deno.readTextFile(url).catch(() => undefined);
    if (current === text) continue;
    if (check) {
      console.error(`${path} is out of date: run deno task docs`);
      stale++;
    } else {
      await Deno.mkdir(new URL(".", url), { recursive: true });
      await Deno.writeTextFile(url, text);
      console.log(`Wrote ${path}`);
    }
  }
  Deno.exitCode = stale > 0 ? 1 : 0;
}
