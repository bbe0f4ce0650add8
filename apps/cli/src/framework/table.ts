/**
 * Lays rows out in columns under upper-case headers, two spaces apart, the
 * way `docker ps` does; the last column is not padded.
 */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return alignColumns([headers.map((h) => h.toUpperCase()), ...rows]);
}

/**
 * Lines of cells in columns two spaces apart, as Go's tabwriter lays out
 * tab-separated text: a column is as wide as its widest cell that is not
 * the last of its line; the last cell of a line is not padded.
 */
export function alignColumns(lines: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = [];
  for (const cells of lines) cells.forEach((c, i) => i < cells.length - 1 && (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return lines.map(line).join('\n') + '\n';
}
