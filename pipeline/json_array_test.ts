import assert from "node:assert/strict";
import { jsonArrayToNdjson } from "./json_array.ts";

async function convert(text: string, pieceSize: number): Promise<string[]> {
  const bytes = new TextEncoder().encode(text);
  async function* pieces() {
    for (let at = 0; at < bytes.length; at += pieceSize) yield bytes.subarray(at, at + pieceSize);
  }
  let out = "";
  for await (const part of jsonArrayToNdjson(pieces())) out += new TextDecoder().decode(part);
  return out.split("\n").map((line) => line.trim()).filter(Boolean);
}

Deno.test("jsonArrayToNdjson emits one line per element whatever the cuts", async (t) => {
  const elements = [{ id: 1, s: 'a, "b" ]} [{' }, { id: 2, nested: { x: [1, 2, { y: "\\\\" }] } }, {
    id: 3,
    s: "line\nbreak",
  }];
  const cases: [string, string][] = [
    ["compact", JSON.stringify(elements)],
    ["pretty", JSON.stringify(elements, null, 2)],
    ["crlf", JSON.stringify(elements, null, 1).replaceAll("\n", "\r\n")],
  ];
  for (const [name, text] of cases) {
    for (const size of [1, 3, 7, 1000]) {
      await t.step(`${name}, pieces of ${size}`, async () => {
        const lines = await convert(text, size);
        assert.deepEqual(lines.map((line) => JSON.parse(line)), elements);
      });
    }
  }
});

Deno.test("jsonArrayToNdjson keeps a broken element on its own line", async () => {
  const lines = await convert('[{"id":1},{"id":},{"id":3}]', 4);
  assert.equal(lines.length, 3);
  assert.throws(() => JSON.parse(lines[1]));
  assert.deepEqual(JSON.parse(lines[2]), { id: 3 });
});
