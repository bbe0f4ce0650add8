import { invalidArgument } from '@strata/kit';
import { readRootFile } from './root-file.js';

/** The largest uid or gid a container user may have (as Docker: 2^31 - 1). */
export const MAX_ID = 2 ** 31 - 1;

/** A user resolved against a container's /etc/passwd and /etc/group. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Groups the user is a member of in /etc/group (only when no group was named), without gid. */
  additionalGids: number[];
  /** The home directory from /etc/passwd, `/` when the user has no entry. */
  home: string;
}

/** One /etc/passwd entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One /etc/group entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;

function parseId(text: string): number | undefined {
  if (!NUMERIC.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_ID ? value : undefined;
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('+') && !line.startsWith('-'))
    .map((line) => line.split(':'));
}

/**
 * Parses /etc/passwd text; lines that are malformed (fewer than 7 fields,
 * ids that are not numbers in range), comments and NIS `+`/`-` lines are
 * skipped, as libc does.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const fields of lines(text)) {
    if (fields.length < 7) continue;
    const uid = parseId(fields[2]!);
    const gid = parseId(fields[3]!);
    if (uid === undefined || gid === undefined || fields[0] === '') continue;
    out.push({ name: fields[0]!, uid, gid, home: fields[5]! });
  }
  return out;
}

/** Parses /etc/group text, skipping malformed lines as {@link parsePasswd} does. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const fields of lines(text)) {
    if (fields.length < 4) continue;
    const gid = parseId(fields[2]!);
    if (gid === undefined || fields[0] === '') continue;
    out.push({ name: fields[0]!, gid, members: fields[3]!.split(',').filter((m) => m !== '') });
  }
  return out;
}

/**
 * Resolves a user spec from already-read /etc/passwd and /etc/group text
 * (undefined when the image has no such file), with Docker's rules:
 * `""` is root; `name` and `uid` match a passwd entry by name or by uid
 * (its gid and home apply); a number that matches no entry is used as is
 * with gid 0 and home `/`; `user:group` and `uid:gid` take the group by
 * name or number from /etc/group (a number that matches no group is used as
 * is). When no group is named, the user's memberships in /etc/group become
 * additionalGids. Raises InvalidArgument (with a sentence naming the user
 * or group) for a name that matches no entry, an id above 2147483647, or a
 * malformed spec.
 */
export function resolveUserFromFiles(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const parts = spec.split(':');
  if (parts.length > 2) throw invalidArgument(`invalid user "${spec}": use name, uid, name:group or uid:gid`);
  const userArg = parts[0] === '' ? (parts.length === 2 ? '' : '0') : parts[0]!;
  const groupArg = parts.length === 2 ? parts[1]! : undefined;
  if (userArg === '' || groupArg === '') throw invalidArgument(`invalid user "${spec}": use name, uid, name:group or uid:gid`);
  if (spec.includes('\0')) throw invalidArgument('invalid user: it contains a NUL byte');

  const users = passwd === undefined ? [] : parsePasswd(passwd);
  const numericUser = NUMERIC.test(userArg) ? parseId(userArg) : undefined;
  if (NUMERIC.test(userArg) && numericUser === undefined) throw invalidArgument(`invalid user "${spec}": uids must be in range 0-${MAX_ID}`);
  const entry = users.find((u) => u.name === userArg || (numericUser !== undefined && u.uid === numericUser));
  if (entry === undefined && numericUser === undefined) {
    throw invalidArgument(`unable to find user ${userArg}: no matching entries in the image's /etc/passwd`);
  }
  const resolved: ResolvedUser = entry
    ? { uid: entry.uid, gid: entry.gid, additionalGids: [], home: entry.home === '' ? '/' : entry.home }
    : { uid: numericUser!, gid: 0, additionalGids: [], home: '/' };

  const groups = group === undefined ? [] : parseGroup(group);
  if (groupArg !== undefined) {
    const numericGroup = NUMERIC.test(groupArg) ? parseId(groupArg) : undefined;
    if (NUMERIC.test(groupArg) && numericGroup === undefined) throw invalidArgument(`invalid user "${spec}": gids must be in range 0-${MAX_ID}`);
    const found = groups.find((g) => g.name === groupArg || (numericGroup !== undefined && g.gid === numericGroup));
    if (found === undefined && numericGroup === undefined) {
      throw invalidArgument(`unable to find group ${groupArg}: no matching entries in the image's /etc/group`);
    }
    resolved.gid = found?.gid ?? numericGroup!;
  } else if (entry !== undefined) {
    const member = new Set<number>();
    for (const g of groups) if (g.members.includes(entry.name) && g.gid !== resolved.gid) member.add(g.gid);
    resolved.additionalGids = [...member];
  }
  return resolved;
}

/**
 * Resolves a user spec (see {@link resolveUserFromFiles}) against the
 * /etc/passwd and /etc/group of the root file system at rootfs. The files
 * are hostile input: they are found inside the root with chroot semantics
 * (symlinks never lead out of it), must be regular files of at most 1 MiB,
 * and are only parsed as text — nothing from the image is executed or
 * loaded (CVE-2019-14271). Missing files count as empty. Raises
 * InvalidArgument for a user or group that matches nothing and for files
 * that are not regular or are too large.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const [passwd, group] = await Promise.all([readRootFile(rootfs, '/etc/passwd'), readRootFile(rootfs, '/etc/group')]);
  return resolveUserFromFiles(spec, passwd?.toString('utf8'), group?.toString('utf8'));
}
