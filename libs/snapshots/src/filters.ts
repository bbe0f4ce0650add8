import { invalidArgument, type StrataError } from '@strata/kit';
import type { Info } from './types.js';

type Operator = '==' | '!=' | '~=';

interface Selector {
  /** Field path: `name`, `parent`, `kind` or `labels` followed by the label key. */
  field: string;
  label?: string;
  operator?: Operator;
  value?: string;
  regexp?: RegExp;
}

/** Fields a filter may name (labels take a key: `labels.<key>` or `labels."<key>"`). */
export const FILTER_FIELDS = ['name', 'parent', 'kind', 'labels'] as const;

const MAX_REGEXP = 256;

class FilterParser {
  private i = 0;

  constructor(private readonly text: string) {}

  parse(): Selector[] {
    const selectors: Selector[] = [];
    for (;;) {
      selectors.push(this.selector());
      this.spaces();
      if (this.i === this.text.length) return selectors;
      if (this.text[this.i] !== ',') throw this.fail(`expected "," or the end`);
      this.i++;
    }
  }

  private selector(): Selector {
    const path = this.fieldPath();
    const [field = '', ...rest] = path;
    if (!(FILTER_FIELDS as readonly string[]).includes(field)) {
      throw this.fail(`unknown field ${JSON.stringify(field)}; use name, parent, kind or labels.<key>`, false);
    }
    if (field === 'labels' && rest.length === 0) throw this.fail('labels needs a key: labels.<key> or labels."<key>"', false);
    if (field !== 'labels' && rest.length > 0) throw this.fail(`field ${JSON.stringify(field)} has no sub-fields`, false);
    const selector: Selector = field === 'labels' ? { field, label: rest.join('.') } : { field };
    this.spaces();
    const op = this.text.slice(this.i, this.i + 2);
    if (op !== '==' && op !== '!=' && op !== '~=') {
      if (this.i === this.text.length || this.text[this.i] === ',') return selector;
      throw this.fail('expected ==, != or ~=');
    }
    this.i += 2;
    this.spaces();
    const value = this.value();
    selector.operator = op;
    selector.value = value;
    if (op === '~=') {
      if (value.length > MAX_REGEXP) throw this.fail(`regexp longer than ${MAX_REGEXP} characters`, false);
      try {
        selector.regexp = new RegExp(value);
      } catch (cause) {
        throw this.fail(`bad regexp: ${(cause as Error).message}`, false);
      }
    }
    return selector;
  }

  private fieldPath(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.spaces();
      if (this.text[this.i] === '"') parts.push(this.quoted());
      else {
        const m = /^[A-Za-z0-9_\-/]+/.exec(this.text.slice(this.i));
        if (m === null) throw this.fail('expected a field name');
        parts.push(m[0]);
        this.i += m[0].length;
      }
      if (this.text[this.i] !== '.') return parts;
      this.i++;
    }
  }

  private value(): string {
    if (this.text[this.i] === '"') return this.quoted();
    const start = this.i;
    while (this.i < this.text.length && this.text[this.i] !== ',') this.i++;
    return this.text.slice(start, this.i).trim();
  }

  private quoted(): string {
    const start = this.i;
    this.i++;
    let out = '';
    while (this.i < this.text.length) {
      const c = this.text[this.i++];
      if (c === '"') return out;
      if (c === '\\') {
        const next = this.text[this.i++];
        if (next === undefined) break;
        out += next;
      } else out += c;
    }
    this.i = start;
    throw this.fail('unterminated quoted string');
  }

  private spaces(): void {
    while (this.text[this.i] === ' ' || this.text[this.i] === '\t') this.i++;
  }

  private fail(reason: string, at = true): StrataError {
    const where = at ? ` at position ${this.i}` : '';
    return invalidArgument(`invalid filter ${JSON.stringify(this.text.slice(0, 300))}: ${reason}${where}`);
  }
}

function fieldOf(info: Info, selector: Selector): string | undefined {
  switch (selector.field) {
    case 'name':
      return info.name;
    case 'parent':
      return info.parent;
    case 'kind':
      return info.kind;
    default: {
      const key = selector.label ?? '';
      return Object.hasOwn(info.labels, key) ? info.labels[key] : undefined;
    }
  }
}

function matches(info: Info, selector: Selector): boolean {
  const actual = fieldOf(info, selector);
  switch (selector.operator) {
    case undefined:
      return actual !== undefined;
    case '==':
      return actual === selector.value;
    case '!=':
      return actual !== selector.value;
    case '~=':
      return actual !== undefined && selector.regexp!.test(actual);
  }
}

/**
 * Compiles containerd's snapshot filters into a predicate. Each filter is a
 * comma-separated list of selectors that must all match; a snapshot matches
 * when ANY filter matches (no filters, or only empty ones: everything). A
 * selector is `field==value`, `field!=value`, `field~=regexp` or a bare
 * `field` (it is set); fields are `name`, `parent`, `kind` and
 * `labels.<key>` (the rest of the path joined by dots is the key, or quote
 * it: `labels."a,b"`); a value is bare (up to the next comma, trimmed) or
 * double-quoted with `\` escapes. Examples: `kind==committed`,
 * `parent==sha256:…,labels."strata.io/gc"`. InvalidArgument for a
 * malformed filter, an unknown field or a bad regexp.
 */
export function parseFilters(filters: readonly string[] = []): (info: Info) => boolean {
  const alternatives = filters.filter((f) => f.trim() !== '').map((f) => new FilterParser(f).parse());
  if (alternatives.length === 0) return () => true;
  return (info) => alternatives.some((selectors) => selectors.every((s) => matches(info, s)));
}
