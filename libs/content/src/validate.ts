import { invalidArgument } from '@strata/kit';
import type { Labels } from './types.js';

const REF = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}$/;

/** Checks an ingest ref; InvalidArgument names what is wrong. Refs never contain `..`. */
export function validateRef(ref: unknown): string {
  if (typeof ref !== 'string' || ref === '') throw invalidArgument('invalid ref: empty');
  if (!REF.test(ref) || ref.includes('..')) {
    throw invalidArgument(
      `invalid ref ${JSON.stringify(ref.slice(0, 300))}: use 1 to 256 of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit, without ".."`,
      { fields: { ref: ref.slice(0, 300) } },
    );
  }
  return ref;
}

/** Largest sum of key and value lengths of one label, as in containerd. */
export const MAX_LABEL_BYTES = 4096;
/** Most labels on one blob. */
export const MAX_LABELS = 256;

/** Checks labels against the limits; InvalidArgument names the offending key. */
export function validateLabels(labels: Labels): Labels {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw invalidArgument('invalid labels: expected an object of string keys and values');
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw invalidArgument(`too many labels: ${entries.length} (at most ${MAX_LABELS})`);
  for (const [key, value] of entries) {
    if (key === '') throw invalidArgument('invalid label: empty key');
    if (typeof value !== 'string') throw invalidArgument(`invalid label ${JSON.stringify(key)}: value must be a string`);
    if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) {
      throw invalidArgument(`invalid label ${JSON.stringify(key.slice(0, 64))}: key and value exceed ${MAX_LABEL_BYTES} bytes`);
    }
  }
  return labels;
}

/**
 * Applies an update of labels to current ones: fieldPaths `labels` (all) or
 * `labels.<key>` (that key: set from next, or removed when next lacks it);
 * none means replace all. InvalidArgument for any other path.
 */
export function applyLabelUpdate(current: Labels, next: Labels, fieldPaths: readonly string[] = []): Labels {
  if (fieldPaths.length === 0) return validateLabels({ ...next });
  const out: Labels = { ...current };
  for (const path of fieldPaths) {
    if (path === 'labels') return validateLabels({ ...next });
    if (!path.startsWith('labels.') || path.length === 'labels.'.length) {
      throw invalidArgument(`cannot update ${JSON.stringify(path)}: only "labels" and "labels.<key>" can change`);
    }
    const key = path.slice('labels.'.length);
    const value = Object.hasOwn(next, key) ? next[key] : undefined;
    if (value === undefined) delete out[key];
    else Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return validateLabels(out);
}
