import { isAbsolute, resolve } from 'node:path';
import { parseMemory } from '@strata/cgroups';
import { parseTmpfsSpec, parseVolumeSpec, type MountSpec } from '@strata/containers';
import { invalidArgument } from '@strata/kit';

/**
 * The fields of one CSV record, as Go's encoding/csv reads the docker CLI's
 * `--mount` value: comma-separated, a field in double quotes may hold
 * commas and `""` for a quote. InvalidArgument for a stray quote.
 */
function csvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let value = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) throw invalidArgument(`parse error on line 1, column ${text.length + 1}: extraneous or missing " in quoted-field`);
        value += text.slice(i, quote);
        i = quote + 1;
        if (text[i] !== '"') break;
        value += '"';
        i += 1;
      }
      if (i < text.length && text[i] !== ',') throw invalidArgument(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      const comma = text.indexOf(',', i);
      value = text.slice(i, comma < 0 ? text.length : comma);
      if (value.includes('"')) throw invalidArgument(`parse error on line 1, column ${i + value.indexOf('"') + 1}: bare " in non-quoted-field`);
      i += value.length;
    }
    fields.push(value);
    if (i >= text.length) return fields;
    i += 1;
  }
}

/** Go's strconv.ParseBool. */
function parseBool(key: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw invalidArgument(`invalid value for ${key}: ${value}`);
}

/** A `./x` or `.` source relative to cwd, as the docker CLI makes it absolute. */
function localSource(source: string, cwd: string): string {
  return source === '.' || source.startsWith('./') ? resolve(cwd, source) : source;
}

/**
 * A `--mount` value as the docker CLI reads it (its MountOpt):
 * `type=bind|volume|tmpfs` (volume by default), `source`/`src`,
 * `target`/`dst`/`destination`, `readonly`/`ro` (bare or a boolean),
 * `bind-propagation` (rprivate only), `tmpfs-size` (64m, 1g…),
 * `tmpfs-mode` (octal), `volume-nocopy`, `consistency` (ignored, as on
 * Linux). Raises InvalidArgument with the docker CLI's texts: "invalid
 * field 'x' must be a key=value pair", "unexpected key 'x' in 'x=y'",
 * "target is required", "cannot mix 'tmpfs-*' options with mount type
 * 'bind'"; the mount's own rules are checked by the node.
 */
export function parseMountFlag(raw: string, cwd: string): MountSpec {
  let type = 'volume';
  let source = '';
  let target = '';
  let readOnly = false;
  const used = { bind: false, volume: false, tmpfs: false };
  let tmpfsSizeBytes: number | undefined;
  let tmpfsMode: number | undefined;
  for (const field of csvFields(raw)) {
    const eq = field.indexOf('=');
    if (eq < 0) {
      if (field === 'readonly' || field === 'ro') readOnly = true;
      else if (field === 'volume-nocopy') used.volume = true;
      else throw invalidArgument(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const key = field.slice(0, eq);
    const value = field.slice(eq + 1);
    switch (key) {
      case 'type':
        type = value.toLowerCase();
        break;
      case 'source':
      case 'src':
        source = localSource(value, cwd);
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'readonly':
      case 'ro':
        readOnly = parseBool(key, value);
        break;
      case 'consistency':
        break;
      case 'bind-propagation':
        used.bind = true;
        if (value.toLowerCase() !== 'rprivate') throw invalidArgument(`invalid value for ${key}: ${value} (Strata's binds are rprivate)`);
        break;
      case 'volume-nocopy':
        used.volume = true;
        parseBool(key, value);
        break;
      case 'tmpfs-size':
        used.tmpfs = true;
        try {
          tmpfsSizeBytes = parseMemory(value);
        } catch {
          throw invalidArgument(`invalid value for ${key}: ${value}`);
        }
        break;
      case 'tmpfs-mode':
        used.tmpfs = true;
        if (!/^[0-7]{1,11}$/.test(value) || Number.parseInt(value, 8) > 0xffffffff) throw invalidArgument(`invalid value for ${key}: ${value}`);
        tmpfsMode = Number.parseInt(value, 8);
        break;
      default:
        throw invalidArgument(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type === '') throw invalidArgument('type is required');
  if (target === '') throw invalidArgument('target is required');
  for (const kind of ['volume', 'bind', 'tmpfs'] as const) {
    if (used[kind] && type !== kind) throw invalidArgument(`cannot mix '${kind}-*' options with mount type '${type}'`);
  }
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') {
    throw invalidArgument(`invalid mount config for type "${type}": mount type unknown`);
  }
  return {
    type,
    source,
    target,
    readOnly,
    ...(tmpfsSizeBytes ? { tmpfsSizeBytes } : {}),
    ...(tmpfsMode ? { tmpfsMode } : {}),
  };
}

/**
 * A `-v` value: `parseVolumeSpec`'s reading, with a source starting with
 * `.` made absolute against cwd, as the docker CLI does (`-v ./data:/data`).
 */
export function parseVolumeFlag(raw: string, cwd: string): MountSpec {
  const colon = raw.indexOf(':');
  const source = colon < 0 ? '' : raw.slice(0, colon);
  if (colon > 0 && (source === '.' || source.startsWith('./') || source === '..' || source.startsWith('../')) && !isAbsolute(source)) {
    return parseVolumeSpec(`${resolve(cwd, source)}${raw.slice(colon)}`);
  }
  return parseVolumeSpec(raw);
}

/**
 * The mounts of `-v`, `--mount` and `--tmpfs`, in that order. A bad
 * `--mount` is a flag error as the docker CLI's ("invalid argument \"x\"
 * for \"--mount\" flag: …"); `-v` and `--tmpfs` raise the daemon's texts.
 */
export function mountsOfFlags(flags: { volume: readonly string[]; mount: readonly string[]; tmpfs: readonly string[] }, cwd: string): MountSpec[] {
  const mounts = flags.mount.map((raw) => {
    try {
      return parseMountFlag(raw, cwd);
    } catch (err) {
      throw invalidArgument(`invalid argument "${raw}" for "--mount" flag: ${(err as Error).message}`, { cause: err });
    }
  });
  return [...flags.volume.map((raw) => parseVolumeFlag(raw, cwd)), ...mounts, ...flags.tmpfs.map(parseTmpfsSpec)];
}
