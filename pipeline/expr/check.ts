/**
 * The type checker, which is also the compiler: each syntax node is checked against the input schema once
 * and turned into a closure over vectors. Nothing is checked per batch.
 *
 * @module
 */

import type { Batch, Schema } from "../batch.ts";
import type { BinaryOp, Literal, Node } from "./syntax.ts";
import { SyntaxProblem } from "./syntax.ts";
import {
  canCast,
  cast,
  choose,
  compare,
  type CompareOp,
  decimalBounds,
  decimalDivide,
  floatArith,
  INT64_BOUNDS,
  intArith,
  isNull,
  logic,
  negateInt,
  not,
  sameType,
} from "./kernels.ts";
import { asDecimal, commonType, type ExprType, isNumeric, MAX_PRECISION, typeName } from "./types.ts";
import {
  bit,
  type BoolVec,
  type F64Vec,
  type I32Vec,
  type I64Vec,
  kindOf,
  nullVec,
  outLength,
  type StrVec,
  type Vec,
} from "./vector.ts";
import { checkCall } from "./functions.ts";

/** What one evaluation sees. */
export interface Env {
  readonly batch: Batch;
  /** Rows in the batch. */
  readonly n: number;
  /** `now()`: one instant for the whole batch, µs since the epoch. */
  readonly now: bigint;
  /** Sub-results shared by several parents (the operand of BETWEEN, IN, simple CASE). */
  readonly memo: Map<Compiled, Vec>;
}

/** A checked, compiled sub-expression. */
export interface Compiled {
  readonly type: ExprType;
  /** Where it starts in the source, for messages about it. */
  readonly offset: number;
  /** Set for literals: their value is known at check time. */
  readonly literal?: Literal;
  run(env: Env): Vec;
}

/** Checks `node` against `schema` and compiles it; throws a {@linkcode SyntaxProblem} at the offending offset. */
export function check(node: Node, schema: Schema): Compiled {
  return new Checker(schema).node(node);
}

const encoder = new TextEncoder();

/** A constant vector for a literal. */
export function literalVec(lit: Literal): Vec {
  switch (lit.type) {
    case "null":
      return nullVec("i64", 1);
    case "int64":
    case "decimal":
    case "timestamp":
    case "interval":
      return { kind: "i64", length: 1, values: BigInt64Array.of(lit.value) };
    case "float64":
      return { kind: "f64", length: 1, values: Float64Array.of(lit.value) };
    case "date":
      return { kind: "i32", length: 1, values: Int32Array.of(lit.value) };
    case "boolean":
      return { kind: "bool", length: 1, values: Uint8Array.of(lit.value ? 1 : 0) };
    case "string": {
      const data = encoder.encode(lit.value);
      return { kind: "str", length: 1, offsets: Int32Array.of(0, data.length), data };
    }
  }
}

/** A compiled literal. */
export function literal(lit: Literal, offset: number): Compiled {
  const vec = literalVec(lit);
  const type: ExprType = lit.type === "decimal"
    ? { type: "decimal", precision: lit.precision, scale: lit.scale }
    : { type: lit.type };
  return { type, offset, literal: lit, run: () => vec };
}

/** Evaluates `c` once per environment, however many parents read it. */
export function memo(c: Compiled): Compiled {
  return {
    ...c,
    run(env) {
      let vec = env.memo.get(c);
      if (vec === undefined) {
        vec = c.run(env);
        env.memo.set(c, vec);
      }
      return vec;
    },
  };
}

/**
 * `c` converted to `to` (an implicit, widening conversion, or a string literal read as a date or timestamp).
 * The caller has checked that the conversion is allowed.
 */
export function coerce(c: Compiled, to: ExprType): Compiled {
  if (sameType(c.type, to) || to.type === "null") return c;
  const from = c.type;
  return {
    type: to,
    offset: c.offset,
    run(env) {
      const vec = c.run(env);
      return cast(vec, { from, to, n: env.n });
    },
  };
}

/** A `SyntaxProblem` about `c`. */
export function problem(message: string, offset: number): SyntaxProblem {
  return new SyntaxProblem(message, offset);
}

/** Requires `c` to be boolean (or the null literal). */
export function requireBoolean(c: Compiled, what: string): Compiled {
  if (c.type.type === "boolean") return c;
  if (c.type.type === "null") return { ...coerce(c, { type: "boolean" }), type: { type: "boolean" } };
  throw problem(`${what} needs a boolean, got ${typeName(c.type)}`, c.offset);
}

/** Converts a string literal compared with a date or timestamp to that type at check time. */
function literalFor(c: Compiled, other: ExprType): Compiled {
  if (c.literal?.type !== "string" || (other.type !== "date" && other.type !== "timestamp")) return c;
  const vec = cast(literalVec(c.literal), { from: { type: "string" }, to: other, n: 1 });
  if (!bit(vec.validity, 0)) throw problem(`'${c.literal.value}' is not a valid ${other.type}`, c.offset);
  return { type: other, offset: c.offset, run: () => vec };
}

/** `a op b` for a comparison operator, with numeric widening and string literals read as dates. */
export function comparison(op: CompareOp, operands: [Compiled, Compiled], opOffset: number): Compiled {
  const a = literalFor(operands[0], operands[1].type);
  const b = literalFor(operands[1], a.type);
  const t = commonType(a.type, b.type);
  if (t === undefined || t.type === "interval" && a.type.type !== b.type.type) {
    throw problem(`cannot compare ${typeName(a.type)} with ${typeName(b.type)}`, opOffset);
  }
  if (t.type === "null") return literal({ type: "null" }, a.offset);
  const x = coerce(a, t);
  const y = coerce(b, t);
  return {
    type: { type: "boolean" },
    offset: a.offset,
    run: (env) => compare(op, [x.run(env), y.run(env)], env.n),
  };
}

/** `a and b` / `a or b`. */
export function logical(op: "and" | "or", operands: [Compiled, Compiled]): Compiled {
  const [a, b] = operands.map((c) => requireBoolean(c, op.toUpperCase()));
  return {
    type: { type: "boolean" },
    offset: a.offset,
    run: (env) => logic(op, [a.run(env) as BoolVec, b.run(env) as BoolVec], env.n),
  };
}

/** NOT `c`. */
export function negation(c: Compiled): Compiled {
  const arg = requireBoolean(c, "NOT");
  return { type: { type: "boolean" }, offset: c.offset, run: (env) => not(arg.run(env) as BoolVec) };
}

class Checker {
  #schema: Schema;
  #names: Map<string, ExprType>;

  constructor(schema: Schema) {
    this.#schema = schema;
    this.#names = new Map(schema.fields.map((f) => [f.name, f]));
  }

  node(node: Node): Compiled {
    switch (node.k) {
      case "lit":
        if (node.lit.type === "int64" && node.lit.value > 2n ** 63n - 1n) {
          throw problem("integer is out of range", node.offset);
        }
        return literal(node.lit, node.offset);
      case "col":
        return this.#column(node.name, node.offset);
      case "neg":
        return this.#negate(this.node(node.arg), node.offset);
      case "not":
        return negation(this.node(node.arg));
      case "bin":
        return this.#binary(node.op, [this.node(node.left), this.node(node.right)], node.opOffset);
      case "isnull": {
        const arg = this.node(node.arg);
        return {
          type: { type: "boolean" },
          offset: node.offset,
          run: (env) => isNull(arg.run(env), { n: env.n, negated: node.negated }),
        };
      }
      case "between": {
        const arg = memo(this.node(node.arg));
        const inside = logical("and", [
          comparison(">=", [arg, this.node(node.low)], node.low.offset),
          comparison("<=", [arg, this.node(node.high)], node.high.offset),
        ]);
        return node.negated ? negation(inside) : inside;
      }
      case "in": {
        const arg = memo(this.node(node.arg));
        let any = comparison("=", [arg, this.node(node.items[0])], node.items[0].offset);
        for (const item of node.items.slice(1)) {
          any = logical("or", [any, comparison("=", [arg, this.node(item)], item.offset)]);
        }
        return node.negated ? negation(any) : any;
      }
      case "case":
        return this.#case(node);
      case "cast": {
        const arg = this.node(node.arg);
        if (!canCast(arg.type, node.to)) {
          throw problem(`cannot cast ${typeName(arg.type)} to ${typeName(node.to)}`, node.offset);
        }
        const from = arg.type;
        return {
          type: node.to,
          offset: node.offset,
          run: (env) => cast(arg.run(env), { from, to: node.to, n: env.n }),
        };
      }
      case "call":
        return checkCall(node.name, {
          args: node.args.map((a) => this.node(a)),
          argNodes: node.args,
          offset: node.offset,
        });
    }
  }

  #column(name: string, offset: number): Compiled {
    const type = this.#names.get(name);
    if (type === undefined) {
      const hint = suggest(name, this.#schema.fields.map((f) => f.name));
      throw problem(`unknown column "${name}"${hint ? `: did you mean "${hint}"?` : ""}`, offset);
    }
    const columnType: ExprType = type.type === "decimal"
      ? { type: "decimal", precision: type.precision, scale: type.scale }
      : { type: type.type };
    return { type: columnType, offset, run: (env) => columnVec(env, name) };
  }

  #negate(arg: Compiled, offset: number): Compiled {
    const t = arg.type;
    if (!isNumeric(t) && t.type !== "interval") {
      throw problem(`unary - needs a number, got ${typeName(t)}`, offset);
    }
    if (t.type === "float64") {
      return {
        type: t,
        offset,
        run: (env) =>
          floatArith(
            "-",
            [{ kind: "f64", length: 1, values: Float64Array.of(0) }, arg.run(env) as F64Vec],
            env.n,
          ),
      };
    }
    const bounds = t.type === "decimal" ? decimalBounds(t.precision) : INT64_BOUNDS;
    const type: ExprType = t.type === "null" ? { type: "int64" } : t;
    return {
      type,
      offset,
      run: (env) =>
        t.type === "decimal"
          ? intArith(
            "-",
            [{ kind: "i64", length: 1, values: new BigInt64Array(1) }, arg.run(env) as I64Vec],
            { n: env.n, bounds },
          )
          : negateInt(arg.run(env) as I64Vec, env.n),
    };
  }

  #binary(op: BinaryOp, operands: [Compiled, Compiled], opOffset: number): Compiled {
    switch (op) {
      case "and":
      case "or":
        return logical(op, operands);
      case "=":
      case "!=":
      case "<":
      case "<=":
      case ">":
      case ">=":
        return comparison(op, operands, opOffset);
      case "||":
        return concatenation(operands, opOffset);
      default:
        return arithmetic(op, operands, opOffset);
    }
  }

  #case(node: Extract<Node, { k: "case" }>): Compiled {
    const subject = node.subject ? memo(this.node(node.subject)) : undefined;
    const conditions = node.whens.map(({ when }) => {
      const c = this.node(when);
      return subject ? comparison("=", [subject, c], c.offset) : requireBoolean(c, "WHEN");
    });
    const values = node.whens.map(({ then }) => this.node(then));
    if (node.otherwise) values.push(this.node(node.otherwise));
    const t = unify(values, "CASE branches");
    const branches = values.map((v) => coerce(v, t));
    const hasElse = node.otherwise !== undefined;
    return {
      type: t,
      offset: node.offset,
      run(env) {
        const conds = conditions.map((c) => c.run(env) as BoolVec);
        const pick = new Int32Array(env.n).fill(hasElse ? conditions.length : -1);
        // Later WHENs first, so the first true one wins.
        for (let w = conds.length - 1; w >= 0; w--) {
          const c = conds[w];
          const s = c.length === 1 ? 0 : 1;
          for (let i = 0; i < env.n; i++) if (c.values[i * s] === 1 && bit(c.validity, i * s)) pick[i] = w;
        }
        const out = choose(kindOf(t), branches.map((b) => b.run(env)), { n: env.n, pick });
        return withConditionErrors(out, conds, env.n);
      },
    };
  }
}

/** The errors of conditions always count: they were evaluated for every row. */
export function withConditionErrors(out: Vec, conds: readonly Vec[], n: number): Vec {
  if (conds.every((c) => c.errors === undefined)) return out;
  const errors = out.errors?.slice() ?? new Uint8Array(n);
  for (const c of conds) {
    if (c.errors === undefined) continue;
    for (let i = 0; i < n; i++) errors[i] |= c.errors[c.length === 1 ? 0 : i];
  }
  return { ...out, errors };
}

/** The common type of `values`, or a problem naming the first that does not fit. */
export function unify(values: readonly Compiled[], what: string): ExprType {
  let t: ExprType = values[0].type;
  for (const v of values.slice(1)) {
    const next = commonType(t, v.type);
    if (next === undefined) throw problem(`${what} mix ${typeName(t)} and ${typeName(v.type)}`, v.offset);
    t = next;
  }
  return t;
}

function columnVec(env: Env, name: string): Vec {
  const column = env.batch.columns[name];
  switch (column.type) {
    case "int64":
    case "decimal":
    case "timestamp":
      return { kind: "i64", length: column.length, validity: column.validity, values: column.values };
    case "float64":
      return { kind: "f64", length: column.length, validity: column.validity, values: column.values };
    case "date":
      return { kind: "i32", length: column.length, validity: column.validity, values: column.values };
    case "string":
      return {
        kind: "str",
        length: column.length,
        validity: column.validity,
        offsets: column.offsets,
        data: column.data,
      };
    case "boolean": {
      const values = new Uint8Array(column.length);
      for (let i = 0; i < column.length; i++) values[i] = (column.values[i >> 3] >> (i & 7)) & 1;
      return { kind: "bool", length: column.length, validity: column.validity, values };
    }
  }
}

/** `a || b`: both sides as text; null if either is null. */
function concatenation(operands: [Compiled, Compiled], opOffset: number): Compiled {
  for (const c of operands) {
    if (c.type.type === "interval") throw problem("operator || cannot take an interval", opOffset);
  }
  const [a, b] = operands.map((c) => coerce(c, { type: "string" }));
  return {
    type: { type: "string" },
    offset: a.offset,
    run(env) {
      const x = a.run(env) as StrVec;
      const y = b.run(env) as StrVec;
      return concatKernel([x, y], env.n);
    },
  };
}

/** Concatenates string vectors row by row; a null anywhere gives null. */
export function concatKernel(parts: readonly StrVec[], n: number): StrVec {
  const len = outLength(n, parts);
  const out = new StrBuilderRows(len);
  for (let i = 0; i < len; i++) {
    if (parts.some((p) => !bit(p.validity, p.length === 1 ? 0 : i))) {
      out.nullRow();
      continue;
    }
    for (const p of parts) {
      const r = p.length === 1 ? 0 : i;
      out.append(p.data, p.offsets[r], p.offsets[r + 1]);
    }
    out.end();
  }
  return out.finish(parts);
}

/** Rows assembled from several byte ranges each. */
class StrBuilderRows {
  #data: Uint8Array;
  #length = 0;
  #row = 0;
  #validity: Uint8Array | undefined;
  readonly #n: number;
  readonly offsets: Int32Array;

  constructor(n: number) {
    this.#n = n;
    this.offsets = new Int32Array(n + 1);
    this.#data = new Uint8Array(Math.max(16, n * 8));
  }

  append(data: Uint8Array, from: number, to: number): void {
    const need = this.#length + to - from;
    if (need > this.#data.length) {
      const next = new Uint8Array(Math.max(need, this.#data.length * 2));
      next.set(this.#data.subarray(0, this.#length));
      this.#data = next;
    }
    this.#data.set(data.subarray(from, to), this.#length);
    this.#length = need;
  }

  end(): void {
    this.offsets[++this.#row] = this.#length;
  }

  nullRow(): void {
    if (this.#validity === undefined) {
      this.#validity = new Uint8Array((this.#n + 7) >> 3).fill(0xff);
    }
    this.#validity[this.#row >> 3] &= ~(1 << (this.#row & 7));
    this.end();
  }

  finish(inputs: readonly Vec[]): StrVec {
    const errors = inputs.some((v) => v.errors) ? mergeErrors(this.#n, inputs) : undefined;
    return {
      kind: "str",
      length: this.#n,
      offsets: this.offsets,
      data: this.#data.slice(0, this.#length),
      validity: this.#validity,
      errors,
    };
  }
}

function mergeErrors(n: number, inputs: readonly Vec[]): Uint8Array {
  const out = new Uint8Array(n);
  for (const v of inputs) {
    if (v.errors === undefined) continue;
    for (let i = 0; i < n; i++) out[i] |= v.errors[v.length === 1 ? 0 : i];
  }
  return out;
}

/** Arithmetic: number ⊕ number, and date/time ± interval or days. */
export function arithmetic(
  op: "+" | "-" | "*" | "/" | "%",
  operands: [Compiled, Compiled],
  opOffset: number,
): Compiled {
  const [a, b] = operands;
  const temporal = temporalArithmetic(op, operands, opOffset);
  if (temporal) return temporal;
  if (!isNumeric(a.type) || !isNumeric(b.type)) {
    throw problem(`operator ${op} needs numbers, got ${typeName(a.type)} and ${typeName(b.type)}`, opOffset);
  }
  const ta = a.type.type === "null" ? b.type : a.type;
  const tb = b.type.type === "null" ? a.type : b.type;
  if (ta.type === "null") return literal({ type: "null" }, a.offset);
  const float = ta.type === "float64" || tb.type === "float64" ||
    (op === "/" && ta.type === "int64" && tb.type === "int64");
  if (float) {
    const x = coerce(a, { type: "float64" });
    const y = coerce(b, { type: "float64" });
    return {
      type: { type: "float64" },
      offset: a.offset,
      run: (env) => floatArith(op, [x.run(env) as F64Vec, y.run(env) as F64Vec], env.n),
    };
  }
  const x = asDecimal(ta);
  const y = asDecimal(tb);
  const run2 = (fn: (va: I64Vec, vb: I64Vec, n: number) => Vec) => (env: Env) =>
    fn(a.run(env) as I64Vec, b.run(env) as I64Vec, env.n);
  if (op === "/") {
    // Exact division with at least 6 fractional digits (more if the dividend has more).
    const scale = Math.max(6, x.scale);
    const type: ExprType = { type: "decimal", precision: MAX_PRECISION, scale };
    const shift = scale - x.scale + y.scale;
    return {
      type,
      offset: a.offset,
      run: run2((va, vb, n) =>
        decimalDivide([va, vb], { n, shift, bounds: decimalBounds(MAX_PRECISION), op: "/" })
      ),
    };
  }
  if (ta.type === "int64" && tb.type === "int64") {
    return {
      type: { type: "int64" },
      offset: a.offset,
      run: run2((va, vb, n) => intArith(op, [va, vb], { n, bounds: INT64_BOUNDS })),
    };
  }
  if (op === "*") {
    const scale = x.scale + y.scale;
    if (scale > MAX_PRECISION) {
      throw problem(
        `the product of ${typeName(ta)} and ${
          typeName(tb)
        } needs scale ${scale}: cast an operand to a smaller scale`,
        opOffset,
      );
    }
    const precision = Math.min(MAX_PRECISION, Math.max(x.precision + y.precision, scale));
    return {
      type: { type: "decimal", precision, scale },
      offset: a.offset,
      run: run2((va, vb, n) => intArith("*", [va, vb], { n, bounds: decimalBounds(precision) })),
    };
  }
  const scale = Math.max(x.scale, y.scale);
  const whole = Math.max(x.precision - x.scale, y.precision - y.scale);
  const precision = Math.min(MAX_PRECISION, whole + scale + (op === "%" ? 0 : 1));
  return {
    type: { type: "decimal", precision, scale },
    offset: a.offset,
    run: run2((va, vb, n) =>
      intArith(op, [va, vb], {
        n,
        scaleA: scale - x.scale,
        scaleB: scale - y.scale,
        bounds: decimalBounds(precision),
      })
    ),
  };
}

/** date/timestamp ± interval, date ± int64 days, date − date (days); undefined when not temporal. */
function temporalArithmetic(
  op: string,
  operands: [Compiled, Compiled],
  opOffset: number,
): Compiled | undefined {
  const [a, b] = operands;
  const [ta, tb] = [a.type.type, b.type.type];
  const temporal = (t: string) => t === "date" || t === "timestamp" || t === "interval";
  if (!temporal(ta) && !temporal(tb)) return undefined;
  const days: ExprType = { type: "int64" };
  const fail = () => {
    throw problem(`operator ${op} cannot take ${typeName(a.type)} and ${typeName(b.type)}`, opOffset);
  };
  const i64 = (c: Compiled, env: Env) => c.run(env) as I64Vec;
  if (op !== "+" && op !== "-") return fail();
  // timestamp ± interval, interval + timestamp, date ± interval (as a timestamp), interval ± interval.
  if (
    (ta === "timestamp" || ta === "date") && tb === "interval" ||
    (ta === "interval" && (tb === "timestamp" || tb === "date") && op === "+")
  ) {
    const x = coerce(a, ta === "interval" ? a.type : { type: "timestamp" });
    const y = coerce(b, tb === "interval" ? b.type : { type: "timestamp" });
    return {
      type: { type: "timestamp" },
      offset: a.offset,
      run: (env) => intArith(op, [i64(x, env), i64(y, env)], { n: env.n, bounds: INT64_BOUNDS }),
    };
  }
  if (ta === "interval" && tb === "interval") {
    return {
      type: { type: "interval" },
      offset: a.offset,
      run: (env) => intArith(op, [i64(a, env), i64(b, env)], { n: env.n, bounds: INT64_BOUNDS }),
    };
  }
  // date ± days and days + date: day arithmetic in int32, with the int64 operand range-checked.
  const dateDays = (ta === "date" && (tb === "int64" || tb === "null")) ||
    (op === "+" && tb === "date" && ta === "int64");
  if (dateDays) {
    const [d, k] = ta === "date" ? [a, b] : [b, a];
    return {
      type: { type: "date" },
      offset: a.offset,
      run(env) {
        const dv = d.run(env) as I32Vec;
        const kv = k.run(env);
        const wide = intArith(op, [widenDate(dv), kv as I64Vec], { n: env.n, bounds: DATE_BOUNDS });
        return narrowDate(wide);
      },
    };
  }
  if (ta === "date" && tb === "date" && op === "-") {
    return {
      type: days,
      offset: a.offset,
      run: (env) =>
        intArith("-", [widenDate(a.run(env) as I32Vec), widenDate(b.run(env) as I32Vec)], {
          n: env.n,
          bounds: INT64_BOUNDS,
        }),
    };
  }
  if (ta === "timestamp" && tb === "timestamp" && op === "-") {
    throw problem("subtracting timestamps is not supported: use date_diff('unit', a, b)", opOffset);
  }
  return fail();
}

const DATE_BOUNDS = { min: -(2n ** 31n), max: 2n ** 31n - 1n };

function widenDate(vec: I32Vec): I64Vec {
  const values = new BigInt64Array(vec.length);
  for (let i = 0; i < vec.length; i++) values[i] = BigInt(vec.values[i]);
  return { kind: "i64", length: vec.length, values, validity: vec.validity, errors: vec.errors };
}

function narrowDate(vec: I64Vec): I32Vec {
  const values = new Int32Array(vec.length);
  for (let i = 0; i < vec.length; i++) values[i] = Number(vec.values[i]);
  return { kind: "i32", length: vec.length, values, validity: vec.validity, errors: vec.errors };
}

/** The closest of `names` to `name` (case-insensitive, edit distance ≤ 2), for "did you mean". */
function suggest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of names) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : distance(candidate, name);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
