import { describe, expect, it } from 'vitest';
import { parseOciJson, stringifyOciJson } from './oci-json.js';

describe('OCI JSON', () => {
  const spec = { process: { rlimits: [{ type: 'RLIMIT_MEMLOCK', soft: -1, hard: -1 }, { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }] }, other: { soft: -1 } };

  it('writes an rlimit of -1 as RLIM_INFINITY, and only there', () => {
    const text = stringifyOciJson(spec);
    expect(text).toContain('{"type":"RLIMIT_MEMLOCK","soft":18446744073709551615,"hard":18446744073709551615}');
    expect(text).toContain('"other":{"soft":-1}');
  });

  it('reads RLIM_INFINITY back as -1', () => {
    expect(parseOciJson(stringifyOciJson(spec))).toEqual(spec);
  });
});
