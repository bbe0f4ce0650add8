import { invalidArgument } from '@strata/kit';
import type { Labels } from './types.js';

/** Longest key or name, in characters (a chain ID is 71; containerd's unpack keys are about 100). */
export const MAX_KEY_LENGTH = 512;

// C0 controls and DEL: never part of a key, and they garble logs.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks a snapshot key, name or parent (`what` says which, for the
 * message): 1 to 512 characters, no control characters. Keys never become
 * paths (snapshot directories are numbered), so anything else is allowed,
 * like containerd's `extract-<n> sha256:…`. InvalidArgument names the fault.
 */
export function validateKey(key: unknown, what: 'key' | 'name' | 'parent' = 'key'): string {
  if (typeof key !== 'string' || key === '') throw invalidArgument(`invalid snapshot ${what}: empty`);
  const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
  if (key.length > MAX_KEY_LENGTH) {
    throw invalidArgument(`invalid snapshot ${what} ${shown}: longer than ${MAX_KEY_LENGTH} characters`);
  }
  if (CONTROL.test(key)) throw invalidArgument(`invalid snapshot ${what} ${shown}: control characters are not allowed`);
  return key;
}

/** Largest sum of key and value lengths of one label, as in containerd. */
export const MAX_LABEL_BYTES = 4096;
/** Most labels on one snapshot. */
export const MAX_LABELS = 256;

/** Checks labels against the limits; InvalidArgument names the offending key. Returns a copy. */
export function validateLabels(labels: unknown): Labels {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw invalidArgument('invalid labels: expected an object of string keys and values');
  }
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw invalidArgument(`too many labels: ${entries.length} (at most ${MAX_LABELS})`);
  const out: Labels = {};
  for (const [key, value] of entries) {
    if (key === '') throw invalidArgument('invalid label: empty key');
    if (typeof value !== 'string') throw invalidArgument(`invalid label ${JSON.stringify(key.slice(0, 64))}: value must be a string`);
    if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) {
      throw invalidArgument(`invalid label ${JSON.stringify(key.slice(0, 64))}: key and value exceed ${MAX_LABEL_BYTES} bytes`);
    }
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Applies an update of labels to current ones: fieldPaths `labels` (all) or
 * `labels.<key>` (that key: set from next, or removed when next lacks it);
 * none means replace all. InvalidArgument for any other path (name, parent,
 * kind never change) or labels over the limits.
 */
export function applyLabelUpdate(current: Labels, next: Labels, fieldPaths: readonly string[] = []): Labels {
  if (fieldPaths.length === 0 || fieldPaths.includes('labels')) {
    for (const path of fieldPaths) checkPath(path);
    return validateLabels(next);
  }
  const out: Labels = validateLabels(current);
  for (const path of fieldPaths) {
    checkPath(path);
    const key = path.slice('labels.'.length);
    const value = Object.hasOwn(next, key) ? next[key] : undefined;
    if (value === undefined) delete out[key];
    else Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return validateLabels(out);
}

function checkPath(path: string): void {
  if (path === 'labels') return;
  if (!path.startsWith('labels.') || path.length === 'labels.'.length) {
    throw invalidArgument(`cannot update ${JSON.stringify(path)}: only "labels" and "labels.<key>" can change`);
  }
}
