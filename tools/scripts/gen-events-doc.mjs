#!/usr/bin/env node
// Writes docs/events.md from proto/strata/events/v1/*.proto (`npm run gen:events-doc`).
// Every top-level message there is the data of one event type, named in its
// comment as `... is the data of event "<type>"`. With --check it writes
// nothing and exits 1 when docs/events.md differs from what it would write
// (the events-doc test runs that). --proto DIR and --out FILE point it at
// other files (for that test).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : resolve(args[i + 1] ?? '');
};
const check = args.includes('--check');
const protoDir = option('--proto', join(root, 'proto'));
const outFile = option('--out', join(root, 'docs', 'events.md'));
const EVENTS_DIR = 'strata/events/v1';
const MARKER = /\bis the data of event "([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)"/;

function fail(message) {
  console.error(`gen-events-doc: ${message}`);
  process.exit(1);
}

const buf = join(root, 'node_modules', '.bin', 'buf');
if (!existsSync(buf)) fail('node_modules/.bin/buf is missing; run `npm install` first');
let image;
try {
  const json = execFileSync(buf, ['build', '--path', EVENTS_DIR, '-o', '-#format=json'], {
    cwd: protoDir,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  image = JSON.parse(json);
} catch (err) {
  fail(`buf build failed in ${protoDir}:\n${err.stderr ?? err.message}`);
}

// Descriptor paths: 4 = message_type, 2 = field, 3 = nested_type, 5 = enum_type, 2 (in enum) = value.
function comments(file) {
  const byPath = new Map();
  for (const loc of file.sourceCodeInfo?.location ?? []) {
    const text = (loc.leadingComments ?? '').trim() || (loc.trailingComments ?? '').trim();
    if (text) byPath.set((loc.path ?? []).join('.'), text.replace(/\s*\n\s*/g, ' '));
  }
  return byPath;
}

const files = (image.file ?? []).filter((f) => f.name.startsWith(`${EVENTS_DIR}/`)).sort((a, b) => a.name.localeCompare(b.name));
const messages = new Map(); // full name → { message, file, path }
const enums = new Map();
for (const file of image.file ?? []) {
  const walkMessage = (m, full, p) => {
    messages.set(full, { message: m, file, path: p });
    (m.nestedType ?? []).forEach((n, i) => walkMessage(n, `${full}.${n.name}`, [...p, 3, i]));
    (m.enumType ?? []).forEach((e, i) => enums.set(`${full}.${e.name}`, { enumType: e, file, path: [...p, 4, i] }));
  };
  (file.messageType ?? []).forEach((m, i) => walkMessage(m, `.${file.package}.${m.name}`, [4, i]));
  (file.enumType ?? []).forEach((e, i) => enums.set(`.${file.package}.${e.name}`, { enumType: e, file, path: [5, i] }));
}

const SCALARS = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'boolean',
  TYPE_INT32: 'number (int32)',
  TYPE_SINT32: 'number (int32)',
  TYPE_SFIXED32: 'number (int32)',
  TYPE_UINT32: 'number (uint32)',
  TYPE_FIXED32: 'number (uint32)',
  TYPE_INT64: 'number (int64)',
  TYPE_SINT64: 'number (int64)',
  TYPE_SFIXED64: 'number (int64)',
  TYPE_UINT64: 'number (uint64)',
  TYPE_FIXED64: 'number (uint64)',
  TYPE_DOUBLE: 'number',
  TYPE_FLOAT: 'number',
  TYPE_BYTES: 'string (base64)',
};
const WELL_KNOWN = {
  '.google.protobuf.Timestamp': 'string (RFC 3339 time)',
  '.google.protobuf.Duration': 'string (seconds, e.g. "1.5s")',
  '.google.protobuf.Struct': 'object',
  '.google.protobuf.Value': 'any JSON value',
};

const referenced = new Set(); // message/enum full names documented under "Shared types"
// Names in the events package without it (BlobStored.Kind), others in full (strata.types.v1.Descriptor).
const shortName = (full) => (full.startsWith('.strata.events.v1.') ? full.slice('.strata.events.v1.'.length) : full.slice(1));
const anchor = (full) => `type-${full.slice(1).toLowerCase().replace(/\./g, '-')}`;

function valueType(field) {
  if (field.type === 'TYPE_MESSAGE' || field.type === 'TYPE_GROUP') {
    if (WELL_KNOWN[field.typeName]) return WELL_KNOWN[field.typeName];
    referenced.add(field.typeName);
    return `object ([${shortName(field.typeName)}](#${anchor(field.typeName)}))`;
  }
  if (field.type === 'TYPE_ENUM') {
    referenced.add(field.typeName);
    return `string ([${shortName(field.typeName)}](#${anchor(field.typeName)}))`;
  }
  return SCALARS[field.type] ?? field.type;
}

function fieldType(field) {
  if (field.label === 'LABEL_REPEATED' && field.type === 'TYPE_MESSAGE') {
    const entry = messages.get(field.typeName)?.message;
    if (entry?.options?.mapEntry) {
      const [key, value] = entry.field;
      return `object (map of ${SCALARS[key.type] ?? key.type} → ${valueType(value)})`;
    }
  }
  const type = valueType(field);
  return field.label === 'LABEL_REPEATED' ? `array of ${type}` : type;
}

const cell = (text) => (text ?? '').replace(/\|/g, '\\|');

function fieldTable(message, file, path) {
  const notes = comments(file);
  const rows = (message.field ?? []).map((f, i) => {
    const comment = notes.get([...path, 2, i].join('.')) ?? '';
    return `| \`${f.jsonName ?? f.name}\` | ${cell(fieldType(f))} | ${cell(comment)} |`;
  });
  if (rows.length === 0) return '_No fields._\n';
  return ['| field | JSON type | meaning |', '|---|---|---|', ...rows, ''].join('\n');
}

const events = [];
for (const file of files) {
  const notes = comments(file);
  (file.messageType ?? []).forEach((m, i) => {
    const comment = notes.get(`4.${i}`) ?? '';
    const match = MARKER.exec(comment);
    if (!match) {
      fail(`${file.name}: message ${m.name} does not say which event it is the data of; start its comment with '${m.name} is the data of event "<area>.<what>"'`);
    }
    events.push({ type: match[1], message: m, file, path: [4, i], comment, full: `.${file.package}.${m.name}` });
  });
}
events.sort((a, b) => a.type.localeCompare(b.type));
const seen = new Map();
for (const e of events) {
  if (seen.has(e.type)) fail(`event type "${e.type}" is the data of both ${seen.get(e.type)} and ${e.message.name}`);
  seen.set(e.type, e.message.name);
}

const sections = events.map((e) =>
  [
    `### \`${e.type}\``,
    '',
    `- NATS subject: \`strata.events.${e.type}\``,
    `- CloudEvent type: \`io.strata.${e.type}\``,
    `- data: \`${e.full.slice(1)}\` (${e.file.name})`,
    '',
    e.comment,
    '',
    fieldTable(e.message, e.file, e.path),
  ].join('\n'),
);

const shared = [];
const done = new Set();
for (let pending = [...referenced]; pending.length > 0; pending = [...referenced].filter((n) => !done.has(n))) {
  for (const name of pending.sort()) {
    done.add(name);
    const msg = messages.get(name);
    const en = enums.get(name);
    if (msg) {
      const note = comments(msg.file).get(msg.path.join('.')) ?? '';
      shared.push([`### <a id="${anchor(name)}"></a>\`${name.slice(1)}\``, '', note, '', fieldTable(msg.message, msg.file, msg.path)].join('\n'));
    } else if (en) {
      const notes = comments(en.file);
      const values = (en.enumType.value ?? []).map((v, i) => `| \`${v.name}\` | ${cell(notes.get([...en.path, 2, i].join('.')) ?? '')} |`);
      shared.push(
        [`### <a id="${anchor(name)}"></a>\`${name.slice(1)}\``, '', notes.get(en.path.join('.')) ?? '', '', '| value | meaning |', '|---|---|', ...values, ''].join('\n'),
      );
    }
  }
}

const index = ['| event type | NATS subject | data message |', '|---|---|---|'].concat(
  events.map((e) => `| [\`${e.type}\`](#${e.type.replace(/\./g, '')}) | \`strata.events.${e.type}\` | \`${e.message.name}\` |`),
);

const doc = `<!-- Generated by tools/scripts/gen-events-doc.mjs from proto/${EVENTS_DIR}/*.proto; do not edit.
     Change the protos and run \`npm run gen:events-doc\`; a test fails while this file is out of date. -->

# Strata events

Every state change in Strata is an event: a [CloudEvents 1.0](https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md)
JSON document published on NATS, on the subject \`strata.events.<type>\`, and kept by the JetStream
stream \`STRATA_EVENTS\` so that a consumer can replay from any point.

## The envelope

\`\`\`json
{
  "specversion": "1.0",
  "id": "0b8e4c2e-8a39-4f55-9d55-2a4e7bd0f3c1",
  "source": "strata/registry-mirror/node-1",
  "type": "io.strata.image.pulled",
  "subject": "docker.io/library/busybox:latest",
  "time": "2026-11-28T03:25:25.123Z",
  "datacontenttype": "application/json",
  "data": { "ref": "docker.io/library/busybox:latest", "digest": "sha256:…" }
}
\`\`\`

| attribute | meaning |
|---|---|
| \`id\` | A UUID, unique per event. The same event may be delivered more than once (delivery is at-least-once): dedupe on \`id\`. |
| \`source\` | \`strata/<service>/<node>\`: the service and the node that published it. |
| \`type\` | \`io.strata.<type>\`; the NATS subject carries the short \`<type>\`, e.g. \`image.pulled\`. |
| \`subject\` | The object the event is about (a digest, a reference, a container id…); each event type below says which. |
| \`time\` | When the service made the event (RFC 3339, UTC). An event buffered during a NATS outage is stored later than this. |
| \`data\` | The event's message below in the proto3 JSON mapping: lowerCamelCase names, fields with their default value (\`""\`, \`0\`, \`false\`, empty) left out, 64-bit integers as JSON numbers. |

## Delivery, dedupe and replay

- **Stream.** The JetStream stream \`STRATA_EVENTS\` captures every subject \`strata.events.>\` on file storage.
  The first Strata service to connect creates it; each service that connects later brings its limits up to date
  (the limits are service settings, below). The oldest events are discarded past a limit.
- **At-least-once, with unique ids.** A service publishes each event to JetStream and waits for the acknowledgement,
  retrying until it comes. The \`Nats-Msg-Id\` header is the event \`id\`, so JetStream itself drops a second copy
  stored within the duplicate window; a consumer should still dedupe on \`id\` (for example when it replays
  overlapping ranges).
- **NATS down.** Services keep working: events wait in a bounded in-memory buffer and are published in order when
  NATS is back. When the buffer is full the oldest events are dropped; drops are counted and logged as warnings
  (\`dropped N event(s) because NATS could not take them in time\`), never silent.
- **Replay.** Read the stream with a JetStream consumer on \`STRATA_EVENTS\`, filtered on \`strata.events.>\` or a
  narrower subject (\`strata.events.container.>\`, \`strata.events.*.exited\`), starting where you need
  (\`deliver_policy\` \`all\`, \`by_start_time\`, \`by_start_sequence\`, or \`new\` for live events only). An ordered
  ephemeral consumer leaves nothing behind on the server; a durable consumer remembers where a consumer stopped.
  In TypeScript, \`readEvents(nc, { since, until, subject, signal, logger })\` from \`@strata/events-nats\` does this.
- **From the command line.** \`strata events [--since TIME] [--until TIME] [--filter KEY=VALUE]… [--format json]\`
  replays from \`--since\` and then follows live events (filters: \`type\`, \`event\`, \`node\`, \`container\`, \`image\`).

### Settings of the services that publish events

| flag | environment | default | meaning |
|---|---|---|---|
| \`--events-buffer-size\` | \`STRATA_EVENTS_BUFFER_SIZE\` | 10000 | Events kept in memory while NATS is unreachable. |
| \`--events-max-age-seconds\` | \`STRATA_EVENTS_MAX_AGE_SECONDS\` | 604800 (7 days) | Events older than this leave the stream; 0 keeps them. |
| \`--events-max-bytes\` | \`STRATA_EVENTS_MAX_BYTES\` | 1073741824 (1 GiB) | Size of the stream past which the oldest events leave; -1 for no limit. |
| \`--events-max-msgs\` | \`STRATA_EVENTS_MAX_MSGS\` | -1 | Number of events past which the oldest leave; -1 for no limit. |
| \`--events-duplicate-window-seconds\` | \`STRATA_EVENTS_DUPLICATE_WINDOW_SECONDS\` | 120 | Window in which JetStream drops a second copy of an event id. |

## Event types

${index.join('\n')}

${sections.join('\n')}${shared.length > 0 ? `\n## Shared types\n\n${shared.join('\n')}` : ''}`;

const shown = relative(root, outFile) || outFile;
if (check) {
  const current = existsSync(outFile) ? readFileSync(outFile, 'utf8') : undefined;
  if (current !== doc) fail(`${shown} is out of date with proto/${EVENTS_DIR}; run \`npm run gen:events-doc\``);
} else {
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, doc);
  console.log(`gen-events-doc: wrote ${shown} (${events.length} event types)`);
}
