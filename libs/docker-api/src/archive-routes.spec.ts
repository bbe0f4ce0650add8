import { describe, expect, it } from 'vitest';
import { goFileMode, pathStatHeader } from './archive-routes.js';

describe("Docker's path stat", () => {
  it.each([
    [0o100644, 0o644],
    [0o040755, 2 ** 31 + 0o755],
    [0o120777, 2 ** 27 + 0o777],
    [0o104755, 2 ** 23 + 0o755],
    [0o041777, 2 ** 31 + 2 ** 20 + 0o777],
    [0o020666, 2 ** 26 + 2 ** 21 + 0o666],
    [0o010600, 2 ** 25 + 0o600],
  ])("gives st_mode %o as Go's FileMode %d", (mode, go) => {
    expect(goFileMode(mode)).toBe(go);
  });

  it('is base64 JSON with the RFC 3339 mtime the docker CLI reads', () => {
    const header = pathStatHeader({ name: 'hostname', size: 13, mode: 0o100644, mtime: new Date('2026-11-29T08:00:00.123Z'), linkTarget: '' });
    expect(JSON.parse(Buffer.from(header, 'base64').toString())).toEqual({ name: 'hostname', size: 13, mode: 0o644, mtime: '2026-11-29T08:00:00.123000000Z', linkTarget: '' });
  });
});
