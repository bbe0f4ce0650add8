import { invalidArgument } from '@strata/kit';

/** How a constraint compares a node attribute with its value. */
export type ConstraintOp = '==' | '!=';

/**
 * A placement constraint on node attributes. key is `node.name` (the node's
 * name), `node.labels.<label>` or a plain `<label>` (both a node label);
 * `==` needs the attribute to equal value, `!=` needs it to differ (a node
 * without the label satisfies `!=`).
 */
export interface Constraint {
  key: string;
  value: string;
  op: ConstraintOp;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const NODE_NAME_KEY = 'node.name';
const NODE_LABEL_PREFIX = 'node.labels.';

/** What a constraint key refers to: the node's name or one of its labels. */
export type ConstraintTarget = { kind: 'name' } | { kind: 'label'; label: string };

/**
 * What key names: `node.name` → the name; `node.labels.<label>` or
 * `<label>` → that label. InvalidArgument for an empty key, another
 * `node.` attribute, or a label with characters other than letters,
 * digits, `.`, `_`, `/` and `-` (or not starting with a letter or digit).
 */
export function constraintTarget(key: string): ConstraintTarget {
  if (key === NODE_NAME_KEY) return { kind: 'name' };
  const label = key.startsWith(NODE_LABEL_PREFIX) ? key.slice(NODE_LABEL_PREFIX.length) : key;
  if (label === '') throw invalidArgument(`invalid constraint key ${JSON.stringify(key)}: name a node label, node.labels.<label> or node.name`);
  if (!key.startsWith(NODE_LABEL_PREFIX) && key.startsWith('node.')) {
    throw invalidArgument(`invalid constraint key ${JSON.stringify(key)}: the node attributes are node.name and node.labels.<label>`);
  }
  if (!LABEL_KEY.test(label)) {
    throw invalidArgument(`invalid constraint key ${JSON.stringify(key)}: a label is letters, digits, '.', '_', '/' and '-', starting with a letter or digit`);
  }
  return { kind: 'label', label };
}

/**
 * Reads a constraint as written on the command line: `key=value`,
 * `key==value` or `key!=value` (spaces around the parts are trimmed).
 * InvalidArgument, quoting the text, when there is no operator, the key or
 * the value is empty, or the key is not one {@link constraintTarget} knows.
 */
export function parseConstraint(text: string): Constraint {
  const match = /^([^=!]*)(!=|==|=)(.*)$/s.exec(text);
  if (match === null) throw invalidArgument(`invalid constraint ${JSON.stringify(text)}: expected key=value or key!=value`);
  const key = (match[1] ?? '').trim();
  const value = (match[3] ?? '').trim();
  if (key === '') throw invalidArgument(`invalid constraint ${JSON.stringify(text)}: the key is empty`);
  if (value === '') throw invalidArgument(`invalid constraint ${JSON.stringify(text)}: the value is empty`);
  if (/[=!]/.test(value.charAt(0))) throw invalidArgument(`invalid constraint ${JSON.stringify(text)}: expected key=value or key!=value`);
  constraintTarget(key);
  return { key, value, op: match[2] === '!=' ? '!=' : '==' };
}

/** The constraint as people write it: `zone=us-2`, `node.name!=node-a`. */
export function formatConstraint(c: Constraint): string {
  return `${c.key}${c.op === '!=' ? '!=' : '='}${c.value}`;
}

/**
 * Checks that constraint has a known key, an operator and a value.
 * InvalidArgument as {@link parseConstraint} raises it.
 */
export function validateConstraint(c: Constraint): void {
  if (c.op !== '==' && c.op !== '!=') throw invalidArgument(`invalid constraint operator ${JSON.stringify(c.op)} in ${JSON.stringify(c.key)}: use == or !=`);
  if (c.key.trim() === '') throw invalidArgument('invalid constraint: the key is empty');
  if (c.value === '') throw invalidArgument(`invalid constraint ${JSON.stringify(`${c.key}${c.op}`)}: the value is empty`);
  constraintTarget(c.key);
}

/**
 * Why node fails constraint, or undefined when it satisfies it, e.g.
 * `label zone=eu-1 does not match zone=us-2`, `label zone is not set, does
 * not match zone=us-2`, `name node-b does not match node.name=node-a`.
 * The constraint must be valid ({@link validateConstraint}).
 */
export function constraintMismatch(c: Constraint, node: { name: string; labels: Record<string, string> }): string | undefined {
  const target = constraintTarget(c.key);
  const actual = target.kind === 'name' ? node.name : Object.hasOwn(node.labels, target.label) ? node.labels[target.label] : undefined;
  const ok = c.op === '==' ? actual === c.value : actual !== c.value;
  if (ok) return undefined;
  const wanted = formatConstraint(c);
  if (target.kind === 'name') return `name ${node.name} does not match ${wanted}`;
  if (actual === undefined) return `label ${target.label} is not set, does not match ${wanted}`;
  return `label ${target.label}=${actual} does not match ${wanted}`;
}
