import type { CertificateInfo, IssuedCertificate } from '@strata/fleet-ca';
import { defineCommand } from '../framework/command.js';
import { flags, type Flag } from '../framework/flags.js';
import { formatTable } from '../framework/table.js';
import { UsageError } from '../framework/usage-error.js';
import { formatFlag, printJson } from './common-flags.js';

/** `--dir`: the fleet CA's directory. */
const caDirFlag = flags.string('Directory of the fleet CA (ca.crt, ca.key, issued.jsonl)', {
  placeholder: 'DIR',
  env: 'STRATA_CA_DIR',
  default: '/var/lib/strata/ca',
});

const caDaysFlag = flags.int('Days the CA is valid', { placeholder: 'N', default: 3650, min: 1, max: 36_500 });

/** `--days` of an issued certificate: 365, or the days the CA has left, when not given. */
const certDaysFlag: Flag<number | undefined> = {
  description: "Days the certificate is valid (365, or what is left of the CA's validity, when not given)",
  placeholder: 'N',
  initial: undefined,
  parse(raw, name) {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 36_500) throw new UsageError(`flag ${name} needs a whole number of days from 1 to 36500, got ${JSON.stringify(raw)}`);
    return n;
  },
};

const day = (d: Date) => d.toISOString().slice(0, 10);

function names(info: Pick<CertificateInfo, 'dnsNames' | 'ipAddresses'>): string {
  return [...info.dnsNames.map((n) => `DNS:${n}`), ...info.ipAddresses.map((a) => `IP:${a}`)].join(', ');
}

function certificateJson(info: CertificateInfo) {
  return { ...info, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString() };
}

async function fleetCa(dir: string) {
  const { createFleetCa } = await import('@strata/fleet-ca');
  return createFleetCa({ dir });
}

/** `strata ca init`: creates the fleet CA. */
export const caInitCommand = defineCommand({
  name: 'ca init',
  summary: 'Create the fleet CA that signs node and client certificates for mutual TLS',
  description:
    'Creates a certificate authority for the fleet: an EC P-256 key (ca.key, mode 0600) and a self-signed CA certificate (ca.crt) in a 0700 directory. ' +
    'Services on TCP accept only clients with a certificate it signed. Keep ca.key safe: it signs every node and client.',
  flags: {
    dir: caDirFlag,
    name: flags.string('Common name of the CA', { placeholder: 'NAME', default: 'strata fleet CA' }),
    days: caDaysFlag,
    format: formatFlag,
  },
  async run({ flags: f, io }) {
    const ca = await fleetCa(f.dir);
    const info = await ca.init({ name: f.name, days: f.days });
    if (f.format === 'json') {
      printJson(io.stdout, { dir: ca.dir, cert: `${ca.dir}/ca.crt`, key: `${ca.dir}/ca.key`, certificate: certificateJson(info) });
      return;
    }
    io.stdout.write(
      [
        `Created the fleet CA "${info.commonName}" in ${ca.dir}, valid until ${day(info.notAfter)}`,
        `  certificate  ${ca.dir}/ca.crt`,
        `  key          ${ca.dir}/ca.key (mode 0600; it signs every node and client: keep it safe)`,
        `  fingerprint  SHA256 ${info.fingerprint}`,
        'Next: strata ca issue node NAME --ip ADDRESS, and strata ca issue client NAME',
        '',
      ].join('\n'),
    );
  },
});

function printIssued(io: { stdout: { write(t: string): unknown } }, issued: IssuedCertificate, format: 'table' | 'json'): void {
  const { files, info } = issued;
  if (format === 'json') {
    printJson(io.stdout, { kind: issued.kind, name: issued.name, files, certificate: certificateJson(info) });
    return;
  }
  const lines = [
    `Issued ${issued.kind} certificate ${issued.name} (serial ${info.serial}), valid until ${day(info.notAfter)}`,
    `  certificate  ${files.cert}`,
    `  key          ${files.key} (mode 0600)`,
    `  CA           ${files.ca}`,
    `  usage        ${info.usages.join(', ')}`,
  ];
  if (issued.kind === 'node') {
    lines.push(`  names        ${names(info)}`);
    lines.push(`Serve gRPC on TCP with: --tcp-listen HOST:PORT --tls-cert ${files.cert} --tls-key ${files.key} --tls-ca ${files.ca}`);
  }
  io.stdout.write(lines.join('\n') + '\n');
}

/** `strata ca issue node NAME`: a certificate for a host that serves and calls. */
export const caIssueNodeCommand = defineCommand({
  name: 'ca issue node',
  summary: 'Issue a node certificate (TLS server and client) signed by the fleet CA',
  description:
    'Issues a certificate for a node: usable to serve gRPC on TCP and to call other nodes. Its subjectAltNames are NAME plus every --dns and --ip; ' +
    'clients check the address they dial against them. Writes NAME.crt, NAME.key (mode 0600) and ca.crt into --out (<ca dir>/nodes/NAME by default).',
  usage: 'NAME',
  minArgs: 1,
  flags: {
    dir: caDirFlag,
    dns: flags.list('Another DNS name of the node', { placeholder: 'NAME' }),
    ip: flags.list('An IP address of the node', { placeholder: 'ADDRESS' }),
    out: flags.string('Directory to write the files to (created 0700)', { placeholder: 'DIR' }),
    days: certDaysFlag,
    format: formatFlag,
  },
  async run({ flags: f, args, io }) {
    const ca = await fleetCa(f.dir);
    const issued = await ca.issue({
      kind: 'node',
      name: args[0]!,
      dns: f.dns,
      ips: f.ip,
      ...(f.days === undefined ? {} : { days: f.days }),
      ...(f.out === undefined ? {} : { out: f.out }),
    });
    printIssued(io, issued, f.format);
  },
});

/** `strata ca issue client NAME`: a certificate for a program or person that calls. */
export const caIssueClientCommand = defineCommand({
  name: 'ca issue client',
  summary: 'Issue a client certificate (TLS client only) signed by the fleet CA',
  description:
    'Issues a certificate that lets a program or a person call the services of the fleet over TCP; it cannot serve. ' +
    'Writes NAME.crt, NAME.key (mode 0600) and ca.crt into --out (<ca dir>/clients/NAME by default).',
  usage: 'NAME',
  minArgs: 1,
  flags: {
    dir: caDirFlag,
    out: flags.string('Directory to write the files to (created 0700)', { placeholder: 'DIR' }),
    days: certDaysFlag,
    format: formatFlag,
  },
  async run({ flags: f, args, io }) {
    const ca = await fleetCa(f.dir);
    const issued = await ca.issue({
      kind: 'client',
      name: args[0]!,
      ...(f.days === undefined ? {} : { days: f.days }),
      ...(f.out === undefined ? {} : { out: f.out }),
    });
    printIssued(io, issued, f.format);
  },
});

/** `strata ca show`: the fleet CA and what it issued. */
export const caShowCommand = defineCommand({
  name: 'ca show',
  summary: 'Show the fleet CA and the certificates it issued',
  flags: { dir: caDirFlag, format: formatFlag },
  async run({ flags: f, io }) {
    const summary = await (await fleetCa(f.dir)).show();
    const { certificate: c } = summary;
    if (f.format === 'json') {
      printJson(io.stdout, { ...summary, certificate: certificateJson(c) });
      return;
    }
    const rows = summary.issued.map((r) => [r.kind, r.name, r.serial, r.notAfter.slice(0, 10), names(r), r.dir]);
    io.stdout.write(
      [
        `CA:          ${c.commonName}`,
        `Directory:   ${summary.dir}`,
        `Key:         ${summary.hasKey ? `${summary.dir}/ca.key` : 'not in this directory (kept elsewhere): nothing can be issued here'}`,
        `Algorithm:   ${c.key}`,
        `Serial:      ${c.serial}`,
        `Fingerprint: SHA256 ${c.fingerprint}`,
        `Valid:       ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()}`,
        '',
        formatTable(['kind', 'name', 'serial', 'expires', 'names', 'directory'], rows),
      ].join('\n'),
    );
  },
});

/** Every `strata ca` command, in help order. */
export const caCommands = [caInitCommand, caIssueNodeCommand, caIssueClientCommand, caShowCommand];
