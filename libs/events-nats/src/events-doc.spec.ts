import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@strata/kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsConfigSpec } from './events-config.js';
import { EVENTS_STREAM, EVENTS_SUBJECTS } from './events-stream.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(root, 'tools/scripts/gen-events-doc.mjs');
const docPath = join(root, 'docs/events.md');
const dirs: Array<{ remove(): void }> = [];

function gen(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of proto/ with extra text appended to one events proto. */
function protoCopy(file: string, extra: string): string {
  const dir = tempDir('strata-events-doc-');
  dirs.push(dir);
  cpSync(join(root, 'proto'), dir.path, { recursive: true });
  writeFileSync(join(dir.path, 'strata/events/v1', file), extra);
  return dir.path;
}

afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe('docs/events.md', () => {
  it('is what tools/scripts/gen-events-doc.mjs makes from proto/strata/events/v1 (run `npm run gen:events-doc`)', () => {
    const r = gen('--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('names the stream, the subjects, dedupe by id and every event setting', () => {
    const doc = readFileSync(docPath, 'utf8');
    expect(doc).toContain(`\`${EVENTS_STREAM}\``);
    expect(doc).toContain(`\`${EVENTS_SUBJECTS}\``);
    expect(doc).toContain('dedupe on `id`');
    expect(doc).toContain('`Nats-Msg-Id` header is the event `id`');
    for (const [key, setting] of Object.entries(eventsConfigSpec)) {
      const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      expect(doc).toContain(`| \`${flag}\` | \`${setting.env}\` | ${String(setting.default)}`);
    }
  });
});

describe('gen-events-doc', () => {
  it('fails the check when a proto gains an event the doc does not have, and documents it when run', () => {
    const protos = protoCopy(
      'zz_test.proto',
      [
        'syntax = "proto3";',
        'package strata.events.v1;',
        'import "strata/types/v1/descriptor.proto";',
        '// NodeDrained is the data of event "node.drained": a node stopped heartbeating.',
        'message NodeDrained {',
        '  // The node that went down.',
        '  string node = 1;',
        '  // Seconds since its last heartbeat.',
        '  int64 silent_for = 2;',
        '  repeated string containers = 3;',
        '  strata.types.v1.Descriptor sample = 4;',
        '}',
        '',
      ].join('\n'),
    );
    const stale = gen('--check', '--proto', protos);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toBe('gen-events-doc: docs/events.md is out of date with proto/strata/events/v1; run `npm run gen:events-doc`\n');

    const out = join(protos, 'events.md');
    expect(gen('--proto', protos, '--out', out).status).toBe(0);
    const doc = readFileSync(out, 'utf8');
    expect(doc).toContain('| [`node.drained`](#nodedrained) | `strata.events.node.drained` | `NodeDrained` |');
    expect(doc).toContain('| `silentFor` | number (int64) | Seconds since its last heartbeat. |');
    expect(doc).toContain('| `containers` | array of string |  |');
    expect(doc).toContain('| `sample` | object ([strata.types.v1.Descriptor](#type-strata-types-v1-descriptor)) |  |');
    expect(doc).toContain('### <a id="type-strata-types-v1-descriptor"></a>`strata.types.v1.Descriptor`');
    expect(gen('--check', '--proto', protos, '--out', out).status).toBe(0);
  });

  it('refuses an events message that does not say which event it is', () => {
    const protos = protoCopy('zz_test.proto', 'syntax = "proto3";\npackage strata.events.v1;\n// Something else.\nmessage Loose { string a = 1; }\n');
    const r = gen('--check', '--proto', protos);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'gen-events-doc: strata/events/v1/zz_test.proto: message Loose does not say which event it is the data of; ' +
        'start its comment with \'Loose is the data of event "<area>.<what>"\'\n',
    );
  });
});
