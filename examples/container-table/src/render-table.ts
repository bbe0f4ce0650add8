import { tableRows, type ContainerRow, type TableState } from './table-state.js';

/** The STATUS column of a row, worded like `docker ps`: Created, Up, Exited (137, OOM-killed). */
export function statusText(row: ContainerRow): string {
  const kills = row.oomKills === 1 ? '1 OOM kill' : `${row.oomKills} OOM kills`;
  switch (row.status) {
    case 'created':
      return 'Created';
    case 'running':
      return row.oomKills > 0 ? `Up (${kills})` : 'Up';
    case 'exited':
      return `Exited (${row.exitCode ?? 0}${row.oomKilled ? ', OOM-killed' : ''})`;
  }
}

const HEADERS = ['NODE', 'CONTAINER', 'NAME', 'IMAGE', 'STATUS'] as const;

/**
 * The table as text: a header line and one line per container that is not
 * deleted (by node, then name), columns two spaces apart, the last one not
 * padded; container ids cut to 12 characters as `docker ps` does, and
 * `<unknown>` for a name or image no event has told.
 */
export function renderTable(state: TableState): string {
  const rows = tableRows(state).map((r) => [r.node, r.id.slice(0, 12), r.name || '<unknown>', r.image || '<unknown>', statusText(r)]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(HEADERS), ...rows.map(line)].join('\n') + '\n';
}
