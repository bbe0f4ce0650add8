/**
 * A seccomp profile of the user's (`--security-opt seccomp=FILE`), in
 * Docker's format: the OCI `linux.seccomp` fields plus `archMap` (the
 * architectures by host) and per-rule `includes` / `excludes` (by
 * capability, host architecture and kernel version). Docker's and podman's
 * default profiles are such files, so a user can start from one.
 *
 * The text is hostile input: {@link parseSeccompProfile} checks every
 * field and refuses, with a sentence naming the culprit, what runc would
 * fail on at start or what cannot be represented (an unknown action,
 * comparison or flag, an argument index above 5, a value above 2^53, a
 * notify action, which needs a seccomp agent this node does not run).
 * {@link resolveSeccompProfile} then gives the filter for one container.
 */
import { invalidArgument } from '@strata/kit';
import type { SeccompAction, SeccompArg, SeccompProfile, SeccompRule } from './runtime-spec.js';
import { seccompArchitectures } from './seccomp-profile.js';

/** The largest profile text taken (Docker's default profile is about 60 KiB, indented). */
export const MAX_SECCOMP_PROFILE_BYTES = 1 << 20;
const MAX_RULES = 4096;
const MAX_NAMES = 4096;

const ACTIONS: readonly SeccompAction[] = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_TRACE', 'SCMP_ACT_LOG',
];
const OPS: readonly SeccompArg['op'][] = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
/** The filter flags runc 1.1 sets. */
const FLAGS = ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'];
const ARCHITECTURES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
];
const SYSCALL_NAME = /^[a-z0-9_]{1,64}$/;
/** Go's names of host architectures, as `includes.arches` use them, by Node.js `process.arch`. */
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** When a rule applies: every listed capability held, the host's architecture listed, the kernel at least minKernel. */
export interface SeccompCondition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** A rule of a Docker-format profile. */
export interface SeccompProfileRule extends SeccompRule {
  includes?: SeccompCondition;
  excludes?: SeccompCondition;
}

/** A checked Docker-format profile. */
export interface SeccompProfileDocument {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] }[];
  flags?: string[];
  syscalls: SeccompProfileRule[];
}

type Json = Record<string, unknown>;

function fail(what: string): never {
  throw invalidArgument(`decoding seccomp profile failed: ${what}`);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function only(o: Json, where: string, known: readonly string[]): void {
  for (const key of Object.keys(o)) if (!known.includes(key)) fail(`${where} has an unknown field "${key}"`);
}

function stringList(v: unknown, where: string, allowed?: readonly string[], pattern?: RegExp): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail(`${where} must be a list of strings`);
  if (v.length > MAX_NAMES) fail(`${where} has more than ${MAX_NAMES} entries`);
  for (const s of v as string[]) {
    if (allowed !== undefined && !allowed.includes(s)) fail(`${where}: unknown value "${s}"`);
    if (pattern !== undefined && !pattern.test(s)) fail(`${where}: invalid name "${s}"`);
  }
  return [...(v as string[])];
}

function action(v: unknown, where: string): SeccompAction {
  if (v === 'SCMP_ACT_NOTIFY') fail(`${where}: SCMP_ACT_NOTIFY needs a seccomp agent, which this node does not run`);
  if (typeof v !== 'string' || !ACTIONS.includes(v as SeccompAction)) fail(`${where}: unknown action ${JSON.stringify(v)}, use one of ${ACTIONS.join(', ')}`);
  return v as SeccompAction;
}

function whole(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${where} must be a whole number from 0 to ${max}`);
  return v;
}

function condition(v: unknown, where: string): SeccompCondition | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(`${where} must be an object`);
  only(v, where, ['caps', 'arches', 'minKernel']);
  const caps = stringList(v.caps, `${where}.caps`, undefined, /^CAP_[A-Z_]+$/);
  const arches = stringList(v.arches, `${where}.arches`, undefined, /^[a-z0-9_]+$/);
  if (v.minKernel !== undefined && (typeof v.minKernel !== 'string' || !/^\d+(\.\d+){0,2}$/.test(v.minKernel))) fail(`${where}.minKernel must be a kernel version such as "4.8"`);
  return { ...(caps ? { caps } : {}), ...(arches ? { arches } : {}), ...(typeof v.minKernel === 'string' ? { minKernel: v.minKernel } : {}) };
}

function arg(v: unknown, where: string): SeccompArg {
  if (!isObject(v)) fail(`${where} must be an object`);
  only(v, where, ['index', 'value', 'valueTwo', 'op']);
  if (typeof v.op !== 'string' || !OPS.includes(v.op as SeccompArg['op'])) fail(`${where}: unknown comparison ${JSON.stringify(v.op)}, use one of ${OPS.join(', ')}`);
  return {
    index: whole(v.index, `${where}.index`, 5),
    value: whole(v.value ?? 0, `${where}.value`),
    ...(v.valueTwo === undefined ? {} : { valueTwo: whole(v.valueTwo, `${where}.valueTwo`) }),
    op: v.op as SeccompArg['op'],
  };
}

function rule(v: unknown, where: string): SeccompProfileRule {
  if (!isObject(v)) fail(`${where} must be an object`);
  only(v, where, ['name', 'names', 'action', 'errnoRet', 'args', 'comment', 'includes', 'excludes']);
  if (v.comment !== undefined && typeof v.comment !== 'string') fail(`${where}.comment must be a string`);
  const names = [...(v.name === undefined ? [] : (stringList([v.name], `${where}.name`, undefined, SYSCALL_NAME) ?? [])), ...(stringList(v.names, `${where}.names`, undefined, SYSCALL_NAME) ?? [])];
  if (names.length === 0) fail(`${where} names no syscall`);
  if (v.args !== undefined && v.args !== null && (!Array.isArray(v.args) || v.args.length > 6)) fail(`${where}.args must be a list of at most 6 comparisons`);
  const args = Array.isArray(v.args) ? v.args.map((a, i) => arg(a, `${where}.args[${i}]`)) : [];
  const includes = condition(v.includes, `${where}.includes`);
  const excludes = condition(v.excludes, `${where}.excludes`);
  return {
    names,
    action: action(v.action, `${where}.action`),
    ...(v.errnoRet === undefined ? {} : { errnoRet: whole(v.errnoRet, `${where}.errnoRet`, 4095) }),
    ...(args.length > 0 ? { args } : {}),
    ...(includes ? { includes } : {}),
    ...(excludes ? { excludes } : {}),
  };
}

/**
 * Checks a profile's text (Docker's format, see this module's comment).
 * InvalidArgument "decoding seccomp profile failed: …" naming the field.
 */
export function parseSeccompProfile(text: string): SeccompProfileDocument {
  if (Buffer.byteLength(text) > MAX_SECCOMP_PROFILE_BYTES) fail(`the profile is larger than ${MAX_SECCOMP_PROFILE_BYTES >> 10} KiB`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail((err as Error).message);
  }
  if (!isObject(doc)) fail('the profile must be a JSON object');
  only(doc, 'the profile', ['defaultAction', 'defaultErrnoRet', 'architectures', 'archMap', 'flags', 'syscalls', 'listenerPath', 'listenerMetadata']);
  if (doc.listenerPath !== undefined && doc.listenerPath !== '') fail('listenerPath needs a seccomp agent, which this node does not run');
  const architectures = stringList(doc.architectures, 'architectures', ARCHITECTURES);
  if (architectures !== undefined && doc.archMap !== undefined && doc.archMap !== null) fail("use either 'architectures' or 'archMap'");
  let archMap: SeccompProfileDocument['archMap'];
  if (doc.archMap !== undefined && doc.archMap !== null) {
    if (!Array.isArray(doc.archMap) || doc.archMap.length > ARCHITECTURES.length) fail('archMap must be a list of architectures');
    archMap = doc.archMap.map((entry: unknown, i) => {
      if (!isObject(entry)) fail(`archMap[${i}] must be an object`);
      only(entry, `archMap[${i}]`, ['architecture', 'subArchitectures']);
      const [architecture] = stringList([entry.architecture], `archMap[${i}].architecture`, ARCHITECTURES)!;
      return { architecture: architecture!, subArchitectures: stringList(entry.subArchitectures, `archMap[${i}].subArchitectures`, ARCHITECTURES) ?? [] };
    });
  }
  if (doc.syscalls !== undefined && doc.syscalls !== null && !Array.isArray(doc.syscalls)) fail('syscalls must be a list of rules');
  const rules = (doc.syscalls as unknown[] | undefined | null) ?? [];
  if (rules.length > MAX_RULES) fail(`more than ${MAX_RULES} syscall rules`);
  const flags = stringList(doc.flags, 'flags', FLAGS);
  return {
    defaultAction: action(doc.defaultAction, 'defaultAction'),
    ...(doc.defaultErrnoRet === undefined ? {} : { defaultErrnoRet: whole(doc.defaultErrnoRet, 'defaultErrnoRet', 4095) }),
    ...(architectures ? { architectures } : {}),
    ...(archMap ? { archMap } : {}),
    ...(flags && flags.length > 0 ? { flags } : {}),
    syscalls: rules.map((r, i) => rule(r, `syscalls[${i}]`)),
  };
}

/** Where a profile is resolved: the container's capabilities, the host's architecture and kernel. */
export interface SeccompHost {
  capabilities: readonly string[];
  /** Node.js `process.arch` of the host. */
  arch?: string;
  /** The kernel release (`os.release()`), for `minKernel`. */
  kernel: string;
}

function kernelAtLeast(release: string, min: string): boolean {
  const have = (release.match(/^\d+(\.\d+){0,2}/)?.[0] ?? '0').split('.').map(Number);
  const want = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (have[i] ?? 0) - (want[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

function applies(rule: SeccompProfileRule, host: SeccompHost, goArch: string | undefined): boolean {
  const { includes: inc, excludes: exc } = rule;
  if (inc?.caps !== undefined && !inc.caps.every((c) => host.capabilities.includes(c))) return false;
  if (inc?.arches !== undefined && inc.arches.length > 0 && (goArch === undefined || !inc.arches.includes(goArch))) return false;
  if (inc?.minKernel !== undefined && !kernelAtLeast(host.kernel, inc.minKernel)) return false;
  if (exc?.caps !== undefined && exc.caps.some((c) => host.capabilities.includes(c))) return false;
  if (exc?.arches !== undefined && goArch !== undefined && exc.arches.includes(goArch)) return false;
  if (exc?.minKernel !== undefined && kernelAtLeast(host.kernel, exc.minKernel)) return false;
  return true;
}

/**
 * The filter of a checked profile for one container, as Docker resolves
 * it: the rules whose includes hold and excludes do not (capabilities of
 * the container, the host's architecture, its kernel); the architectures
 * listed, or archMap's entry for the host with its sub-architectures (the
 * native one alone when the map has none). Rules whose action is the
 * default one are left out (libseccomp refuses them).
 */
export function resolveSeccompProfile(doc: SeccompProfileDocument, host: SeccompHost): SeccompProfile {
  const arch = host.arch ?? process.arch;
  const native = seccompArchitectures(arch)[0];
  const mapped = doc.archMap?.find((m) => m.architecture === native);
  const architectures = doc.architectures ?? (mapped ? [mapped.architecture, ...mapped.subArchitectures] : seccompArchitectures(arch));
  // libseccomp compares actions by value: KILL is KILL_THREAD, and ERRNO without a number is EPERM.
  const value = (action: SeccompAction, errno: number | undefined) => `${action === 'SCMP_ACT_KILL' ? 'SCMP_ACT_KILL_THREAD' : action} ${errno ?? 1}`;
  const sameAsDefault = (r: SeccompRule) => value(r.action, r.errnoRet) === value(doc.defaultAction, doc.defaultErrnoRet);
  const syscalls: SeccompRule[] = doc.syscalls
    .filter((r) => applies(r, host, GO_ARCH[arch]) && !sameAsDefault(r))
    .map(({ includes: _i, excludes: _e, ...r }) => ({ ...r, names: [...r.names], ...(r.args ? { args: r.args.map((a) => ({ ...a })) } : {}) }));
  return {
    defaultAction: doc.defaultAction,
    ...(doc.defaultErrnoRet === undefined ? {} : { defaultErrnoRet: doc.defaultErrnoRet }),
    architectures: [...architectures],
    ...(doc.flags ? { flags: [...doc.flags] } : {}),
    syscalls,
  };
}
