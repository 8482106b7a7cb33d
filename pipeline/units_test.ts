import { deepStrictEqual, equal } from "node:assert/strict";
import * as v from "valibot";
import { byteSize, duration, parseByteSize, parseDuration } from "./units.ts";

Deno.test("parseByteSize reads bytes with decimal and binary units", async (t) => {
  const table: [string, number | undefined][] = [
    ["512", 512],
    ["1KB", 1000],
    ["1KiB", 1024],
    ["64MiB", 64 * 2 ** 20],
    ["1.5GB", 1.5e9],
    ["10 gib", 10 * 2 ** 30],
    ["12X", undefined],
    ["-1MB", undefined],
    ["", undefined],
  ];
  for (const [text, bytes] of table) await t.step(text || "empty", () => equal(parseByteSize(text), bytes));
});

Deno.test("parseDuration reads milliseconds, seconds, minutes, hours and days", async (t) => {
  const table: [string, number | undefined][] = [
    ["500ms", 500],
    ["5s", 5000],
    ["1.5m", 90_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["5", undefined],
    ["5 sec", undefined],
  ];
  for (const [text, ms] of table) await t.step(text, () => equal(parseDuration(text), ms));
});

Deno.test("byteSize and duration schemas output numbers and reject the malformed", () => {
  equal(v.parse(byteSize(), "4MiB"), 4 * 2 ** 20);
  equal(v.parse(byteSize(), 100), 100);
  equal(v.safeParse(byteSize({ min: 1024 }), 100).success, false);
  equal(v.safeParse(byteSize(), "lots").success, false);
  equal(v.parse(duration(), "250ms"), 250);
  deepStrictEqual(
    v.safeParse(duration({ min: 100 }), "50ms").issues?.[0].message,
    "expected a duration such as 500ms, 5s or 1m (at least 100ms)",
  );
});
