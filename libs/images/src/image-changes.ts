import { invalidArgument } from '@strata/kit';
import type { ContainerConfig } from '@strata/oci';

/** The instructions a change may use, as `docker import --change` and `docker commit --change` allow them. */
export const CHANGE_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const;

const MAX_CHANGE_BYTES = 64 * 1024;

const shown = (text: string) => JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);

/** Words of text split at unquoted whitespace; double and single quotes group, a backslash escapes the next character. */
function words(text: string, change: string): string[] {
  const out: string[] = [];
  let current = '';
  let started = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) out.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (quote !== undefined) throw invalidArgument(`invalid change ${shown(change)}: unterminated quote`);
  if (started) out.push(current);
  return out;
}

/** `["a", "b"]` as a list of strings; undefined when args is not a JSON array (the shell form). */
function jsonForm(args: string, change: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) {
    throw invalidArgument(`invalid change ${shown(change)}: the JSON form must be an array of strings`);
  }
  return parsed as string[];
}

/** `KEY=value` pairs (or the legacy `KEY value`) of ENV and LABEL. */
function pairs(args: string, change: string, instruction: string): Array<[string, string]> {
  const list = words(args, change);
  if (list.length === 0) throw invalidArgument(`invalid change ${shown(change)}: ${instruction} needs at least one argument`);
  if (!(list[0] as string).includes('=')) {
    const [key, ...rest] = list;
    if (rest.length === 0) throw invalidArgument(`invalid change ${shown(change)}: ${instruction} ${key} needs a value`);
    return [[key as string, rest.join(' ')]];
  }
  return list.map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw invalidArgument(`invalid change ${shown(change)}: ${instruction} expects KEY=VALUE, got ${shown(word)}`);
    return [word.slice(0, eq), word.slice(eq + 1)];
  });
}

function port(word: string, change: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (m === null || Number(m[1]) > 65_535 || (m[2] !== undefined && Number(m[2]) > 65_535)) {
    throw invalidArgument(`invalid change ${shown(change)}: invalid port ${shown(word)}; expected PORT[/PROTO], e.g. 80 or 53/udp`);
  }
  return `${m[1]}${m[2] === undefined ? '' : `-${m[2]}`}/${(m[3] ?? 'tcp').toLowerCase()}`;
}

/**
 * Applies Dockerfile instructions to a run config, in order, as `docker
 * import --change` / `docker commit --change` do, and returns the new
 * config (config is not modified). CMD and ENTRYPOINT take the JSON form
 * (`CMD ["nginx", "-g", "daemon off;"]`) or the shell form (`CMD nginx -g
 * 'daemon off;'`, run by `/bin/sh -c`); ENV and LABEL `K=V` pairs (quotes
 * allowed) or the legacy `ENV K V`; EXPOSE ports `80`, `53/udp`; VOLUME a
 * JSON array or paths; WORKDIR a path (relative to the previous one);
 * USER, STOPSIGNAL and ONBUILD their text. Raises InvalidArgument with a
 * sentence quoting the change for an instruction not in
 * {@link CHANGE_INSTRUCTIONS} (Docker's `… is not a valid change command`),
 * a missing argument, a malformed port or JSON form, or a change over 64 KiB.
 */
export function applyChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const out: ContainerConfig = structuredClone(config);
  for (const change of changes) {
    if (change.length > MAX_CHANGE_BYTES) throw invalidArgument(`invalid change ${shown(change)}: longer than ${MAX_CHANGE_BYTES} bytes`);
    const trimmed = change.trim();
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
    if (m === null) throw invalidArgument('invalid change "": expected an instruction such as CMD, ENV or EXPOSE');
    const instruction = (m[1] as string).toUpperCase();
    const args = (m[2] ?? '').trim();
    if (!(CHANGE_INSTRUCTIONS as readonly string[]).includes(instruction)) {
      throw invalidArgument(`${(m[1] as string).slice(0, 50)} is not a valid change command; use one of ${CHANGE_INSTRUCTIONS.join(', ')}`);
    }
    const needArgs = () => {
      if (args === '') throw invalidArgument(`invalid change ${shown(change)}: ${instruction} needs an argument`);
    };
    switch (instruction) {
      case 'CMD':
      case 'ENTRYPOINT': {
        needArgs();
        const argv = jsonForm(args, change) ?? ['/bin/sh', '-c', args];
        if (instruction === 'CMD') out.Cmd = argv;
        else {
          out.Entrypoint = argv;
          // As Docker: a new ENTRYPOINT drops the CMD it was given with.
          delete out.Cmd;
        }
        break;
      }
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [key, value] of pairs(args, change, instruction)) {
          const at = env.findIndex((e) => e.slice(0, e.indexOf('=') === -1 ? e.length : e.indexOf('=')) === key);
          if (at === -1) env.push(`${key}=${value}`);
          else env[at] = `${key}=${value}`;
        }
        out.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(out.Labels ?? {}) };
        for (const [key, value] of pairs(args, change, instruction)) labels[key] = value;
        out.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        const list = words(args, change);
        if (list.length === 0) needArgs();
        for (const word of list) ports[port(word, change)] = {};
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        needArgs();
        const volumes = { ...(out.Volumes ?? {}) };
        for (const path of jsonForm(args, change) ?? words(args, change)) {
          if (path === '') throw invalidArgument(`invalid change ${shown(change)}: VOLUME paths must not be empty`);
          volumes[path] = {};
        }
        out.Volumes = volumes;
        break;
      }
      case 'WORKDIR': {
        needArgs();
        const [dir] = words(args, change);
        const path = dir as string;
        out.WorkingDir = path.startsWith('/') ? path : `${(out.WorkingDir ?? '/').replace(/\/+$/, '')}/${path}`;
        break;
      }
      case 'USER':
        needArgs();
        out.User = args;
        break;
      case 'STOPSIGNAL':
        needArgs();
        out.StopSignal = args;
        break;
      case 'ONBUILD':
        needArgs();
        out.OnBuild = [...(out.OnBuild ?? []), args];
        break;
    }
  }
  return out;
}
