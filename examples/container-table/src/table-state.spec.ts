import { describe, expect, it } from 'vitest';
import { makeCloudEvent, type CloudEvent } from '@strata/kit';
import { renderTable, statusText } from './render-table.js';
import { applyEvent, applyEvents, emptyTable, tableRows, type ContainerRow } from './table-state.js';

const ID_A = 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0a1b2';
const ID_B = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';

let clock = Date.parse('2026-11-28T10:00:00Z');

/** A container event as the node-agent publishes it (data in the JSON mapping of proto/strata/events/v1/containers.proto). */
function event(type: string, data: Record<string, unknown>, options: { node?: string; id?: string } = {}): CloudEvent {
  const node = options.node ?? (data.node as string | undefined) ?? 'node-1';
  const e = makeCloudEvent(`strata/node-agent/${node}`, type, String(data.id), data, new Date((clock += 1000)));
  return options.id === undefined ? e : { ...e, id: options.id };
}

const created = (id: string, name: string, image: string, node = 'node-1') => event('container.created', { id, name, image, imageId: 'sha256:1', node });
const started = (id: string, name: string, node = 'node-1') => event('container.started', { id, name, pid: 4242, node });
const exited = (id: string, name: string, exitCode: number, oomKilled = false, node = 'node-1') =>
  event('container.exited', { id, name, exitCode, oomKilled, finishedAt: '2026-11-28T10:01:00Z', node });
const oom = (id: string, name: string, node = 'node-1') => event('container.oom', { id, name, node });
const deleted = (id: string, name: string, node = 'node-1') => event('container.deleted', { id, name, node });

const rowsOf = (events: CloudEvent[]) => tableRows(applyEvents(emptyTable(), events)).map((r) => [r.node, r.id.slice(0, 12), r.name, r.image, statusText(r)]);

describe('applyEvent', () => {
  it.each([
    { name: 'created', events: () => [created(ID_A, 'web', 'busybox')], status: 'Created' },
    { name: 'started', events: () => [created(ID_A, 'web', 'busybox'), started(ID_A, 'web')], status: 'Up' },
    { name: 'exited 0', events: () => [created(ID_A, 'web', 'busybox'), started(ID_A, 'web'), exited(ID_A, 'web', 0)], status: 'Exited (0)' },
    {
      name: 'OOM-killed',
      events: () => [created(ID_A, 'web', 'busybox'), started(ID_A, 'web'), oom(ID_A, 'web'), exited(ID_A, 'web', 137, true)],
      status: 'Exited (137, OOM-killed)',
    },
    { name: 'running after an OOM kill of a child', events: () => [created(ID_A, 'web', 'busybox'), started(ID_A, 'web'), oom(ID_A, 'web'), oom(ID_A, 'web')], status: 'Up (2 OOM kills)' },
    {
      name: 'started again after an exit',
      events: () => [created(ID_A, 'web', 'busybox'), started(ID_A, 'web'), oom(ID_A, 'web'), exited(ID_A, 'web', 137, true), started(ID_A, 'web')],
      status: 'Up',
    },
  ])('shows a container $name as $status', ({ events, status }) => {
    expect(rowsOf(events())).toEqual([['node-1', ID_A.slice(0, 12), 'web', 'busybox', status]]);
  });

  it('drops a container on container.deleted, and nothing brings it back', () => {
    const create = created(ID_A, 'web', 'busybox');
    const state = applyEvents(emptyTable(), [create, started(ID_A, 'web'), exited(ID_A, 'web', 0), deleted(ID_A, 'web')]);
    expect(tableRows(state)).toEqual([]);
    const after = applyEvents(state, [create, started(ID_A, 'web')]);
    expect(tableRows(after)).toEqual([]);
    expect(after.ignored).toBe(2);
  });

  it('applies an event id once: a redelivery changes nothing but the ignored count', () => {
    const start = started(ID_A, 'web');
    const once = applyEvents(emptyTable(), [created(ID_A, 'web', 'busybox'), start, exited(ID_A, 'web', 3)]);
    const again = applyEvent(once, start);
    expect(tableRows(again)).toEqual(tableRows(once));
    expect([again.applied, again.ignored]).toEqual([3, 1]);
  });

  it('makes the same table when the whole stream is delivered twice', () => {
    const events = [created(ID_A, 'web', 'busybox'), started(ID_A, 'web'), created(ID_B, 'db', 'postgres', 'node-2'), started(ID_B, 'db', 'node-2'), exited(ID_A, 'web', 1)];
    const once = applyEvents(emptyTable(), events);
    const twice = applyEvents(once, events);
    expect(renderTable(twice)).toBe(renderTable(once));
    expect(twice.ignored).toBe(events.length);
  });

  it('keeps containers of different nodes apart, even with the same id', () => {
    expect(rowsOf([created(ID_A, 'web', 'busybox', 'node-2'), created(ID_A, 'web', 'nginx', 'node-1'), started(ID_A, 'web', 'node-2')])).toEqual([
      ['node-1', ID_A.slice(0, 12), 'web', 'nginx', 'Created'],
      ['node-2', ID_A.slice(0, 12), 'web', 'busybox', 'Up'],
    ]);
  });

  it('shows a container whose container.created left the stream with what the later events tell', () => {
    expect(rowsOf([started(ID_B, 'db')])).toEqual([['node-1', ID_B.slice(0, 12), 'db', '', 'Up']]);
  });

  it('takes the node from the event source when the data has none', () => {
    const e = makeCloudEvent('strata/node-agent/edge-7', 'container.created', ID_A, { id: ID_A, name: 'web', image: 'busybox' });
    expect(tableRows(applyEvent(emptyTable(), e))[0]?.node).toBe('edge-7');
  });

  it('leaves the table as it is for events of other kinds', () => {
    const state = applyEvent(emptyTable(), created(ID_A, 'web', 'busybox'));
    const pulled = makeCloudEvent('strata/registry-mirror/n1', 'image.pulled', 'docker.io/library/busybox:latest', { ref: 'busybox' });
    const exec = makeCloudEvent('strata/node-agent/n1', 'exec.started', ID_A, { id: ID_A, execId: 'e1', args: ['sh'], node: 'n1' });
    expect(applyEvent(applyEvent(state, pulled), exec)).toBe(state);
  });

  it('never changes the table it is given', () => {
    const before = applyEvents(emptyTable(), [created(ID_A, 'web', 'busybox'), started(ID_A, 'web')]);
    const text = renderTable(before);
    const entries = [...before.entries];
    applyEvents(before, [exited(ID_A, 'web', 2), deleted(ID_A, 'web'), created(ID_B, 'db', 'postgres')]);
    expect(renderTable(before)).toBe(text);
    expect([...before.entries]).toEqual(entries);
  });

  it('reads data with fields missing or of the wrong shape without throwing', () => {
    const odd = { ...makeCloudEvent('strata/node-agent/n1', 'container.exited', ID_A, null), data: 'not an object' } as CloudEvent;
    expect(rowsOf([odd])).toEqual([['n1', ID_A.slice(0, 12), '', '', 'Exited (0)']]);
  });
});

describe('renderTable', () => {
  it('lays out NODE CONTAINER NAME IMAGE STATUS by node, then name', () => {
    const state = applyEvents(emptyTable(), [
      created(ID_B, 'zeta', 'postgres:16', 'node-2'),
      created(ID_A, 'web', 'docker.io/library/busybox:latest'),
      started(ID_A, 'web'),
      created(ID_B, 'alpha', 'redis', 'node-1'),
      started(ID_B, 'db-no-create', 'node-3'),
    ]);
    expect(renderTable(state)).toBe(
      [
        'NODE    CONTAINER     NAME          IMAGE                             STATUS',
        'node-1  b0b0b0b0b0b0  alpha         redis                             Created',
        'node-1  a1b2c3d4e5f6  web           docker.io/library/busybox:latest  Up',
        'node-2  b0b0b0b0b0b0  zeta          postgres:16                       Created',
        'node-3  b0b0b0b0b0b0  db-no-create  <unknown>                         Up',
        '',
      ].join('\n'),
    );
  });

  it('is only the header for an empty table', () => {
    expect(renderTable(emptyTable())).toBe('NODE  CONTAINER  NAME  IMAGE  STATUS\n');
  });

  it.each<[Partial<ContainerRow>, string]>([
    [{ status: 'created' }, 'Created'],
    [{ status: 'running' }, 'Up'],
    [{ status: 'running', oomKills: 1 }, 'Up (1 OOM kill)'],
    [{ status: 'exited', exitCode: 0 }, 'Exited (0)'],
    [{ status: 'exited', exitCode: 143 }, 'Exited (143)'],
    [{ status: 'exited', exitCode: 137, oomKilled: true }, 'Exited (137, OOM-killed)'],
  ])('words the status %j as %s', (fields, text) => {
    const row: ContainerRow = { node: 'n', id: ID_A, name: 'x', image: 'y', status: 'created', oomKilled: false, oomKills: 0, updatedAt: '', ...fields };
    expect(statusText(row)).toBe(text);
  });
});
