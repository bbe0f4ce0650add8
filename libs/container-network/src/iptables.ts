import { internal } from '@strata/kit';
import { mustRun, runCommand } from './command.js';

/** Which kernel back end an `iptables` binary drives: nf_tables (iptables-nft) or the legacy xtables. */
export type IptablesVariant = 'nf_tables' | 'legacy';

/** An iptables table Strata uses. */
export type Table = 'nat' | 'filter';

/** Splits one line of `iptables -S` into arguments, honouring double quotes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) current += line[++i];
      else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') {
      quoted = true;
      started = true;
    } else if (ch === ' ') {
      if (started) out.push(current);
      current = '';
      started = false;
    } else {
      current += ch;
      started = true;
    }
  }
  if (started) out.push(current);
  return out;
}

/**
 * A thin driver of one `iptables` binary through execFile, always with `-w`
 * (the xtables lock of the legacy variant; harmless for nf_tables). Every
 * method raises Internal with iptables' message when a call fails for another
 * reason than the one it tolerates, and Unavailable when iptables is missing.
 */
export class Iptables {
  constructor(readonly binary = 'iptables') {}

  private run(table: Table, args: readonly string[]) {
    return runCommand(this.binary, ['-w', '-t', table, ...args]);
  }

  /** The back end this binary drives, from `iptables --version` (`iptables v1.8.9 (nf_tables)` or `(legacy)`). */
  async variant(): Promise<IptablesVariant> {
    const out = await mustRun(this.binary, ['--version']);
    if (out.includes('nf_tables')) return 'nf_tables';
    if (out.includes('legacy') || /^iptables v1\.[0-6]\./.test(out.trim())) return 'legacy';
    throw internal(`cannot tell the variant of ${this.binary} from ${JSON.stringify(out.trim())}`);
  }

  /** True when chain exists in table. */
  async chainExists(table: Table, chain: string): Promise<boolean> {
    return (await this.run(table, ['-S', chain])).code === 0;
  }

  /** Creates chain in table unless it exists. */
  async ensureChain(table: Table, chain: string): Promise<void> {
    if (await this.chainExists(table, chain)) return;
    const result = await this.run(table, ['-N', chain]);
    if (result.code !== 0 && !(await this.chainExists(table, chain))) {
      throw internal(`iptables -t ${table} -N ${chain} failed: ${result.stderr.trim()}`);
    }
  }

  /** True when a rule with exactly this spec is in chain (`iptables -C`). */
  async ruleExists(table: Table, chain: string, spec: readonly string[]): Promise<boolean> {
    return (await this.run(table, ['-C', chain, ...spec])).code === 0;
  }

  /** Adds the rule unless an identical one is there: appended, or inserted first with `insert`. */
  async ensureRule(table: Table, chain: string, spec: readonly string[], insert = false): Promise<void> {
    if (await this.ruleExists(table, chain, spec)) return;
    await mustRun(this.binary, ['-w', '-t', table, insert ? '-I' : '-A', chain, ...(insert ? ['1'] : []), ...spec]);
  }

  /**
   * Deletes every copy of the rule with exactly this spec (`iptables -D` with
   * the same arguments); true when one was there. A missing chain counts as
   * no rule.
   */
  async deleteRule(table: Table, chain: string, spec: readonly string[]): Promise<boolean> {
    let deleted = false;
    while (await this.ruleExists(table, chain, spec)) {
      await mustRun(this.binary, ['-w', '-t', table, '-D', chain, ...spec]);
      deleted = true;
    }
    return deleted;
  }

  /** The rules of chain as argument lists (without the leading `-A chain`); empty for a missing chain. */
  async listRules(table: Table, chain: string): Promise<string[][]> {
    const result = await this.run(table, ['-S', chain]);
    if (result.code !== 0) return [];
    const rules: string[][] = [];
    for (const line of result.stdout.split('\n')) {
      const args = splitRule(line.trim());
      if (args[0] === '-A' && args[1] === chain) rules.push(args.slice(2));
    }
    return rules;
  }

  /** Flushes and deletes chain; nothing happens when it does not exist. Rules jumping to it must be gone first. */
  async deleteChain(table: Table, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    await mustRun(this.binary, ['-w', '-t', table, '-F', chain]);
    await mustRun(this.binary, ['-w', '-t', table, '-X', chain]);
  }
}
