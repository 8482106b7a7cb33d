/**
 * Lexer and parser of weir's expression language: a recursive-descent parser with precedence climbing,
 * producing an untyped syntax tree whose nodes keep their offset in the source for error messages.
 *
 * Precedence, lowest first: `or`; `and`; `not`; comparisons (`= == != <> < <= > >=`, `is [not] null`,
 * `[not] in (…)`, `[not] between … and …`, non-associative); `||`; `+ -`; `* / %`; unary `- +`; primaries.
 *
 * @module
 */

import type { ColumnType } from "../batch.ts";

/** A problem in the source text, at a 0-based `offset`. */
export class SyntaxProblem extends Error {
  override name = "SyntaxProblem";
  /** 0-based offset into the expression. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

// --------------------------------------------------------------------------------------------- lexer

type TokenKind = "int" | "num" | "float" | "str" | "ident" | "qident" | "op" | "eof";

interface Token {
  kind: TokenKind;
  /** The raw text for numbers and operators; the unescaped value for strings and identifiers. */
  text: string;
  offset: number;
}

const OPERATORS = ["<=", ">=", "<>", "!=", "==", "||", "+", "-", "*", "/", "%", "=", "<", ">", "(", ")", ","];

function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(source[i + 1] ?? ""))) {
      const m = /^(\d*)(\.\d*)?([eE][+-]?\d+)?/.exec(source.slice(i))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(source[i] ?? "")) {
        throw new SyntaxProblem(`unexpected "${source[i]}" after a number`, i);
      }
      tokens.push({ kind: m[3] ? "float" : m[2] ? "num" : "int", text: m[0], offset: start });
      continue;
    }
    if (c === "'" || c === '"') {
      let value = "";
      i++;
      for (;;) {
        if (i >= source.length) {
          throw new SyntaxProblem(c === "'" ? "unterminated string" : "unterminated quoted name", start);
        }
        if (source[i] === c) {
          if (source[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += source[i++];
      }
      if (c === '"' && value === "") throw new SyntaxProblem("empty quoted name", start);
      tokens.push({ kind: c === "'" ? "str" : "qident", text: value, offset: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      i += m[0].length;
      tokens.push({ kind: "ident", text: m[0], offset: start });
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (op === undefined) throw new SyntaxProblem(`unexpected character "${c}"`, i);
    i += op.length;
    tokens.push({ kind: "op", text: op, offset: start });
  }
  tokens.push({ kind: "eof", text: "", offset: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------- tree

/** A literal value. */
export type Literal =
  | { readonly type: "int64"; readonly value: bigint }
  | { readonly type: "decimal"; readonly value: bigint; readonly precision: number; readonly scale: number }
  | { readonly type: "float64"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "boolean"; readonly value: boolean }
  | { readonly type: "date"; readonly value: number }
  | { readonly type: "timestamp"; readonly value: bigint }
  | { readonly type: "interval"; readonly value: bigint }
  | { readonly type: "null" };

/** A binary operator, after normalization (`==` is `=`, `<>` is `!=`). */
export type BinaryOp =
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "||"
  | "="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "and"
  | "or";

/** A node of the syntax tree; `offset` is where it starts in the source. */
export type Node =
  | { readonly k: "lit"; readonly offset: number; readonly lit: Literal }
  | { readonly k: "col"; readonly offset: number; readonly name: string }
  | { readonly k: "neg" | "not"; readonly offset: number; readonly arg: Node }
  | {
    readonly k: "bin";
    readonly offset: number;
    readonly op: BinaryOp;
    /** Where the operator itself is, for type errors. */
    readonly opOffset: number;
    readonly left: Node;
    readonly right: Node;
  }
  | { readonly k: "isnull"; readonly offset: number; readonly arg: Node; readonly negated: boolean }
  | {
    readonly k: "in";
    readonly offset: number;
    readonly arg: Node;
    readonly items: Node[];
    readonly negated: boolean;
  }
  | {
    readonly k: "between";
    readonly offset: number;
    readonly arg: Node;
    readonly low: Node;
    readonly high: Node;
    readonly negated: boolean;
  }
  | { readonly k: "call"; readonly offset: number; readonly name: string; readonly args: Node[] }
  | {
    readonly k: "case";
    readonly offset: number;
    readonly subject?: Node;
    readonly whens: { when: Node; then: Node }[];
    readonly otherwise?: Node;
  }
  | { readonly k: "cast"; readonly offset: number; readonly arg: Node; readonly to: ColumnType };

/** Words that cannot name a column unless quoted. */
const RESERVED = new Set([
  "and",
  "or",
  "not",
  "is",
  "null",
  "in",
  "between",
  "case",
  "when",
  "then",
  "else",
  "end",
  "cast",
  "as",
  "true",
  "false",
  "interval",
]);

const INTERVAL_UNITS: Record<string, bigint> = {
  microsecond: 1n,
  millisecond: 1_000n,
  second: 1_000_000n,
  minute: 60_000_000n,
  hour: 3_600_000_000n,
  day: 86_400_000_000n,
  week: 604_800_000_000n,
};

/**
 * Parses a type name as written in `cast(x as …)`: `int64`, `decimal(10,2)`, `string`, … (aliases included);
 * throws a {@linkcode SyntaxProblem}.
 */
export function parseTypeName(source: string): ColumnType {
  const parser = new Parser(lex(source));
  const type = parser.typeName();
  parser.expectEnd();
  return type;
}

/** Parses `source` into a syntax tree; throws a {@linkcode SyntaxProblem} with the offending offset. */
export function parse(source: string): Node {
  const parser = new Parser(lex(source));
  const node = parser.expression();
  parser.expectEnd();
  return node;
}

class Parser {
  #tokens: Token[];
  #at = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  expectEnd(): void {
    const t = this.#peek();
    if (t.kind !== "eof") throw new SyntaxProblem(`unexpected ${describe(t)}`, t.offset);
  }

  expression(): Node {
    return this.#or();
  }

  #peek(ahead = 0): Token {
    return this.#tokens[Math.min(this.#at + ahead, this.#tokens.length - 1)];
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== "eof") this.#at++;
    return t;
  }

  #isWord(word: string, ahead = 0): boolean {
    const t = this.#peek(ahead);
    return t.kind === "ident" && t.text.toLowerCase() === word;
  }

  #acceptWord(word: string): Token | undefined {
    return this.#isWord(word) ? this.#next() : undefined;
  }

  #expectWord(word: string): Token {
    const t = this.#peek();
    if (!this.#isWord(word)) {
      throw new SyntaxProblem(`expected ${word.toUpperCase()}, got ${describe(t)}`, t.offset);
    }
    return this.#next();
  }

  #isOp(op: string): boolean {
    const t = this.#peek();
    return t.kind === "op" && t.text === op;
  }

  #expectOp(op: string): Token {
    const t = this.#peek();
    if (!this.#isOp(op)) throw new SyntaxProblem(`expected "${op}", got ${describe(t)}`, t.offset);
    return this.#next();
  }

  #or(): Node {
    let left = this.#and();
    while (this.#isWord("or")) {
      const op = this.#next();
      left = { k: "bin", op: "or", offset: left.offset, opOffset: op.offset, left, right: this.#and() };
    }
    return left;
  }

  #and(): Node {
    let left = this.#not();
    while (this.#isWord("and")) {
      const op = this.#next();
      left = { k: "bin", op: "and", offset: left.offset, opOffset: op.offset, left, right: this.#not() };
    }
    return left;
  }

  #not(): Node {
    const t = this.#acceptWord("not");
    if (t) return { k: "not", offset: t.offset, arg: this.#not() };
    return this.#comparison();
  }

  #comparison(): Node {
    const left = this.#concat();
    const t = this.#peek();
    if (t.kind === "op" && ["=", "==", "!=", "<>", "<", "<=", ">", ">="].includes(t.text)) {
      this.#next();
      const op = (t.text === "==" ? "=" : t.text === "<>" ? "!=" : t.text) as BinaryOp;
      const node: Node = {
        k: "bin",
        op,
        offset: left.offset,
        opOffset: t.offset,
        left,
        right: this.#concat(),
      };
      this.#noChain();
      return node;
    }
    if (this.#acceptWord("is")) {
      const negated = this.#acceptWord("not") !== undefined;
      this.#expectWord("null");
      const node: Node = { k: "isnull", offset: left.offset, arg: left, negated };
      this.#noChain();
      return node;
    }
    const negated = this.#isWord("not") && (this.#isWord("in", 1) || this.#isWord("between", 1));
    if (negated) this.#next();
    if (this.#acceptWord("in")) {
      this.#expectOp("(");
      const items = [this.#concat()];
      while (this.#isOp(",")) {
        this.#next();
        items.push(this.#concat());
      }
      this.#expectOp(")");
      return { k: "in", offset: left.offset, arg: left, items, negated };
    }
    if (this.#acceptWord("between")) {
      const low = this.#concat();
      this.#expectWord("and");
      const high = this.#concat();
      return { k: "between", offset: left.offset, arg: left, low, high, negated };
    }
    return left;
  }

  /** `a < b < c` means nothing useful in SQL either: say so instead of comparing a boolean. */
  #noChain(): void {
    const t = this.#peek();
    if (
      t.kind === "op" && ["=", "==", "!=", "<>", "<", "<=", ">", ">="].includes(t.text) || this.#isWord("is")
    ) {
      throw new SyntaxProblem("comparisons cannot be chained: join them with AND", t.offset);
    }
  }

  #concat(): Node {
    let left = this.#additive();
    while (this.#isOp("||")) {
      const op = this.#next();
      left = { k: "bin", op: "||", offset: left.offset, opOffset: op.offset, left, right: this.#additive() };
    }
    return left;
  }

  #additive(): Node {
    let left = this.#multiplicative();
    while (this.#isOp("+") || this.#isOp("-")) {
      const op = this.#next();
      const right = this.#multiplicative();
      left = { k: "bin", op: op.text as BinaryOp, offset: left.offset, opOffset: op.offset, left, right };
    }
    return left;
  }

  #multiplicative(): Node {
    let left = this.#unary();
    while (this.#isOp("*") || this.#isOp("/") || this.#isOp("%")) {
      const op = this.#next();
      const right = this.#unary();
      left = { k: "bin", op: op.text as BinaryOp, offset: left.offset, opOffset: op.offset, left, right };
    }
    return left;
  }

  #unary(): Node {
    if (this.#isOp("-") || this.#isOp("+")) {
      const t = this.#next();
      const arg = this.#unary();
      if (t.text === "+") return arg;
      // Folding here lets -9223372036854775808 be written, and keeps literals scalars for the checker.
      if (arg.k === "lit" && (arg.lit.type === "int64" || arg.lit.type === "decimal")) {
        const value = -arg.lit.value;
        if (arg.lit.type === "int64" && value < -(2n ** 63n)) {
          throw new SyntaxProblem("integer is out of range", t.offset);
        }
        return { k: "lit", offset: t.offset, lit: { ...arg.lit, value } };
      }
      if (arg.k === "lit" && arg.lit.type === "float64") {
        return { k: "lit", offset: t.offset, lit: { type: "float64", value: -arg.lit.value } };
      }
      return { k: "neg", offset: t.offset, arg };
    }
    return this.#primary();
  }

  #primary(): Node {
    const t = this.#peek();
    switch (t.kind) {
      case "int": {
        this.#next();
        const value = BigInt(t.text);
        // 2^63 itself is allowed here for the unary minus above; the checker rejects it anywhere else.
        if (value > 2n ** 63n) throw new SyntaxProblem("integer is out of range", t.offset);
        return { k: "lit", offset: t.offset, lit: { type: "int64", value } };
      }
      case "num": {
        this.#next();
        const [whole, frac = ""] = t.text.split(".");
        const digits = (whole.replace(/^0+/, "") + frac).length;
        const precision = Math.max(digits, frac.length, 1);
        if (precision > 18) throw new SyntaxProblem("decimal literal has more than 18 digits", t.offset);
        return {
          k: "lit",
          offset: t.offset,
          lit: { type: "decimal", value: BigInt((whole || "0") + frac), precision, scale: frac.length },
        };
      }
      case "float":
        this.#next();
        return { k: "lit", offset: t.offset, lit: { type: "float64", value: Number(t.text) } };
      case "str":
        this.#next();
        return { k: "lit", offset: t.offset, lit: { type: "string", value: t.text } };
      case "qident":
        this.#next();
        return { k: "col", offset: t.offset, name: t.text };
      case "op":
        if (t.text === "(") {
          this.#next();
          const inner = this.expression();
          this.#expectOp(")");
          return inner;
        }
        throw new SyntaxProblem(`unexpected ${describe(t)}`, t.offset);
      case "eof":
        throw new SyntaxProblem("unexpected end of expression", t.offset);
      case "ident":
        return this.#word(t);
    }
  }

  #word(t: Token): Node {
    const word = t.text.toLowerCase();
    const next = this.#peek(1);
    switch (word) {
      case "null":
        this.#next();
        return { k: "lit", offset: t.offset, lit: { type: "null" } };
      case "true":
      case "false":
        this.#next();
        return { k: "lit", offset: t.offset, lit: { type: "boolean", value: word === "true" } };
      case "case":
        return this.#case();
      case "cast": {
        this.#next();
        this.#expectOp("(");
        const arg = this.expression();
        this.#expectWord("as");
        const to = this.typeName();
        this.#expectOp(")");
        return { k: "cast", offset: t.offset, arg, to };
      }
      case "interval": {
        this.#next();
        const text = this.#next();
        if (text.kind !== "str") {
          throw new SyntaxProblem("expected a string after INTERVAL, e.g. '1 day'", text.offset);
        }
        return { k: "lit", offset: t.offset, lit: { type: "interval", value: parseInterval(text) } };
      }
      case "date":
      case "timestamp":
        // A typed literal (`date '2024-01-31'`); otherwise the word is an ordinary column name.
        if (next.kind === "str") {
          this.#next();
          this.#next();
          const lit = word === "date" ? parseDateLiteral(next.text) : parseTimestampLiteral(next.text);
          if (lit === undefined) {
            throw new SyntaxProblem(`invalid ${word} literal '${next.text}'`, next.offset);
          }
          return { k: "lit", offset: t.offset, lit };
        }
    }
    if (next.kind === "op" && next.text === "(") {
      this.#next();
      this.#next();
      const args: Node[] = [];
      if (!this.#isOp(")")) {
        args.push(this.expression());
        while (this.#isOp(",")) {
          this.#next();
          args.push(this.expression());
        }
      }
      this.#expectOp(")");
      return { k: "call", offset: t.offset, name: word, args };
    }
    if (RESERVED.has(word)) {
      throw new SyntaxProblem(
        `unexpected ${word.toUpperCase()} (quote a column with this name: "${t.text}")`,
        t.offset,
      );
    }
    this.#next();
    return { k: "col", offset: t.offset, name: t.text };
  }

  #case(): Node {
    const start = this.#next();
    const subject = this.#isWord("when") ? undefined : this.expression();
    const whens: { when: Node; then: Node }[] = [];
    while (this.#acceptWord("when")) {
      const when = this.expression();
      this.#expectWord("then");
      whens.push({ when, then: this.expression() });
    }
    if (whens.length === 0) throw new SyntaxProblem("CASE needs at least one WHEN", this.#peek().offset);
    const otherwise = this.#acceptWord("else") ? this.expression() : undefined;
    this.#expectWord("end");
    return { k: "case", offset: start.offset, subject, whens, otherwise };
  }

  typeName(): ColumnType {
    const t = this.#next();
    if (t.kind !== "ident") throw new SyntaxProblem(`expected a type name, got ${describe(t)}`, t.offset);
    const name = t.text.toLowerCase();
    if (name === "decimal" || name === "numeric") {
      let precision = 18;
      let scale = 0;
      if (this.#isOp("(")) {
        this.#next();
        precision = this.#smallInt();
        if (this.#isOp(",")) {
          this.#next();
          scale = this.#smallInt();
        }
        this.#expectOp(")");
      }
      if (precision < 1 || precision > 18 || scale > precision) {
        throw new SyntaxProblem("decimal needs 1 ≤ precision ≤ 18 and scale ≤ precision", t.offset);
      }
      return { type: "decimal", precision, scale };
    }
    const simple = TYPE_ALIASES[name];
    if (simple === undefined) {
      throw new SyntaxProblem(
        `unknown type "${t.text}": expected int64, float64, decimal(p,s), string, boolean, date or timestamp`,
        t.offset,
      );
    }
    return { type: simple };
  }

  #smallInt(): number {
    const t = this.#next();
    if (t.kind !== "int") throw new SyntaxProblem(`expected a number, got ${describe(t)}`, t.offset);
    return Number(t.text);
  }
}

const TYPE_ALIASES: Record<string, Exclude<ColumnType["type"], "decimal">> = {
  int64: "int64",
  bigint: "int64",
  int: "int64",
  integer: "int64",
  float64: "float64",
  float: "float64",
  double: "float64",
  string: "string",
  text: "string",
  varchar: "string",
  boolean: "boolean",
  bool: "boolean",
  date: "date",
  timestamp: "timestamp",
};

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "end of expression";
    case "str":
      return `string '${t.text}'`;
    case "qident":
      return `"${t.text}"`;
    default:
      return `"${t.text}"`;
  }
}

function parseInterval(t: Token): bigint {
  const parts = t.text.trim().toLowerCase().split(/\s+/);
  if (parts.length % 2 !== 0 || parts[0] === "") {
    throw new SyntaxProblem(`invalid interval '${t.text}': expected pairs like '1 day 2 hours'`, t.offset);
  }
  let total = 0n;
  for (let i = 0; i < parts.length; i += 2) {
    const unit = INTERVAL_UNITS[parts[i + 1].replace(/s$/, "")];
    if (!/^-?\d+$/.test(parts[i]) || unit === undefined) {
      throw new SyntaxProblem(
        `invalid interval '${t.text}': units are microsecond, millisecond, second, minute, hour, day, week`,
        t.offset,
      );
    }
    total += BigInt(parts[i]) * unit;
  }
  return total;
}

/** Days since the epoch of an ISO `YYYY-MM-DD`, or undefined. */
export function parseDateText(text: string): number | undefined {
  const m = /^(-?\d{4,6})-(\d\d)-(\d\d)$/.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  return daysFromCivil(y, mo, d);
}

/**
 * µs since the epoch of an ISO 8601 timestamp: `YYYY-MM-DD`, then optionally `T` or a space, `HH:MM[:SS[.f…]]`
 * and a zone (`Z`, `±HH`, `±HH:MM`, `±HHMM`; none means UTC). Fractions beyond µs are truncated.
 */
export function parseTimestampText(text: string): bigint | undefined {
  const m =
    /^(-?\d{4,6})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?$/i
      .exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    offsetMinutes = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)) *
      (zone[0] === "-" ? -1 : 1);
  }
  const seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offsetMinutes * 60;
  const micros = BigInt((m[7] ?? "").padEnd(6, "0").slice(0, 6) || "0");
  return BigInt(seconds) * 1_000_000n + micros;
}

function parseDateLiteral(text: string): Literal | undefined {
  const value = parseDateText(text);
  return value === undefined ? undefined : { type: "date", value };
}

function parseTimestampLiteral(text: string): Literal | undefined {
  const value = parseTimestampText(text);
  return value === undefined ? undefined : { type: "timestamp", value };
}

/** Days in month `m` (1-12) of year `y` (proleptic Gregorian). */
export function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

/** Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm; exact for any year). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
