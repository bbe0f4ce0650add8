import { HEADER_FUNCTIONS, parseTemplate, type Template } from './go-template.js';
import { alignColumns } from './table.js';

/** A Go template a listing command runs on each row; with a header row and aligned columns when table. */
export interface RowTemplate {
  table: boolean;
  template: Template;
}

/** `--format` of a listing command: its table, its JSON, or Docker's template forms. */
export type ListFormat = 'table' | 'json' | RowTemplate;

/** `-f`/`--format` of an inspect command: the JSON array, or a Go template run on each object. */
export type InspectFormat = 'json' | Template;

/**
 * Reads a listing command's `--format` as `docker ps` does: `table`,
 * `json`, `table TEMPLATE` or any other text as a TEMPLATE (an empty one
 * is `table`); in a template
 * `\t` and `\n` written as two characters are a tab and a newline, and
 * spaces around it are dropped. Raises InvalidArgument `template parsing
 * error: …` for a template that does not parse.
 */
export function parseListFormat(raw: string): ListFormat {
  if (raw === 'table' || raw === 'json') return raw;
  if (raw.trim() === '') return 'table';
  const table = raw.startsWith('table');
  const text = (table ? raw.slice('table'.length) : raw).trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  if (table && text === '') return 'table';
  return { table, template: parseTemplate(text) };
}

/** Reads an inspect command's `--format`: `json` (or empty), or a template taken as written. */
export function parseInspectFormat(raw: string): InspectFormat {
  return raw === 'json' || raw === '' ? 'json' : parseTemplate(raw);
}

/** `CreatedAt` → `CREATED AT`: the header of a field Docker names none for. */
export function headerOf(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z]{2,})/g, '$1 $2')
    .toUpperCase();
}

/** How a listing command shows its rows. */
export interface ListView<R> {
  /** The command's own table, for `--format table`. */
  table(rows: readonly R[]): string;
  /** What a template sees as `.` for a row; the row itself by default (what `--format json` prints). */
  fields?(row: R, index: number): object;
  /** Docker's header of a field (`ID` → `CONTAINER ID`); {@link headerOf} for the others. */
  headers?: Readonly<Record<string, string>>;
}

type Out = { write(text: string): unknown };

/** Writes value as indented JSON and a newline. */
export function printJson(out: Out, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Writes rows in format: the command's table; the indented JSON array of
 * the rows; or the template's output for each row on a line of its own,
 * and with `table` after a header row (the template run on the fields'
 * headers, with Docker's formatting functions leaving them as they are),
 * the tab-separated cells aligned in columns. Raises InvalidArgument
 * naming what failed when the template does not run on a row.
 */
export function printList<R>(out: Out, format: ListFormat, rows: readonly R[], view: ListView<R>): void {
  if (format === 'table') {
    out.write(view.table(rows));
    return;
  }
  if (format === 'json') {
    printJson(out, rows);
    return;
  }
  const data = rows.map((row, i) => view.fields?.(row, i) ?? (row as object));
  const lines = data.map((d) => format.template.execute(d));
  if (!format.table) {
    out.write(lines.map((line) => `${line}\n`).join(''));
    return;
  }
  const header = headerRow(format.template, data[0], view.headers ?? {});
  const text = [...(header === undefined ? [] : [header]), ...lines].join('\n');
  out.write(alignColumns(text.split('\n').map((line) => line.split('\t'))));
}

/** The header row of a table template; undefined when the template does not run on the headers. */
function headerRow(template: Template, sample: object | undefined, headers: Readonly<Record<string, string>>): string | undefined {
  const fields = new Set([...Object.keys(headers), ...Object.keys(sample ?? {})]);
  const named: Record<string, unknown> = {};
  for (const field of fields) {
    const header = headers[field] ?? headerOf(field);
    named[field] = typeof (sample as Record<string, unknown> | undefined)?.[field] === 'function' ? () => header : header;
  }
  try {
    return template.execute(named, { functions: HEADER_FUNCTIONS });
  } catch {
    return undefined;
  }
}

/**
 * Writes inspected objects in format: the indented JSON array (no format,
 * or `json`), or the template's output for each object followed by a
 * newline, as `docker inspect -f` does. Raises InvalidArgument naming what
 * failed when the template does not run on an object; those before it are
 * written.
 */
export function printInspected(out: Out, format: InspectFormat | undefined, values: readonly unknown[]): void {
  if (format === undefined || format === 'json') {
    printJson(out, values);
    return;
  }
  for (const value of values) out.write(`${format.execute(value)}\n`);
}
