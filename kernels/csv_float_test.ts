import assert from "node:assert/strict";
import { createCsvParser } from "./csv.ts";
import { kernelTestCore, seededRandom } from "./testing.ts";
import { pow5Source, powerOfFive } from "./pow5_table.ts";

const core = await kernelTestCore();
const encoder = new TextEncoder();
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The exact decimal expansion of mantissa × 2^exp (no rounding), e.g. for halfway points. */
function exactDecimal(mantissa: bigint, exp: number): string {
  if (exp >= 0) return (mantissa << BigInt(exp)).toString();
  const digits = (mantissa * 5n ** BigInt(-exp)).toString().padStart(-exp + 1, "0");
  return `${digits.slice(0, exp)}.${digits.slice(exp)}`;
}

/** A random finite double, all bit patterns equally likely (so every exponent, subnormals included). */
function randomDouble(random: () => number): number {
  const hi = BigInt(Math.floor(random() * 0x7fe00000));
  const lo = BigInt(Math.floor(random() * 0x100000000));
  u64[0] = (hi << 32n) | lo;
  return f64[0];
}

/** Mantissa and binary exponent of a positive finite double: value = m × 2^e exactly. */
function decompose(x: number): [bigint, number] {
  f64[0] = x;
  const bits = u64[0];
  const biased = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  return biased === 0 ? [frac, -1074] : [frac | (1n << 52n), biased - 1075];
}

function randomDigits(random: () => number, n: number): string {
  let s = String(1 + Math.floor(random() * 9));
  while (s.length < n) s += String(Math.floor(random() * 1e9)).padStart(9, "0");
  return s.slice(0, n);
}

/** A random double: mostly of everyday magnitude, sometimes any bit pattern (subnormals included). */
function someDouble(random: () => number): number {
  if (random() < 0.25) return randomDouble(random);
  return (random() + 0.5) * 2 ** (Math.floor(random() * 140) - 70);
}

/** Seeded strings that stress every path of a decimal-to-double converter. */
function trickyFloats(seed: number, count: number): string[] {
  const random = seededRandom(seed);
  const out: string[] = [
    "0",
    "-0",
    "0.0",
    "00000.00000e-5",
    "1",
    "-1",
    "0.1",
    "0.2",
    "0.3",
    "1e23",
    "8.98846567431158e307",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "1e309",
    "2e-323",
    "4.9406564584124654e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "2.2250738585072011e-308",
    "2.2250738585072012e-308",
    "2.2250738585072014e-308",
    "9007199254740993",
    "9007199254740992.5",
    "9007199254740993.0000000000000000000001",
    "18014398509481985",
    "123456789012345678901234567890",
    "0.000000000000000000000000000000000000000000001",
    "7.038531e-26",
    "1448997445238699",
    "3.4028235677973366e38",
    "2.5e-324",
    "5e-324",
    "1e-400",
    "1e+400",
    ".5e1",
    "5.e-1",
    "+.1",
  ];
  const push = (s: string) => out.push(random() < 0.5 ? s : `-${s}`);
  while (out.length < count) {
    const kind = Math.floor(random() * 9);
    const ax = Math.abs(someDouble(random));
    switch (kind) {
      case 0: // shortest round trip
        push(String(ax));
        break;
      case 1: // 17 to 25 significant digits
        push(ax.toPrecision(17 + Math.floor(random() * 9)));
        break;
      case 2: { // exactly halfway between two doubles: ties to even
        const [m, e] = decompose(ax);
        push(exactDecimal(2n * m + 1n, e - 1));
        break;
      }
      case 3: { // a hair above or below halfway, after many digits
        const [m, e] = decompose(ax);
        const half = exactDecimal(2n * m + 1n, e - 1);
        push(random() < 0.5 ? `${half.includes(".") ? half : `${half}.`}0000000000001` : half.slice(0, -1));
        break;
      }
      case 4: // subnormals and the normal boundary
        push(`${randomDigits(random, 1 + Math.floor(random() * 20))}e-${300 + Math.floor(random() * 45)}`);
        break;
      case 5: // long mantissas, up to 800 digits
        push(
          `${randomDigits(random, 20 + Math.floor(random() * (random() < 0.9 ? 40 : 780)))}e${
            Math.floor(random() * 700) - 400
          }`,
        );
        break;
      case 6: // Clinger's range and just outside it
        push(`${randomDigits(random, 1 + Math.floor(random() * 17))}e${Math.floor(random() * 60) - 30}`);
        break;
      case 7: { // decimal point anywhere, leading and trailing zeros
        const d = randomDigits(random, 1 + Math.floor(random() * 25));
        const at = Math.floor(random() * (d.length + 1));
        push(
          `000${d.slice(0, at)}.${d.slice(at)}000E${random() < 0.5 ? "+" : "-"}${Math.floor(random() * 30)}`,
        );
        break;
      }
      default: // integers around 2^53 and 2^64
        push((BigInt(Math.floor(random() * 2 ** 53)) * BigInt(1 + Math.floor(random() * 4096))).toString());
    }
  }
  return out;
}

Deno.test("float64 columns parse exactly like Number() on 200k tricky strings", () => {
  const texts = trickyFloats(20261128, 200_000);
  const parser = createCsvParser(core, { header: false, columns: [{ name: "x", type: "float64" }] });
  const { batch, rejects } = parser.push(encoder.encode(texts.join("\n") + "\n"));
  parser.finish();
  assert.deepStrictEqual(rejects, []);
  assert.equal(batch.length, texts.length);
  const col = batch.columns.x;
  assert.ok(col.type === "float64");
  const wrong: string[] = [];
  texts.forEach((t, i) => {
    if (!Object.is(col.values[i], Number(t)) && wrong.length < 5) {
      wrong.push(`${t} -> ${col.values[i]}, not ${Number(t)}`);
    }
  });
  assert.deepStrictEqual(wrong, []);
});

Deno.test("the committed powers-of-five table is what the generator makes", async () => {
  const committed = await Deno.readTextFile(new URL("./assembly/pow5.ts", import.meta.url));
  assert.equal(committed, pow5Source());
  // Spot check against the definition: 5^10 fills the top bits exactly.
  assert.deepStrictEqual(powerOfFive(10), [(5n ** 10n) << 40n, 0n]);
});
