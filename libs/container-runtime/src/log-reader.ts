import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** One record of a container's log (Docker's json-file format). */
export interface LogRecord {
  /** The bytes read, decoded as UTF-8: a whole line with its newline, or a piece of at most 16 KiB of a longer one. */
  log: string;
  stream: 'stdout' | 'stderr';
  /** RFC 3339 time with nanoseconds, UTC, of the read that produced it. */
  time: string;
}

/** Settings of {@link readLogFiles}. */
export interface ReadLogFilesOptions {
  /** Only the last N records (across rotated files). */
  tail?: number;
  /** Keep reading new records until done() says the writer has finished (and all is read) or signal aborts. */
  follow?: boolean;
  /** Consulted while following when no new record came: true once nothing more will be written. */
  done?: () => Promise<boolean>;
  signal?: AbortSignal;
  /** How often to look for new records while following; 100 ms by default. */
  pollMs?: number;
}

export const LOG_FILE = 'log.json';
const CHUNK = 64 * 1024;

/** The log files of dir, oldest first: log.json.N … log.json.1, log.json. */
async function logFiles(dir: string): Promise<string[]> {
  const rotated = (await readdir(dir))
    .map((name) => /^log\.json\.(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[0], n: Number(m[1]) }))
    .sort((a, b) => b.n - a.n)
    .map((f) => f.name);
  return [...rotated, LOG_FILE];
}

function parseLine(line: string): LogRecord | undefined {
  if (line.length === 0) return undefined;
  try {
    const rec = JSON.parse(line) as LogRecord;
    return typeof rec.log === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads whole lines of fh from pos; returns them and the position after the last whole line. */
async function readLinesFrom(fh: FileHandle, pos: number): Promise<{ lines: string[]; pos: number }> {
  const lines: string[] = [];
  let carry = Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos + carry.length);
    if (bytesRead === 0) break;
    const data = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      lines.push(data.toString('utf8', start, nl));
      start = nl + 1;
    }
    pos += start;
    carry = Buffer.from(data.subarray(start));
  }
  return { lines, pos };
}

/**
 * The last `need` whole lines of fh before end, oldest first, and the
 * position after the last whole line (a torn last line is not counted).
 */
async function lastLines(fh: FileHandle, end: number, need: number): Promise<{ lines: string[]; wholeEnd: number }> {
  const lines: string[] = [];
  let pos = end;
  let carry = Buffer.alloc(0);
  let wholeEnd = -1;
  while (pos > 0 && (lines.length < need || wholeEnd < 0)) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = Buffer.allocUnsafe(len);
    await fh.read(buf, 0, len, pos);
    const data = Buffer.concat([buf, carry]);
    let stop = data.length;
    if (wholeEnd < 0) {
      const nl = data.lastIndexOf(10);
      if (nl === -1) {
        carry = data;
        continue;
      }
      wholeEnd = pos + nl + 1;
      stop = nl + 1;
    }
    for (let nl = data.lastIndexOf(10, stop - 1); nl !== -1 && lines.length < need; nl = data.lastIndexOf(10, stop - 1)) {
      if (nl + 1 < stop) lines.push(data.toString('utf8', nl + 1, stop));
      stop = nl;
    }
    carry = Buffer.from(data.subarray(0, stop));
  }
  if (pos === 0 && wholeEnd >= 0 && carry.length > 0 && lines.length < need) lines.push(carry.toString('utf8'));
  return { lines: lines.reverse(), wholeEnd: Math.max(wholeEnd, 0) };
}

/**
 * Reads the JSON-lines log files a monitor writes in dir, across rotations,
 * oldest record first; with follow, keeps yielding records as they are
 * written (switching to the new log.json when the monitor rotates) until
 * done() is true and everything is read, or signal aborts. Lines that are
 * not valid records (a torn last line) are skipped.
 */
export async function* readLogFiles(dir: string, options: ReadLogFilesOptions = {}): AsyncGenerator<LogRecord> {
  const names = await logFiles(dir);
  const handles: FileHandle[] = [];
  try {
    for (const name of names) {
      const fh = await openIfExists(join(dir, name));
      if (fh) handles.push(fh);
    }
    let current = handles[handles.length - 1];
    let pos = 0;
    if (options.tail !== undefined) {
      const picked: string[][] = [];
      let need = options.tail;
      const fhIsCurrent = (i: number) => handles[i] === current;
      for (let i = handles.length - 1; i >= 0 && (need > 0 || fhIsCurrent(i)); i--) {
        const fh = handles[i]!;
        const size = (await fh.stat()).size;
        const { lines, wholeEnd } = await lastLines(fh, size, need);
        if (fh === current) pos = wholeEnd;
        const valid = lines.filter((l) => parseLine(l));
        picked.unshift(valid);
        need -= valid.length;
      }
      for (const line of picked.flat()) {
        const rec = parseLine(line);
        if (rec) yield rec;
      }
    } else {
      for (const fh of handles) {
        const { lines, pos: end } = await readLinesFrom(fh, 0);
        if (fh === current) pos = end;
        for (const line of lines) {
          const rec = parseLine(line);
          if (rec) yield rec;
        }
      }
    }
    if (!options.follow) return;

    const path = join(dir, LOG_FILE);
    let finishing = false;
    for (;;) {
      if (options.signal?.aborted) return;
      if (current) {
        const { lines, pos: end } = await readLinesFrom(current, pos);
        pos = end;
        for (const line of lines) {
          const rec = parseLine(line);
          if (rec) yield rec;
        }
        if (lines.length > 0) continue;
      }
      const onDisk = await stat(path).catch(() => undefined);
      const mine = current ? await current.stat() : undefined;
      if (onDisk && (!mine || onDisk.ino !== mine.ino)) {
        const next = await openIfExists(path);
        if (next) {
          for (const fh of handles.splice(0)) await fh.close();
          handles.push(next);
          current = next;
          pos = 0;
          continue;
        }
      }
      if (finishing) return;
      if (options.done && (await options.done())) {
        finishing = true;
        continue;
      }
      try {
        await sleep(options.pollMs ?? 100, undefined, { signal: options.signal });
      } catch {
        return;
      }
    }
  } finally {
    await Promise.all(handles.map((fh) => fh.close()));
  }
}
