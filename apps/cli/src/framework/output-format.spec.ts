import { isInvalidArgument } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { headerOf, parseInspectFormat, parseListFormat, printInspected, printList, type ListFormat, type ListView } from './output-format.js';
import { formatTable } from './table.js';

interface Row {
  ID: string;
  Names: string;
  Status: string;
}

const rows: Row[] = [
  { ID: 'abc123', Names: 'web', Status: 'Up 2 minutes' },
  { ID: 'def4567890', Names: 'database', Status: 'Exited (0) 1 hour ago' },
];

const view: ListView<Row> = {
  table: (all) => formatTable(['container id', 'names'], all.map((r) => [r.ID, r.Names])),
  headers: { ID: 'CONTAINER ID', Names: 'NAMES' },
};

function printed(format: ListFormat, list: readonly Row[] = rows, v: ListView<Row> = view): string {
  let out = '';
  printList({ write: (t) => (out += t) }, format, list, v);
  return out;
}

describe('parseListFormat', () => {
  it('keeps table and json as they are', () => {
    expect(parseListFormat('table')).toBe('table');
    expect(parseListFormat('json')).toBe('json');
    expect(parseListFormat('table  ')).toBe('table');
    expect(parseListFormat('')).toBe('table');
    expect(parseInspectFormat('')).toBe('json');
  });

  it('reads a template, with or without table, \\t and \\n written as two characters made a tab and a newline', () => {
    const plain = parseListFormat(' {{.ID}}\\t{{.Names}}\\n ');
    expect(plain).toMatchObject({ table: false });
    expect(typeof plain === 'object' && plain.template.source).toBe('{{.ID}}\t{{.Names}}\n');
    const table = parseListFormat('table {{.ID}}\\t{{.Names}}');
    expect(typeof table === 'object' && [table.table, table.template.source]).toEqual([true, '{{.ID}}\t{{.Names}}']);
  });

  it('raises InvalidArgument for a template that does not parse', () => {
    expect(() => parseListFormat('{{.ID')).toThrow('template parsing error: template: :1:0: unclosed action');
    try {
      parseListFormat('table {{nope .ID}}');
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });
});

describe('printList', () => {
  it('prints the command table for table, and the JSON array for json', () => {
    expect(printed('table')).toBe(view.table(rows));
    expect(JSON.parse(printed('json'))).toEqual(rows);
  });

  it('prints a line per row for a template, with no header', () => {
    expect(printed(parseListFormat('{{.ID}}\\t{{.Names}}'))).toBe('abc123\tweb\ndef4567890\tdatabase\n');
    expect(printed(parseListFormat('{{json .}}'))).toBe(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  });

  it("heads a table template with Docker's headers and aligns its columns", () => {
    expect(printed(parseListFormat('table {{.ID}}\\t{{.Names}}\\t{{.Status}}'))).toBe(
      ['CONTAINER ID  NAMES     STATUS', 'abc123        web       Up 2 minutes', 'def4567890    database  Exited (0) 1 hour ago', ''].join('\n'),
    );
  });

  it('heads fields Docker names no header for by their words in capitals, and leaves functions out of the header', () => {
    expect(printed(parseListFormat('table {{.Status | upper}}:{{lower .Names}}'))).toBe(['STATUS:NAMES', 'UP 2 MINUTES:web', 'EXITED (0) 1 HOUR AGO:database', ''].join('\n'));
  });

  it('prints the header of a table template with no rows', () => {
    expect(printed(parseListFormat('table {{.ID}}\\t{{.Names}}'), [])).toBe('CONTAINER ID  NAMES\n');
  });

  it('runs the template on the fields the view gives for a row', () => {
    const withMethod: ListView<Row> = { ...view, fields: (row, i) => ({ ...row, Label: (key: unknown) => `${String(key)}-${i}` }) };
    expect(printed(parseListFormat('table {{.Names}}\\t{{.Label "x"}}'), rows, withMethod)).toBe(['NAMES     LABEL', 'web       x-0', 'database  x-1', ''].join('\n'));
  });

  it('raises InvalidArgument naming a field a row does not have', () => {
    expect(() => printed(parseListFormat('{{.Nope}}'))).toThrow("template: :1:2: executing at <.Nope>: can't evaluate field Nope (the fields of . are ID, Names, Status)");
  });
});

describe('printInspected', () => {
  const objects = [{ Id: 'a', State: { Status: 'running' } }, { Id: 'b', State: { Status: 'exited' } }];
  const inspected = (format: string | undefined) => {
    let out = '';
    printInspected({ write: (t) => (out += t) }, format === undefined ? undefined : parseInspectFormat(format), objects);
    return out;
  };

  it('prints the JSON array without a format and for json', () => {
    expect(inspected(undefined)).toBe(`${JSON.stringify(objects, null, 2)}\n`);
    expect(inspected('json')).toBe(inspected(undefined));
  });

  it('prints the template once per object, each followed by a newline, \\t as written', () => {
    expect(inspected('{{.Id}}={{.State.Status}}')).toBe('a=running\nb=exited\n');
    expect(inspected('{{.Id}}\\t')).toBe('a\\t\nb\\t\n');
  });
});

describe('headerOf', () => {
  it.each([
    ['ID', 'ID'],
    ['CreatedAt', 'CREATED AT'],
    ['runningContainers', 'RUNNING CONTAINERS'],
    ['PIDs', 'PIDS'],
    ['CPUPerc', 'CPU PERC'],
  ])('%s -> %s', (field, header) => {
    expect(headerOf(field)).toBe(header);
  });
});
