import { invalidArgument } from '@strata/kit';

/**
 * The subset of Go's text/template that Docker users write in `--format`:
 * text and `{{ }}` actions with `{{- ` / ` -}}` trim markers and comments;
 * fields `.A.B`, `.`, variables `$x := …`, `$x = …`, `$`; string (Go escapes
 * and raw backquotes), number, bool and nil constants; pipelines `a | b`
 * and parentheses; `if`/`else if`/`else`, `range` (with `$i, $v :=` and
 * `else`), `with`; Go's functions and Docker's (see {@link FUNCTIONS}).
 *
 * Values are JSON-like. An object is read as a Docker struct: a field it
 * does not have is an error naming the field, as `docker inspect -f` and
 * `docker ps --format` report it (`index` reads a missing key as
 * `<no value>`, as Go does on a map). A function-valued field is a method:
 * `.Label "key"` calls it. `range` walks an object's keys in sorted order,
 * as Go walks a map; truth is Go's (false, 0, nil, and empty strings,
 * lists and objects are false).
 */

/** A function a template calls; raises an Error whose message says which argument is wrong. */
export type TemplateFunction = (...args: unknown[]) => unknown;

/** A parsed template, ready to run on any number of values. */
export interface Template {
  /** The text it was parsed from. */
  readonly source: string;
  /**
   * The template's output with `.` and `$` set to data. functions replace
   * those of the same name (Docker's header row runs the template with
   * functions that leave their argument as it is). Raises InvalidArgument
   * `template: :LINE:COL: executing at <.Nope>: can't evaluate field Nope …`
   * naming where and what failed.
   */
  execute(data: unknown, options?: { functions?: Readonly<Record<string, TemplateFunction>> }): string;
}

type Pos = { pos: number; end: number };

type Arg = Pos &
  (
    | { type: 'dot' }
    | { type: 'field'; names: string[] }
    | { type: 'variable'; name: string; names: string[] }
    | { type: 'function'; name: string }
    | { type: 'literal'; value: unknown }
    | { type: 'pipe'; pipe: Pipe; names: string[]; termEnd: number }
  );

interface Command extends Pos {
  args: Arg[];
}

interface Pipe extends Pos {
  /** Variables it declares (`$x :=`) or assigns (`$x =`). */
  vars: string[];
  assign: boolean;
  commands: Command[];
}

interface Control {
  type: 'if' | 'with' | 'range';
  pipe: Pipe;
  list: Node[];
  elseList: Node[];
}

type Node = { type: 'text'; text: string } | { type: 'action'; pipe: Pipe } | Control;

type TokenKind =
  | 'dot'
  | 'field'
  | 'variable'
  | 'identifier'
  | 'literal'
  | 'pipe'
  | 'open'
  | 'close'
  | 'declare'
  | 'assign'
  | 'comma';

interface Token extends Pos {
  kind: TokenKind;
  text: string;
  /** Whitespace comes before it. */
  spaced: boolean;
  value?: unknown;
}

type Item = { type: 'text'; text: string } | { type: 'action'; tokens: Token[]; pos: number };

/** A position in source as Go gives it: the line from 1 and the byte in that line from 0. */
function where(source: string, pos: number): string {
  const before = source.slice(0, pos);
  const line = before.split('\n').length;
  return `${line}:${pos - (before.lastIndexOf('\n') + 1)}`;
}

class ParseError extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

const SPACE = /[ \t\r\n]/;
const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;
const NUMBER = /^[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/;

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };

/** The value of a Go double-quoted string whose body starts at start; returns it and the index after the closing quote. */
function quoted(source: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start;
  for (;;) {
    const c = source[i];
    if (c === undefined || c === '\n') throw new ParseError(start - 1, 'unterminated quoted string');
    if (c === '"') return { value, end: i + 1 };
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = source[i + 1] ?? '';
    if (e in ESCAPES) {
      value += ESCAPES[e];
      i += 2;
      continue;
    }
    const hex = { x: 2, u: 4, U: 8 }[e];
    const digits = hex === undefined ? source.slice(i + 1, i + 4) : source.slice(i + 2, i + 2 + hex);
    if (hex !== undefined && new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
      value += String.fromCodePoint(parseInt(digits, 16));
      i += 2 + hex;
    } else if (hex === undefined && /^[0-7]{3}$/.test(digits)) {
      value += String.fromCharCode(parseInt(digits, 8));
      i += 4;
    } else {
      throw new ParseError(i, `invalid escape \\${e} in quoted string`);
    }
  }
}

/** Splits source into text and the tokens of each action, applying the trim markers. */
function lex(source: string): Item[] {
  const items: Item[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = source.slice(i, open === -1 ? undefined : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open === -1) {
      if (text !== '') items.push({ type: 'text', text });
      break;
    }
    let p = open + 2;
    if (source[p] === '-' && SPACE.test(source[p + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p++;
    }
    if (text !== '') items.push({ type: 'text', text });
    const tokens: Token[] = [];
    const afterSpace = p;
    while (SPACE.test(source[p] ?? '')) p++;
    if (source.startsWith('/*', p)) {
      const close = source.indexOf('*/', p + 2);
      if (close === -1) throw new ParseError(open, 'unclosed comment');
      p = close + 2;
      const rest = /^(?:[ \t\r\n]+-)?}}/.exec(source.slice(p));
      if (rest === null) throw new ParseError(open, 'comment ends before closing delimiter');
      trimNext = rest[0].length > 2;
      i = p + rest[0].length;
      continue;
    }
    p = afterSpace;
    for (;;) {
      const start = p;
      while (SPACE.test(source[p] ?? '')) p++;
      const spaced = p > start || tokens.length === 0;
      if (p >= source.length) throw new ParseError(open, 'unclosed action');
      if (p > start && source.startsWith('-}}', p)) {
        trimNext = true;
        p += 3;
        break;
      }
      if (source.startsWith('}}', p)) {
        p += 2;
        break;
      }
      const token = (kind: TokenKind, end: number, value?: unknown) => {
        tokens.push({ kind, text: source.slice(p, end), pos: p, end, spaced, ...(value === undefined ? {} : { value }) });
        p = end;
      };
      const c = source[p]!;
      const next = source[p + 1] ?? '';
      const identEnd = (from: number) => {
        let e = from;
        while (IDENT.test(source[e] ?? '')) e++;
        return e;
      };
      const number = NUMBER.exec(source.slice(p));
      if (c === '"') {
        const q = quoted(source, p + 1);
        token('literal', q.end, q.value);
      } else if (c === '`') {
        const close = source.indexOf('`', p + 1);
        if (close === -1) throw new ParseError(p, 'unterminated raw quoted string');
        token('literal', close + 1, source.slice(p + 1, close));
      } else if (c === "'") {
        const m = /^'(\\.|[^\\'])'/u.exec(source.slice(p));
        if (m === null) throw new ParseError(p, 'malformed character constant');
        const ch = m[1]!.startsWith('\\') ? (ESCAPES[m[1]![1]!] ?? m[1]![1]!) : m[1]!;
        token('literal', p + m[0].length, ch.codePointAt(0));
      } else if (c === '.' && IDENT_START.test(next)) {
        token('field', identEnd(p + 1));
      } else if (number !== null && (c !== '.' || /\d/.test(next))) {
        const value = Number(number[0].replaceAll('_', ''));
        if (Number.isNaN(value)) throw new ParseError(p, `bad number syntax: ${JSON.stringify(number[0])}`);
        token('literal', p + number[0].length, value);
      } else if (c === '.') {
        token('dot', p + 1);
      } else if (c === '$') {
        token('variable', identEnd(p + 1));
      } else if (IDENT_START.test(c)) {
        const end = identEnd(p);
        const word = source.slice(p, end);
        if (word === 'true' || word === 'false') token('literal', end, word === 'true');
        else if (word === 'nil') token('literal', end, null);
        else token('identifier', end);
      } else if (c === ':' && next === '=') {
        token('declare', p + 2);
      } else if (c === '=') {
        token('assign', p + 1);
      } else if (c === '|' || c === '(' || c === ')' || c === ',') {
        token(({ '|': 'pipe', '(': 'open', ')': 'close', ',': 'comma' } as const)[c], p + 1);
      } else {
        throw new ParseError(p, `unrecognized character in action: ${JSON.stringify(c)}`);
      }
    }
    items.push({ type: 'action', tokens, pos: open });
    i = p;
  }
  return items;
}

/** Names of the control words; an identifier among them is no function. */
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

class Parser {
  private items: Item[];
  private at = 0;
  /** Variables in scope, innermost last. */
  private vars = ['$'];

  constructor(
    source: string,
    private readonly functions: ReadonlySet<string>,
  ) {
    this.items = lex(source);
  }

  parse(): Node[] {
    const { nodes, stop } = this.list();
    if (stop !== undefined) throw new ParseError(stop.pos, `unexpected {{${stop.tokens[0]!.text}}}`);
    return nodes;
  }

  /** Nodes up to the end of the items or an `{{end}}`/`{{else …}}`, which it returns. */
  private list(): { nodes: Node[]; stop?: { tokens: Token[]; pos: number } } {
    const nodes: Node[] = [];
    while (this.at < this.items.length) {
      const item = this.items[this.at++]!;
      if (item.type === 'text') {
        nodes.push(item);
        continue;
      }
      const [first] = item.tokens;
      if (first === undefined) throw new ParseError(item.pos, 'missing value for command');
      const word = first.kind === 'identifier' ? first.text : '';
      if (word === 'end' || word === 'else') return { nodes, stop: item };
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(this.control(word, item.tokens.slice(1), first));
      } else if (KEYWORDS.has(word)) {
        throw new ParseError(first.pos, `{{${word}}} is not supported in --format templates`);
      } else {
        nodes.push({ type: 'action', pipe: this.pipeline(item.tokens, 'action') });
      }
    }
    return { nodes };
  }

  /** `{{if|with|range PIPE}} … [{{else [if|with …]}} …] {{end}}`; its variables end at its end. */
  private control(word: 'if' | 'with' | 'range', tokens: Token[], keyword: Token): Node {
    const scope = this.vars.length;
    if (tokens.length === 0) throw new ParseError(keyword.pos, `missing value for ${word}`);
    const pipe = this.pipeline(tokens, word === 'range' ? 'range' : 'control');
    const { nodes: list, stop } = this.list();
    if (stop === undefined) throw new ParseError(keyword.pos, `unexpected EOF: {{${word}}} has no {{end}}`);
    let elseList: Node[] = [];
    const [, chained] = stop.tokens;
    if (stop.tokens[0]!.text === 'else') {
      if (chained !== undefined && (chained.text === 'if' || chained.text === 'with') && chained.kind === 'identifier' && word !== 'range') {
        elseList = [this.control(chained.text, stop.tokens.slice(2), chained)];
      } else {
        if (chained !== undefined) throw new ParseError(chained.pos, `unexpected ${JSON.stringify(chained.text)} in else`);
        const rest = this.list();
        if (rest.stop === undefined || rest.stop.tokens[0]!.text !== 'end') {
          throw new ParseError(rest.stop?.pos ?? keyword.pos, rest.stop === undefined ? `unexpected EOF: {{${word}}} has no {{end}}` : 'expected {{end}} after {{else}}');
        }
        elseList = rest.nodes;
        this.checkEnd(rest.stop.tokens);
      }
    } else {
      this.checkEnd(stop.tokens);
    }
    this.vars.length = scope;
    return { type: word, pipe, list, elseList };
  }

  private checkEnd(tokens: Token[]): void {
    if (tokens.length > 1) throw new ParseError(tokens[1]!.pos, `unexpected ${JSON.stringify(tokens[1]!.text)} in end`);
  }

  /** `[$x :=] command | command …`, all of tokens (or up to a `)` for a parenthesis, which ends). */
  private pipeline(tokens: Token[], context: 'action' | 'control' | 'range' | 'paren', from = 0): Pipe & { next: number } {
    let i = from;
    const vars: string[] = [];
    let assign = false;
    const isDecl = (t: Token | undefined) => t?.kind === 'declare' || t?.kind === 'assign';
    if (context !== 'paren' && tokens[i]?.kind === 'variable') {
      if (isDecl(tokens[i + 1])) {
        vars.push(tokens[i]!.text);
        assign = tokens[i + 1]!.kind === 'assign';
        i += 2;
      } else if (context === 'range' && tokens[i + 1]?.kind === 'comma' && tokens[i + 2]?.kind === 'variable' && isDecl(tokens[i + 3])) {
        vars.push(tokens[i]!.text, tokens[i + 2]!.text);
        assign = tokens[i + 3]!.kind === 'assign';
        i += 4;
      }
    }
    const commands: Command[] = [];
    const start = tokens[from]?.pos ?? 0;
    for (;;) {
      const args: Arg[] = [];
      while (i < tokens.length && tokens[i]!.kind !== 'pipe' && tokens[i]!.kind !== 'close') {
        const { arg, next } = this.operand(tokens, i);
        args.push(arg);
        i = next;
      }
      const at = tokens[i] ?? tokens[i - 1];
      if (args.length === 0) throw new ParseError(at?.pos ?? start, 'missing value for command');
      commands.push({ args, pos: args[0]!.pos, end: args[args.length - 1]!.end });
      if (tokens[i]?.kind !== 'pipe') break;
      i++;
    }
    if (tokens[i]?.kind === 'close' && context !== 'paren') throw new ParseError(tokens[i]!.pos, 'unexpected right paren');
    for (const name of vars) {
      if (assign) this.checkVariable(name, tokens[from]!);
      else this.vars.push(name);
    }
    return { vars, assign, commands, pos: start, end: commands[commands.length - 1]!.end, next: i };
  }

  private checkVariable(name: string, token: Token): void {
    if (!this.vars.includes(name)) throw new ParseError(token.pos, `undefined variable ${JSON.stringify(name)}`);
  }

  /** One argument of a command: a term and the fields chained to it (`$x.A`, `(…).B`). */
  private operand(tokens: Token[], i: number): { arg: Arg; next: number } {
    const t = tokens[i]!;
    let arg: Arg;
    let next = i + 1;
    switch (t.kind) {
      case 'dot':
        arg = { type: 'dot', pos: t.pos, end: t.end };
        break;
      case 'field':
        arg = { type: 'field', names: [t.text.slice(1)], pos: t.pos, end: t.end };
        break;
      case 'variable':
        this.checkVariable(t.text, t);
        arg = { type: 'variable', name: t.text, names: [], pos: t.pos, end: t.end };
        break;
      case 'identifier':
        if (KEYWORDS.has(t.text)) throw new ParseError(t.pos, `unexpected ${JSON.stringify(t.text)} in operand`);
        if (!this.functions.has(t.text)) throw new ParseError(t.pos, `function ${JSON.stringify(t.text)} not defined`);
        arg = { type: 'function', name: t.text, pos: t.pos, end: t.end };
        break;
      case 'literal':
        arg = { type: 'literal', value: t.value, pos: t.pos, end: t.end };
        break;
      case 'open': {
        const inner = this.pipeline(tokens, 'paren', i + 1);
        const close = tokens[inner.next];
        if (close?.kind !== 'close') throw new ParseError(t.pos, 'unclosed left paren');
        arg = { type: 'pipe', pipe: inner, names: [], pos: t.pos, end: close.end, termEnd: close.end };
        next = inner.next + 1;
        break;
      }
      default:
        throw new ParseError(t.pos, `unexpected ${JSON.stringify(t.text)} in operand`);
    }
    while (tokens[next]?.kind === 'field' && !tokens[next]!.spaced) {
      const field = tokens[next]!;
      if (arg.type === 'field' || arg.type === 'variable' || arg.type === 'pipe') arg.names.push(field.text.slice(1));
      else throw new ParseError(field.pos, `unexpected ${JSON.stringify(field.text)} after ${JSON.stringify(t.text)}`);
      arg.end = field.end;
      next++;
    }
    if (next < tokens.length && !tokens[next]!.spaced && !['pipe', 'close', 'comma'].includes(tokens[next]!.kind) && t.kind !== 'open') {
      throw new ParseError(tokens[next]!.pos, `missing space before ${JSON.stringify(tokens[next]!.text)}`);
    }
    return { arg, next };
  }
}

/** An execution failure at a node of the template. */
class ExecError extends Error {
  constructor(
    readonly at: Pos,
    message: string,
  ) {
    super(message);
  }
}

/** Go's name of a value's type, for messages. */
function typeName(value: unknown): string {
  if (value === undefined || value === null) return '<nil>';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float64';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'function') return 'func';
  return 'object';
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** Go's truth: false, 0, nil, and empty strings, lists and objects are false. */
function isTrue(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value !== '';
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** A value as Go's fmt prints it with %v: lists `[a b]`, objects `map[k:v]` by key. */
function printValue(value: unknown, nested = false): string {
  if (value === undefined) return nested ? '<nil>' : '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `[${value.map((v) => printValue(v, true)).join(' ')}]`;
  if (typeof value === 'function') return '<func>';
  if (isObject(value)) {
    return `map[${Object.keys(value)
      .sort()
      .filter((k) => typeof value[k] !== 'function')
      .map((k) => `${k}:${printValue(value[k], true)}`)
      .join(' ')}]`;
  }
  return String(value);
}

function text(value: unknown, what = 'value'): string {
  if (typeof value !== 'string') throw new Error(`wrong type for ${what}; expected string; got ${typeName(value)}`);
  return value;
}

function integer(value: unknown, what = 'value'): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`wrong type for ${what}; expected int; got ${typeName(value)}`);
  return value;
}

/** Go's comparison of basic values: same kind, or an error. */
function compare(a: unknown, b: unknown): number {
  const basic = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  if (!basic(a) || !basic(b)) {
    if ((a === null || a === undefined) && (b === null || b === undefined)) return 0;
    throw new Error(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
  }
  if (typeof a !== typeof b) throw new Error(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
  return a === b ? 0 : (a as number | string) < (b as number | string) ? -1 : 1;
}

function ordered(a: unknown, b: unknown): number {
  if (typeof a === 'boolean' || typeof b === 'boolean') throw new Error(`invalid type for comparison: ${typeName(a)}`);
  return compare(a, b);
}

/** Go's fmt.Sprintf for %v %s %d %q %f %x %X %t %% with flags `-`, `0`, width and precision. */
export function sprintf(format: string, ...args: unknown[]): string {
  let argIndex = 0;
  const out = format.replace(/%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])/g, (_whole, flagText: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (argIndex >= args.length) return `%!${verb}(MISSING)`;
    const arg = args[argIndex++];
    const wrong = () => `%!${verb}(${typeName(arg)}=${printValue(arg, true)})`;
    let body: string;
    switch (verb) {
      case 'v':
        body = printValue(arg, true);
        break;
      case 's':
        body = typeof arg === 'string' ? arg : printValue(arg, true);
        if (precision !== undefined) body = [...body].slice(0, Number(precision)).join('');
        break;
      case 'q':
        body = typeof arg === 'string' ? JSON.stringify(arg) : wrong();
        break;
      case 'd':
        body = typeof arg === 'number' && Number.isInteger(arg) ? String(arg) : wrong();
        break;
      case 'f':
        body = typeof arg === 'number' ? arg.toFixed(precision === undefined ? 6 : Number(precision)) : wrong();
        break;
      case 'x':
      case 'X': {
        const hex =
          typeof arg === 'number' && Number.isInteger(arg)
            ? arg.toString(16)
            : typeof arg === 'string'
              ? Buffer.from(arg).toString('hex')
              : undefined;
        body = hex === undefined ? wrong() : verb === 'X' ? hex.toUpperCase() : hex;
        break;
      }
      case 't':
        body = typeof arg === 'boolean' ? String(arg) : wrong();
        break;
      default:
        return `%!${verb}(${typeName(arg)}=${printValue(arg, true)})`;
    }
    const size = width === '' ? 0 : Number(width);
    if (body.length >= size) return body;
    if (flagText.includes('-')) return body.padEnd(size);
    if (flagText.includes('0') && (verb === 'd' || verb === 'f') && !body.startsWith('%!')) {
      const sign = body.startsWith('-') ? '-' : '';
      return sign + body.slice(sign.length).padStart(size - sign.length, '0');
    }
    return body.padStart(size);
  });
  if (argIndex >= args.length) return out;
  return `${out}%!(EXTRA ${args
    .slice(argIndex)
    .map((a) => `${typeName(a)}=${printValue(a, true)}`)
    .join(', ')})`;
}

/** Go's fmt.Sprint: operands apart by a space when neither is a string. */
function sprint(...args: unknown[]): string {
  let out = '';
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += printValue(arg, true);
  });
  return out;
}

/**
 * The functions templates have: Go's `and or not eq ne lt le gt ge len
 * index print printf println`, and Docker's `json join split lower upper
 * title truncate pad`.
 */
export const FUNCTIONS: Readonly<Record<string, TemplateFunction>> = {
  and: (...args) => args.find((a) => !isTrue(a)) ?? args[args.length - 1],
  or: (...args) => args.find((a) => isTrue(a)) ?? args[args.length - 1],
  not: (value) => !isTrue(value),
  eq: (a, ...bs) => {
    if (bs.length === 0) throw new Error('missing argument for comparison');
    return bs.some((b) => compare(a, b) === 0);
  },
  ne: (a, b) => compare(a, b) !== 0,
  lt: (a, b) => ordered(a, b) < 0,
  le: (a, b) => ordered(a, b) <= 0,
  gt: (a, b) => ordered(a, b) > 0,
  ge: (a, b) => ordered(a, b) >= 0,
  len: (value) => {
    if (typeof value === 'string') return Buffer.byteLength(value);
    if (Array.isArray(value)) return value.length;
    if (isObject(value)) return Object.keys(value).length;
    throw new Error(`len of ${typeName(value)}`);
  },
  index: (item, ...keys) => {
    let value = item;
    for (const key of keys) {
      if (Array.isArray(value) || typeof value === 'string') {
        const n = integer(key, 'index');
        if (n < 0 || n >= value.length) throw new Error(`index out of range: ${n}`);
        value = typeof value === 'string' ? value.charCodeAt(n) : value[n];
      } else if (isObject(value)) {
        value = Object.hasOwn(value, text(key, 'key')) ? value[key as string] : undefined;
      } else if (value === undefined || value === null) {
        return undefined;
      } else {
        throw new Error(`can't index item of type ${typeName(value)}`);
      }
    }
    return value;
  },
  print: sprint,
  printf: (format, ...args) => sprintf(text(format, 'format'), ...args),
  println: (...args) => `${args.map((a) => printValue(a, true)).join(' ')}\n`,
  json: (value) => JSON.stringify(value) ?? 'null',
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new Error(`wrong type for value; expected list; got ${typeName(list)}`);
    return list.map((v) => printValue(v, true)).join(text(sep, 'separator'));
  },
  split: (value, sep) => text(value).split(text(sep, 'separator')),
  lower: (value) => text(value).toLowerCase(),
  upper: (value) => text(value).toUpperCase(),
  title: (value) => text(value).replace(/(^|[^\p{L}\p{N}_'])(\p{Ll})/gu, (_m, before: string, letter: string) => before + letter.toUpperCase()),
  truncate: (value, length) => [...text(value)].slice(0, Math.max(0, integer(length, 'length'))).join(''),
  pad: (value, before, after) => (text(value) === '' ? '' : ' '.repeat(Math.max(0, integer(before))) + (value as string) + ' '.repeat(Math.max(0, integer(after)))),
};

/** Docker's functions for a header row: each gives back its first argument (`{{.Names | upper}}` heads NAMES). */
export const HEADER_FUNCTIONS: Readonly<Record<string, TemplateFunction>> = Object.fromEntries(
  ['json', 'join', 'split', 'lower', 'upper', 'title', 'truncate', 'pad'].map((name) => [name, (value: unknown) => value]),
);

/** No value piped into a command (undefined is a value: a missing key). */
const NONE = Symbol('none');

class Executor {
  private out: string[] = [];
  private vars: Array<{ name: string; value: unknown }>;

  constructor(
    private readonly source: string,
    private readonly functions: Readonly<Record<string, TemplateFunction>>,
    root: unknown,
  ) {
    this.vars = [{ name: '$', value: root }];
  }

  run(nodes: Node[], dot: unknown): string {
    this.walk(nodes, dot);
    return this.out.join('');
  }

  private walk(nodes: readonly Node[], dot: unknown): void {
    for (const node of nodes) {
      if (node.type === 'text') {
        this.out.push(node.text);
        continue;
      }
      if (node.type === 'action') {
        const value = this.pipe(node.pipe, dot);
        if (node.pipe.vars.length === 0) this.out.push(printValue(value));
        continue;
      }
      const scope = this.vars.length;
      if (node.type === 'range') this.range(node, dot);
      else {
        const value = this.pipe(node.pipe, dot);
        if (isTrue(value)) this.walk(node.list, node.type === 'with' ? value : dot);
        else this.walk(node.elseList, dot);
      }
      this.vars.length = scope;
    }
  }

  private range(node: Control, dot: unknown): void {
    const value = this.pipe({ ...node.pipe, vars: [] }, dot);
    let entries: Array<[unknown, unknown]>;
    if (value === undefined || value === null) entries = [];
    else if (Array.isArray(value)) entries = value.map((v, i) => [i, v]);
    else if (isObject(value)) entries = Object.keys(value).sort().map((k) => [k, value[k]]);
    else if (typeof value === 'number' && Number.isInteger(value)) entries = Array.from({ length: Math.max(0, value) }, (_v, i) => [i, i]);
    else throw new ExecError(node.pipe, `range can't iterate over ${printValue(value)}`);
    if (entries.length === 0) {
      this.walk(node.elseList, dot);
      return;
    }
    const scope = this.vars.length;
    for (const [key, element] of entries) {
      const [first, second] = node.pipe.vars;
      if (second !== undefined) {
        this.set(first!, key, node.pipe.assign);
        this.set(second, element, node.pipe.assign);
      } else if (first !== undefined) {
        this.set(first, element, node.pipe.assign);
      }
      this.walk(node.list, element);
      this.vars.length = scope;
    }
  }

  private set(name: string, value: unknown, assign: boolean): void {
    if (!assign) {
      this.vars.push({ name, value });
      return;
    }
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
  }

  private variable(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return undefined;
  }

  private pipe(pipe: Pipe, dot: unknown): unknown {
    let value: unknown = NONE;
    for (const command of pipe.commands) value = this.command(command, dot, value);
    for (const name of pipe.vars) this.set(name, value, pipe.assign);
    return value;
  }

  private command(command: Command, dot: unknown, final: unknown): unknown {
    const [first, ...rest] = command.args as [Arg, ...Arg[]];
    const args = () => [...rest.map((a) => this.arg(a, dot)), ...(final === NONE ? [] : [final])];
    const hasArgs = rest.length > 0 || final !== NONE;
    switch (first.type) {
      case 'function':
        return this.call(first.name, args(), command);
      case 'field':
        return this.chain(dot, first.names, first, '', args, hasArgs);
      case 'variable':
        return this.chain(this.variable(first.name), first.names, first, first.name, args, hasArgs);
      case 'pipe':
        return this.chain(this.pipe(first.pipe, dot), first.names, first, this.source.slice(first.pos, first.termEnd), args, hasArgs);
      default:
        if (hasArgs) throw new ExecError(command, `can't give argument to non-function ${this.source.slice(first.pos, first.end)}`);
        return this.arg(first, dot);
    }
  }

  private call(name: string, args: unknown[], at: Pos): unknown {
    try {
      return this.functions[name]!(...args);
    } catch (err) {
      throw new ExecError(at, `error calling ${name}: ${(err as Error).message}`);
    }
  }

  private arg(arg: Arg, dot: unknown): unknown {
    switch (arg.type) {
      case 'dot':
        return dot;
      case 'literal':
        return arg.value;
      case 'field':
        return this.chain(dot, arg.names, arg, '', () => [], false);
      case 'variable':
        return this.chain(this.variable(arg.name), arg.names, arg, arg.name, () => [], false);
      case 'pipe':
        return this.chain(this.pipe(arg.pipe, dot), arg.names, arg, this.source.slice(arg.pos, arg.termEnd), () => [], false);
      case 'function':
        return this.call(arg.name, [], arg);
    }
  }

  /** receiver.A.B…; the last field gets the command's arguments when it is a method. */
  private chain(receiver: unknown, names: readonly string[], at: Pos, base: string, args: () => unknown[], hasArgs: boolean): unknown {
    let value = receiver;
    let path = base;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      if (value === undefined || value === null) throw new ExecError(at, `nil pointer evaluating ${path || '.'}.${name}`);
      if (!isObject(value)) throw new ExecError(at, `can't evaluate field ${name} in type ${typeName(value)}`);
      if (!Object.hasOwn(value, name)) {
        const fields = Object.keys(value);
        throw new ExecError(
          at,
          `can't evaluate field ${name}${fields.length === 0 ? ` in ${path || '.'}, which has no fields` : ` (the fields of ${path || '.'} are ${fields.join(', ')})`}`,
        );
      }
      const field = value[name];
      path = `${path}.${name}`;
      if (typeof field === 'function') {
        const values = last ? args() : [];
        try {
          value = (field as TemplateFunction)(...values);
        } catch (err) {
          throw new ExecError(at, `error calling ${name}: ${(err as Error).message}`);
        }
        return;
      }
      if (last && hasArgs) throw new ExecError(at, `${name} is not a method but has arguments`);
      value = field;
    });
    if (names.length === 0 && hasArgs) {
      if (typeof value !== 'function') throw new ExecError(at, `can't give argument to non-function ${base || '.'}`);
      return (value as TemplateFunction)(...args());
    }
    return value;
  }
}

/**
 * Parses text as a Go template. Raises InvalidArgument `template parsing
 * error: :LINE:COL: …` for a syntax error (unclosed action, unknown
 * function, undefined variable, a Go construct it does not support).
 */
export function parseTemplate(source: string): Template {
  let nodes: Node[];
  try {
    nodes = new Parser(source, new Set(Object.keys(FUNCTIONS))).parse();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw invalidArgument(`template parsing error: template: :${where(source, err.pos)}: ${err.message}`, { fields: { template: source } });
  }
  return {
    source,
    execute(data, options = {}) {
      try {
        return new Executor(source, { ...FUNCTIONS, ...options.functions }, data).run(nodes, data);
      } catch (err) {
        if (!(err instanceof ExecError)) throw err;
        const node = source.slice(err.at.pos, err.at.end);
        throw invalidArgument(`template: :${where(source, err.at.pos)}: executing at <${node}>: ${err.message}`, { fields: { template: source } });
      }
    },
  };
}
