import { describe, expect, it } from 'vitest';
import { parseChallenges } from './challenge.js';

describe('parseChallenges', () => {
  it.each([
    [
      'Docker Hub bearer',
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    ],
    ['basic', 'Basic realm="strata-test"', [{ scheme: 'basic', params: { realm: 'strata-test' } }]],
    [
      'two challenges, a quoted comma and an escaped quote',
      'Bearer realm="https://a/t",scope="repository:a:pull,push", Basic realm="say \\"hi\\""',
      [
        { scheme: 'bearer', params: { realm: 'https://a/t', scope: 'repository:a:pull,push' } },
        { scheme: 'basic', params: { realm: 'say "hi"' } },
      ],
    ],
    ['unquoted values and spaces', 'bearer  realm = https://a/t , error=insufficient_scope', [{ scheme: 'bearer', params: { realm: 'https://a/t', error: 'insufficient_scope' } }]],
    ['an unterminated quote keeps what came before', 'Bearer realm="https://a/t", service="x', [{ scheme: 'bearer', params: { realm: 'https://a/t' } }]],
    ['nothing', '', []],
  ])('%s', (_, header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});
