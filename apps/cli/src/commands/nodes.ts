import type { NodeView } from '@strata/nodes';
import { defineCommand } from '../framework/command.js';
import { binarySize } from '../framework/human-units.js';
import { formatTable } from '../framework/table.js';
import { natsFlag } from '../fleet/node-clients.js';
import { printList } from '../framework/output-format.js';
import { listFormatFlag, runDirFlag } from './common-flags.js';

/** Columns of `strata nodes`. */
export const NODES_HEADERS = ['NAME', 'ADDRESS', 'STATUS', 'CPUS', 'MEMORY', 'CONTAINERS', 'LABELS'] as const;

/** A node's cells under {@link NODES_HEADERS}. */
export function nodeCells(node: NodeView): string[] {
  const used = Math.max(0, node.memoryBytes - node.allocatableMemoryBytes);
  return [
    node.name,
    node.address === '' ? '-' : node.address,
    node.state === 'ready' ? 'Ready' : 'Down',
    String(node.cpus),
    `${binarySize(used)}/${binarySize(node.memoryBytes)}`,
    `${node.runningContainers}/${node.containers}`,
    Object.entries(node.labels)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  ];
}

/** A node as `strata nodes --format json` prints it. */
export function nodeJson(node: NodeView) {
  return {
    name: node.name,
    address: node.address,
    status: node.state === 'ready' ? 'Ready' : 'Down',
    cpus: node.cpus,
    allocatableCpus: node.allocatableCpus,
    memoryBytes: node.memoryBytes,
    allocatableMemoryBytes: node.allocatableMemoryBytes,
    runningContainers: node.runningContainers,
    containers: node.containers,
    labels: node.labels,
    cgroupVersion: node.cgroupVersion,
    runtime: node.runtime,
    kernel: node.kernel,
    version: node.version,
    heartbeatAt: node.heartbeatAt.toISOString(),
    heartbeatIntervalSeconds: node.heartbeatIntervalSeconds,
  };
}

/** `strata nodes`: the fleet's nodes from their heartbeats. */
export const nodesCommand = defineCommand({
  name: 'nodes',
  summary: 'List the nodes of the fleet',
  description:
    "Lists every node that heartbeats into NATS (the strata_nodes bucket), by name: the address its agent serves on, " +
    'its status (Down when it has not heartbeated for three intervals), CPUs, MEMORY as the limits of its running ' +
    'containers over the host memory, CONTAINERS as running/all, and its labels. A --format template sees the fields ' +
    'of --format json: .name, .address, .status, .cpus, .memoryBytes, .runningContainers, .labels...',
  flags: { format: listFormatFlag, nats: natsFlag, runDir: runDirFlag },
  async run({ flags: f, io }) {
    const { createNodeClients, localNodeName } = await import('../fleet/node-clients.js');
    const { resolveNatsUrl } = await import('./events.js');
    const fleet = createNodeClients({ natsUrl: resolveNatsUrl(f.nats, f.runDir), runDir: f.runDir, localNode: localNodeName(io.env) });
    try {
      const nodes = await fleet.nodes();
      printList(io.stdout, f.format, nodes.map(nodeJson), { table: () => formatTable(NODES_HEADERS, nodes.map(nodeCells)) });
    } finally {
      await fleet.close();
    }
  },
});
