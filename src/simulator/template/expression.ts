// ARM template expression language: "[func(args).prop[index]]" parsed into a small AST.
export type Expr =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'property'; target: Expr; name: string }
  | { kind: 'index'; target: Expr; index: Expr };

export class ExpressionError extends Error {}

/** True when a JSON string value is an expression (and not a "[[" escaped literal). */
export function isExpression(value: string): boolean {
  return value.length >= 2 && value.startsWith('[') && value.endsWith(']') && !value.startsWith('[[');
}

/** The literal a "[[" escaped string stands for. */
export function unescapeLiteral(value: string): string {
  return value.startsWith('[[') ? value.slice(1) : value;
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): Expr {
    const expr = this.expression();
    this.skipSpace();
    if (this.pos !== this.text.length) this.error(`unexpected '${this.text[this.pos]}'`);
    return expr;
  }

  private error(message: string): never {
    throw new ExpressionError(`The language expression '${this.text}' is not valid: ${message} at position ${this.pos}.`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] ?? '')) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? '';
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) this.error(`expected '${ch}'`);
    this.pos++;
  }

  private expression(depth = 0): Expr {
    if (depth > 64) this.error('expression nested too deeply');
    let expr = this.primary(depth);
    for (;;) {
      const ch = this.peek();
      if (ch === '.') {
        this.pos++;
        expr = { kind: 'property', target: expr, name: this.identifier() };
      } else if (ch === '[') {
        this.pos++;
        const index = this.expression(depth + 1);
        this.expect(']');
        expr = { kind: 'index', target: expr, index };
      } else {
        return expr;
      }
    }
  }

  private identifier(): string {
    this.skipSpace();
    const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(this.text.slice(this.pos));
    if (match === null) this.error('expected an identifier');
    this.pos += match[0].length;
    return match[0];
  }

  private primary(depth: number): Expr {
    const ch = this.peek();
    if (ch === "'") return this.stringLiteral();
    if (/[0-9-]/.test(ch)) {
      const match = /^-?[0-9]+(\.[0-9]+)?/.exec(this.text.slice(this.pos));
      if (match === null) this.error('invalid number');
      this.pos += match[0].length;
      return { kind: 'number', value: Number(match[0]) };
    }
    const name = this.identifier();
    this.expect('(');
    const args: Expr[] = [];
    if (this.peek() !== ')') {
      for (;;) {
        args.push(this.expression(depth + 1));
        if (this.peek() === ',') {
          this.pos++;
          continue;
        }
        break;
      }
    }
    this.expect(')');
    return { kind: 'call', name, args };
  }

  private stringLiteral(): Expr {
    this.pos++; // opening quote
    let value = '';
    for (;;) {
      if (this.pos >= this.text.length) this.error('unterminated string');
      const c = this.text[this.pos++];
      if (c === "'") {
        if (this.text[this.pos] === "'") {
          value += "'";
          this.pos++;
          continue;
        }
        return { kind: 'string', value };
      }
      value += c;
    }
  }
}

/** Parses the inside of "[...]". */
export function parseExpression(text: string): Expr {
  return new Parser(text).parse();
}
