/**
 * The functions of the expression language: their signatures (checked at load) and their kernels.
 *
 * @module
 */

import type { Node } from "./syntax.ts";
import {
  choose,
  compare,
  type DatePart,
  datePart,
  dateTrunc,
  decimalBounds,
  decimalDivide,
  INT64_BOUNDS,
  mapRows,
  pow10n,
  rescale,
  type TruncUnit,
  UNIT_MICROS,
} from "./kernels.ts";
import { type ExprType, isNumeric, typeName } from "./types.ts";
import {
  andValidity,
  bit,
  type BoolVec,
  type F64Vec,
  type I64Vec,
  kindOf,
  outLength,
  stringAt,
  type StrVec,
  unionErrors,
  type Vec,
} from "./vector.ts";
import {
  coerce,
  type Compiled,
  concatKernel,
  type Env,
  problem,
  requireBoolean,
  unify,
  withConditionErrors,
} from "./check.ts";

/** A call being checked. */
export interface CallSite {
  readonly args: Compiled[];
  readonly argNodes: readonly Node[];
  /** Where the function name starts. */
  readonly offset: number;
}

const STRING: ExprType = { type: "string" };
const BOOLEAN: ExprType = { type: "boolean" };
const INT64: ExprType = { type: "int64" };

/** The function names, for messages and docs. */
export const FUNCTION_NAMES = [
  "abs",
  "ceil",
  "coalesce",
  "concat",
  "contains",
  "date_diff",
  "date_trunc",
  "day",
  "day_of_week",
  "div",
  "ends_with",
  "floor",
  "hour",
  "if",
  "length",
  "lower",
  "ltrim",
  "minute",
  "month",
  "now",
  "nullif",
  "quarter",
  "regexp_match",
  "regexp_replace",
  "replace",
  "round",
  "rtrim",
  "second",
  "starts_with",
  "substr",
  "today",
  "trim",
  "upper",
  "year",
] as const;

/** Checks a call of `name` and compiles it. */
export function checkCall(name: string, site: CallSite): Compiled {
  const { args, offset } = site;
  const arity = (min: number, max = min) => {
    if (args.length < min || args.length > max) {
      const expected = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      throw problem(
        `${name}() takes ${expected} argument${expected === "1" ? "" : "s"}, got ${args.length}`,
        offset,
      );
    }
  };
  const want = (i: number, ok: (t: ExprType) => boolean, what: string) => {
    const t = args[i].type;
    if (t.type !== "null" && !ok(t)) {
      throw problem(`argument ${i + 1} of ${name}() must be ${what}, got ${typeName(t)}`, args[i].offset);
    }
  };
  const isString = (t: ExprType) => t.type === "string";
  const isInt = (t: ExprType) => t.type === "int64";
  const isTemporal = (t: ExprType) => t.type === "date" || t.type === "timestamp";
  const make = (type: ExprType, run: (env: Env) => Vec): Compiled => ({ type, offset, run });
  switch (name) {
    case "coalesce": {
      arity(1, Infinity);
      const t = unify(args, "coalesce() arguments");
      const parts = args.map((a) => coerce(a, t));
      return make(t, (env) => {
        const vecs = parts.map((p) => p.run(env));
        const pick = new Int32Array(env.n).fill(-1);
        for (let k = vecs.length - 1; k >= 0; k--) {
          const v = vecs[k];
          for (let i = 0; i < env.n; i++) if (bit(v.validity, v.length === 1 ? 0 : i)) pick[i] = k;
        }
        return choose(kindOf(t), vecs, { n: env.n, pick });
      });
    }
    case "if": {
      arity(3);
      const cond = requireBoolean(args[0], "if()");
      const t = unify(args.slice(1), "if() branches");
      const [yes, no] = args.slice(1).map((a) => coerce(a, t));
      return make(t, (env) => {
        const c = cond.run(env) as BoolVec;
        const pick = new Int32Array(env.n);
        const s = c.length === 1 ? 0 : 1;
        for (let i = 0; i < env.n; i++) pick[i] = c.values[i * s] === 1 && bit(c.validity, i * s) ? 0 : 1;
        return withConditionErrors(
          choose(kindOf(t), [yes.run(env), no.run(env)], { n: env.n, pick }),
          [c],
          env.n,
        );
      });
    }
    case "nullif": {
      arity(2);
      const t = unify(args, "nullif() arguments");
      const [a, b] = args.map((x) => coerce(x, t));
      return make(t, (env) => {
        const va = a.run(env);
        const eq = compare("=", [va, b.run(env)], env.n);
        const pick = new Int32Array(env.n);
        const s = eq.length === 1 ? 0 : 1;
        for (let i = 0; i < env.n; i++) pick[i] = eq.values[i * s] === 1 && bit(eq.validity, i * s) ? -1 : 0;
        return choose(kindOf(t), [va], { n: env.n, pick });
      });
    }
    case "lower":
    case "upper":
    case "trim":
    case "ltrim":
    case "rtrim": {
      arity(1);
      want(0, isString, "a string");
      const fn: (s: string) => string = {
        lower: (s: string) => s.toLowerCase(),
        upper: (s: string) => s.toUpperCase(),
        trim: (s: string) => s.trim(),
        ltrim: (s: string) => s.trimStart(),
        rtrim: (s: string) => s.trimEnd(),
      }[name];
      const [s] = args;
      const caseShift = name === "lower" ? [0x41, 0x5a] : name === "upper" ? [0x61, 0x7a] : undefined;
      return make(STRING, (env) => {
        const v = s.run(env) as StrVec;
        // ASCII-only text (the common case) changes case byte by byte, without decoding.
        if (caseShift && isAscii(v.data)) {
          return { ...v, data: shiftCase(v.data, caseShift[0], caseShift[1]) };
        }
        return mapRows(v, "str", (i) => fn(stringAt(v, i)));
      });
    }
    case "length": {
      arity(1);
      want(0, isString, "a string");
      const [s] = args;
      return make(INT64, (env) => {
        const v = s.run(env) as StrVec;
        const out = new BigInt64Array(v.length);
        const d = v.data;
        for (let i = 0; i < v.length; i++) {
          // Characters are the bytes that do not continue a UTF-8 sequence.
          let count = 0;
          for (let j = v.offsets[i]; j < v.offsets[i + 1]; j++) count += (d[j] & 0xc0) !== 0x80 ? 1 : 0;
          out[i] = BigInt(count);
        }
        return { kind: "i64", length: v.length, values: out, validity: v.validity, errors: v.errors };
      });
    }
    case "substr": {
      arity(2, 3);
      want(0, isString, "a string");
      want(1, isInt, "an int64");
      if (args[2]) want(2, isInt, "an int64");
      return make(STRING, (env) => {
        const vs = args.map((a) => a.run(env));
        const [s, start, count] = vs as [StrVec, I64Vec, I64Vec | undefined];
        return rowwise(vs, env.n, "str", (i) => {
          // 1-based like SQL; a start before 1 still counts toward the length, as in PostgreSQL.
          const chars = Array.from(stringAt(s, i));
          const from = Number(at64(start, i)) - 1;
          const n = count === undefined ? Infinity : Number(at64(count, i));
          if (n < 0) return undefined;
          return chars.slice(Math.max(0, from), Math.max(0, from + n)).join("");
        });
      });
    }
    case "concat": {
      arity(1, Infinity);
      for (const [i, a] of args.entries()) {
        if (a.type.type === "interval") throw problem("concat() cannot take an interval", args[i].offset);
      }
      const parts = args.map((a) => coerce(a, STRING));
      const empty: StrVec = { kind: "str", length: 1, offsets: Int32Array.of(0, 0), data: new Uint8Array(0) };
      return make(STRING, (env) => {
        // Nulls are skipped, as in PostgreSQL's concat(): replace each by the empty string.
        const vecs = parts.map((p) => {
          const v = p.run(env) as StrVec;
          if (v.validity === undefined) return v;
          const pick = new Int32Array(outLength(env.n, [v]));
          for (let i = 0; i < pick.length; i++) pick[i] = bit(v.validity, i) ? 0 : 1;
          return choose("str", [v, empty], { n: pick.length, pick }) as StrVec;
        });
        return concatKernel(vecs, env.n);
      });
    }
    case "starts_with":
    case "ends_with":
    case "contains": {
      arity(2);
      want(0, isString, "a string");
      want(1, isString, "a string");
      const test = name === "starts_with" ? startsWith : name === "ends_with" ? endsWith : includes;
      return make(BOOLEAN, (env) => {
        const [s, t] = args.map((a) => a.run(env)) as [StrVec, StrVec];
        const len = outLength(env.n, [s, t]);
        const out = new Uint8Array(len);
        const ss = s.length === 1 ? 0 : 1;
        const st = t.length === 1 ? 0 : 1;
        for (let i = 0; i < len; i++) out[i] = test(s, i * ss, t, i * st) ? 1 : 0;
        return {
          kind: "bool",
          length: len,
          values: out,
          validity: andValidity(len, [s, t]),
          errors: unionErrors(len, [s.errors, t.errors]),
        };
      });
    }
    case "replace": {
      arity(3);
      for (let i = 0; i < 3; i++) want(i, isString, "a string");
      return make(STRING, (env) => {
        const vs = args.map((a) => a.run(env)) as StrVec[];
        return rowwise(vs, env.n, "str", (i) => {
          const from = stringAt(vs[1], i);
          const s = stringAt(vs[0], i);
          return from === "" ? s : s.replaceAll(from, stringAt(vs[2], i));
        });
      });
    }
    case "regexp_match":
    case "regexp_replace": {
      arity(name === "regexp_match" ? 2 : 3);
      for (let i = 0; i < args.length; i++) want(i, isString, "a string");
      const pattern = site.argNodes[1];
      if (pattern.k !== "lit" || pattern.lit.type !== "string") {
        throw problem(`the pattern of ${name}() must be a string literal`, args[1].offset);
      }
      let re: RegExp;
      try {
        re = new RegExp(pattern.lit.value, name === "regexp_replace" ? "gu" : "u");
      } catch (error) {
        throw problem((error as Error).message, args[1].offset);
      }
      if (name === "regexp_match") {
        return make(BOOLEAN, (env) => {
          const s = args[0].run(env) as StrVec;
          return mapRows(s, "bool", (i) => (re.test(stringAt(s, i)) ? 1 : 0));
        });
      }
      return make(STRING, (env) => {
        const vs = [args[0].run(env), args[2].run(env)] as StrVec[];
        return rowwise(vs, env.n, "str", (i) => stringAt(vs[0], i).replace(re, stringAt(vs[1], i)));
      });
    }
    case "now":
      arity(0);
      return make(
        { type: "timestamp" },
        (env) => ({ kind: "i64", length: 1, values: BigInt64Array.of(env.now) }),
      );
    case "today":
      arity(0);
      return make({ type: "date" }, (env) => ({
        kind: "i32",
        length: 1,
        values: Int32Array.of(Math.floor(Number(env.now / 1000n) / 86_400_000)),
      }));
    case "year":
    case "quarter":
    case "month":
    case "day":
    case "day_of_week":
    case "hour":
    case "minute":
    case "second": {
      arity(1);
      const timeOfDay = name === "hour" || name === "minute" || name === "second";
      want(
        0,
        timeOfDay ? (t) => t.type === "timestamp" : isTemporal,
        timeOfDay ? "a timestamp" : "a date or timestamp",
      );
      const [x] = args;
      const isTimestamp = x.type.type === "timestamp";
      return make(INT64, (env) => datePart(x.run(env), { part: name as DatePart, isTimestamp }));
    }
    case "date_trunc": {
      arity(2);
      const unit = unitLiteral(site, 0, TRUNC_UNITS);
      want(1, isTemporal, "a date or timestamp");
      const x = args[1];
      const isTimestamp = x.type.type === "timestamp";
      if (!isTimestamp && ["second", "minute", "hour"].includes(unit)) {
        throw problem(`date_trunc('${unit}', …) needs a timestamp, got date`, site.argNodes[0].offset);
      }
      return make(
        x.type.type === "null" ? { type: "timestamp" } : x.type,
        (env) => dateTrunc(x.run(env), { unit: unit as TruncUnit, isTimestamp }),
      );
    }
    case "date_diff": {
      arity(3);
      const unit = unitLiteral(site, 0, ["second", "minute", "hour", "day", "week"]);
      want(1, isTemporal, "a date or timestamp");
      want(2, isTemporal, "a date or timestamp");
      const [a, b] = args.slice(1).map((x) => coerce(x, { type: "timestamp" }));
      const step = BigInt(UNIT_MICROS[unit as TruncUnit]!);
      return make(INT64, (env) => {
        const vs = [a.run(env), b.run(env)] as I64Vec[];
        // Whole units from a to b, truncated toward zero.
        return rowwise(vs, env.n, "i64", (i) => (at64(vs[1], i) - at64(vs[0], i)) / step);
      });
    }
    case "abs": {
      arity(1);
      want(0, isNumeric, "a number");
      const [x] = args;
      const t = x.type.type === "null" ? INT64 : x.type;
      if (t.type === "float64") {
        return make(t, (env) => {
          const v = x.run(env) as F64Vec;
          return mapRows(v, "f64", (i) => Math.abs(v.values[i]));
        });
      }
      const max = t.type === "decimal" ? decimalBounds(t.precision).max : INT64_BOUNDS.max;
      return make(t, (env) => {
        const v = x.run(env) as I64Vec;
        return mapRows(v, "i64", (i) => {
          const r = v.values[i] < 0n ? -v.values[i] : v.values[i];
          return r > max ? undefined : r;
        });
      });
    }
    case "round":
    case "floor":
    case "ceil": {
      arity(1, name === "round" ? 2 : 1);
      want(0, isNumeric, "a number");
      let digits = 0;
      if (args[1]) {
        const d = site.argNodes[1];
        if (d.k !== "lit" || d.lit.type !== "int64" || d.lit.value < 0n || d.lit.value > 18n) {
          throw problem("the digits of round() must be an integer literal from 0 to 18", args[1].offset);
        }
        digits = Number(d.lit.value);
      }
      const [x] = args;
      const t = x.type.type === "null" ? INT64 : x.type;
      if (t.type === "int64") return x;
      if (t.type === "float64") {
        const f = 10 ** digits;
        const fn = name === "round"
          ? (v: number) => (Math.sign(v) * Math.round(Math.abs(v) * f)) / f
          : name === "floor"
          ? Math.floor
          : Math.ceil;
        return make(t, (env) => {
          const v = x.run(env) as F64Vec;
          return mapRows(v, "f64", (i) => fn(v.values[i]));
        });
      }
      if (t.type !== "decimal" || digits >= t.scale) return x;
      const out: ExprType = { type: "decimal", precision: t.precision, scale: digits };
      const bounds = decimalBounds(t.precision);
      if (name === "round") {
        return make(
          out,
          (env) => rescale(x.run(env) as I64Vec, { from: t.scale, to: digits, bounds, n: env.n }),
        );
      }
      const divisor = pow10n(t.scale);
      return make(out, (env) => {
        const v = x.run(env) as I64Vec;
        return mapRows(v, "i64", (i) => {
          const q = v.values[i] / divisor;
          const r = v.values[i] % divisor;
          if (r === 0n) return q;
          return name === "floor" ? (r < 0n ? q - 1n : q) : (r > 0n ? q + 1n : q);
        });
      });
    }
    case "div": {
      arity(2);
      want(0, isInt, "an int64");
      want(1, isInt, "an int64");
      const [a, b] = args;
      return make(INT64, (env) =>
        decimalDivide([a.run(env) as I64Vec, b.run(env) as I64Vec], {
          n: env.n,
          shift: 0,
          bounds: INT64_BOUNDS,
          op: "div",
        }));
    }
    default: {
      const hint = FUNCTION_NAMES.find((f) => f.startsWith(name.slice(0, 3)));
      throw problem(`unknown function ${name}()${hint ? `: did you mean ${hint}()?` : ""}`, offset);
    }
  }
}

const TRUNC_UNITS = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"];

function unitLiteral(site: CallSite, index: number, units: readonly string[]): string {
  const node = site.argNodes[index];
  const unit = node?.k === "lit" && node.lit.type === "string" ? node.lit.value.toLowerCase() : undefined;
  if (unit === undefined || !units.includes(unit)) {
    throw problem(
      `the unit must be one of ${units.map((u) => `'${u}'`).join(", ")}`,
      node?.offset ?? site.offset,
    );
  }
  return unit;
}

function at64(vec: I64Vec, i: number): bigint {
  return vec.values[vec.length === 1 ? 0 : i];
}

/** A per-row function of several arguments; null if any argument is null, as SQL functions are. */
function rowwise<K extends Vec["kind"]>(
  args: readonly Vec[],
  n: number,
  kind: K,
  fn: Parameters<typeof mapRows<K>>[2],
): Vec {
  const len = outLength(n, args);
  const carrier: BoolVec = {
    kind: "bool",
    length: len,
    values: new Uint8Array(0),
    validity: andValidity(len, args),
    errors: unionErrors(len, args.map((a) => a.errors)),
  };
  return mapRows(carrier, kind, fn);
}

function startsWith(s: StrVec, i: number, t: StrVec, j: number): boolean {
  const a = s.offsets[i];
  const n = t.offsets[j + 1] - t.offsets[j];
  if (s.offsets[i + 1] - a < n) return false;
  for (let k = 0; k < n; k++) if (s.data[a + k] !== t.data[t.offsets[j] + k]) return false;
  return true;
}

function endsWith(s: StrVec, i: number, t: StrVec, j: number): boolean {
  const n = t.offsets[j + 1] - t.offsets[j];
  const a = s.offsets[i + 1] - n;
  if (a < s.offsets[i]) return false;
  for (let k = 0; k < n; k++) if (s.data[a + k] !== t.data[t.offsets[j] + k]) return false;
  return true;
}

function includes(s: StrVec, i: number, t: StrVec, j: number): boolean {
  const n = t.offsets[j + 1] - t.offsets[j];
  const from = s.offsets[i];
  const last = s.offsets[i + 1] - n;
  const first = t.data[t.offsets[j]];
  outer: for (let a = from; a <= last; a++) {
    if (n > 0 && s.data[a] !== first) continue;
    for (let k = 1; k < n; k++) if (s.data[a + k] !== t.data[t.offsets[j] + k]) continue outer;
    return true;
  }
  return false;
}

function isAscii(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] >= 0x80) return false;
  return true;
}

/** A copy of `data` with the ASCII letters in `from..to` switched to the other case. */
function shiftCase(data: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    out[i] = b >= from && b <= to ? b ^ 0x20 : b;
  }
  return out;
}
