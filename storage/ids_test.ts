import assert from "node:assert/strict";
import { newId } from "./ids.ts";

Deno.test("newId makes prefixed ULIDs that increase", async (t) => {
  const cases: { name: string; times: number[] }[] = [
    { name: "across milliseconds", times: [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_500] },
    { name: "within one millisecond", times: Array(1000).fill(1_800_000_000_000) },
    { name: "when the clock steps back", times: [1_900_000_000_000, 1_899_999_999_000, 1_899_999_999_999] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const ids = c.times.map((time) => newId("r", time));
      for (const id of ids) assert.match(id, /^r_[0-9A-HJKMNP-TV-Z]{26}$/);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} < ${ids[i]}`);
    });
  }

  await t.step("encodes the time in the first ten characters", () => {
    const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const time = 2_000_000_000_000; // later than every case above, so it is not bumped
    const encoded = newId("x", time).slice(2, 12);
    assert.equal([...encoded].reduce((n, ch) => n * 32 + alphabet.indexOf(ch), 0), time);
  });
});
