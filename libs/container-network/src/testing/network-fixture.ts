import { randomBytes, randomInt } from 'node:crypto';
import type { BridgeNetworkOptions, NetworkConfig } from '../bridge-network.js';
import { runCommand } from '../command.js';

/** Bridge, subnet, chain and netns names no other test run uses, for a test's own network. */
export type UniqueNetworkNames = Required<Pick<BridgeNetworkOptions, 'bridge' | 'subnet' | 'chainPrefix' | 'netnsPrefix'>>;

/**
 * Names for a test's own bridge network: bridge `stb<6 hex>`, a random /24
 * in 10.200.0.0–10.249.255.0 (clear of the default 10.88.0.0/16 and
 * Docker's 172.17.0.0/16), chains `ST<6 hex>-…`, netns `stn<6 hex>-…`.
 */
export function uniqueNetworkNames(): UniqueNetworkNames {
  const tag = randomBytes(3).toString('hex');
  return {
    bridge: `stb${tag}`,
    subnet: `10.${randomInt(200, 250)}.${randomInt(0, 256)}.0/24`,
    chainPrefix: `ST${tag}`,
    netnsPrefix: `stn${tag}-`,
  };
}

/**
 * What of a network is still on the host: the veths (`veth<id prefix>`) and
 * namespaces of ids and iptables-save lines tagged for them; with bridgeToo
 * also its bridge, every namespace with its prefix and every iptables-save
 * line naming its chains or bridge. Empty when everything is gone.
 */
export async function networkLeftovers(config: NetworkConfig, ids: readonly string[], options: { bridgeToo?: boolean } = {}): Promise<string[]> {
  const out: string[] = [];
  const links = (await runCommand('ip', ['-o', 'link', 'show'])).stdout.split('\n');
  for (const line of links) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name === undefined) continue;
    if ((options.bridgeToo === true && name === config.bridge) || ids.some((id) => name === `veth${id.slice(0, 11)}`)) out.push(`link ${name}`);
  }
  for (const line of (await runCommand('ip', ['netns', 'list'])).stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const ours = ids.some((id) => name === `${config.netnsPrefix}${id.slice(0, 12)}`);
    if (name !== '' && (ours || (options.bridgeToo === true && name.startsWith(config.netnsPrefix)))) out.push(`netns ${name}`);
  }
  const saved = (await runCommand('iptables-save', [])).stdout.split('\n');
  const prefix = config.chains.dnat.slice(0, -'DNAT'.length);
  for (const line of saved) {
    if (ids.some((id) => line.includes(`strata:${id}`))) out.push(`rule ${line}`);
    else if (options.bridgeToo === true && (line.includes(prefix) || line.includes(config.bridge))) out.push(`iptables ${line}`);
  }
  return out;
}
