import assert from "node:assert/strict";
import { seededRandom } from "../cli/seeded_random.ts";
import { fileCuts } from "./file_ranges.ts";

const encoder = new TextEncoder();
const LF = 0x0a;

/** A random CSV: quoted fields, doubled quotes, quoted LF and CRLF, blank lines, CRLF records, bad rows. */
function randomCsv(rows: number, seed: number): string {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  let out = random() < 0.5 ? "id,name,amount\n" : '"id","na\nme",amount\r\n'.replace("na\nme", "name");
  for (let i = 1; i <= rows; i++) {
    const name = pick([
      `n${i}`,
      `"quoted ${i}"`,
      `"two\nlines ${i}"`,
      `"crlf\r\ninside"`,
      `"doubled ""q"" ${i}"`,
      `"a ""x"" \n ""y"" \n ""z"" b"`,
      "",
    ]);
    const amount = pick(["1.50", "-3.00", "x1", "", `${i}.25`, `"7.75"`]);
    const id = random() < 0.03 ? "" : String(i);
    out += `${id},${name},${amount}${pick(["\n", "\n", "\r\n", "\n\n"])}`;
  }
  return out;
}

async function withFile<T>(text: string, body: (path: string, bytes: Uint8Array) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "weir-ranges-" });
  try {
    const path = `${dir}/input.csv`;
    const bytes = encoder.encode(text);
    await Deno.writeFile(path, bytes);
    return await body(path, bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("guessed cuts are increasing, each just past an LF, the last one the file's end", async () => {
  await withFile(randomCsv(400, 1), async (path, bytes) => {
    using file = await Deno.open(path);
    for (const target of [37, 100, 999]) {
      const cuts = (await fileCuts(file, bytes.length, 15, target, { quote: '"', windowBytes: 64 }))!;
      assert.equal(cuts.at(-1), bytes.length);
      cuts.slice(0, -1).forEach((cut, i) => {
        assert.equal(bytes[cut - 1], LF);
        assert.ok(cut > (i === 0 ? 15 : cuts[i - 1]));
      });
    }
  });
});
