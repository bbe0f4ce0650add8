import { applyChanges } from '@strata/images';
import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { commitConfigChanges, commitReference } from './commit-route.js';
import { dockerStatusOf } from './docker-error.js';

function failure(fn: () => unknown): { status: number; kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { status: dockerStatusOf(err), kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
}

describe('commitConfigChanges', () => {
  it.each([null, undefined, {}, { Tty: true, OpenStdin: true, Hostname: 'h', Healthcheck: null }])('gives no change for %j', (body) => {
    expect(commitConfigChanges(body)).toEqual([]);
  });

  it('turns a container config into the Dockerfile instructions of the Commit rpc', () => {
    const changes = commitConfigChanges({
      Cmd: ['httpd', '-f', '-p', '80'],
      Entrypoint: '/bin/sh',
      Env: ['A=1', 'B=two words'],
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      Labels: { app: 'web shop' },
      User: 'nobody',
      WorkingDir: '/srv',
      StopSignal: 'SIGINT',
    });
    expect(changes).toEqual([
      'ENTRYPOINT ["/bin/sh"]',
      'CMD ["httpd","-f","-p","80"]',
      'ENV A="1"',
      'ENV B="two words"',
      'EXPOSE 80/tcp',
      'VOLUME ["/data"]',
      'LABEL "app"="web shop"',
      'USER nobody',
      'WORKDIR /srv',
      'STOPSIGNAL SIGINT',
    ]);
    // The Commit rpc applies them with the images library: the result is the config that was sent.
    expect(applyChanges({ Env: ['PATH=/bin'] }, changes)).toEqual({
      Cmd: ['httpd', '-f', '-p', '80'],
      Entrypoint: ['/bin/sh'],
      Env: ['PATH=/bin', 'A=1', 'B=two words'],
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      Labels: { app: 'web shop' },
      User: 'nobody',
      WorkingDir: '/srv',
      StopSignal: 'SIGINT',
    });
  });

  it.each([
    [[1], 'invalid commit config: the body must be a container config object'],
    [{ Cmd: [1] }, 'invalid commit config: Cmd must be a list of strings'],
    [{ Env: ['NOEQUALS'] }, 'invalid commit config: Env entry "NOEQUALS" is not KEY=value'],
    [{ Labels: { a: 1 } }, 'invalid commit config: Labels must be an object of strings'],
    [{ ExposedPorts: ['80'] }, 'invalid commit config: ExposedPorts must be an object'],
    [{ User: 7 }, 'invalid commit config: User must be a string'],
    [
      { Healthcheck: { Test: ['NONE'] } },
      'invalid commit config: Healthcheck cannot be committed by Strata; use changes=… (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)',
    ],
  ])('refuses %j with 400', (body, message) => {
    const f = failure(() => commitConfigChanges(body));
    expect([f.status, f.message]).toEqual([400, message]);
  });
});

describe('commitReference', () => {
  it.each([
    [{ repo: 'app' }, 'docker.io/library/app:latest'],
    [{ repo: 'app', tag: 'v1' }, 'docker.io/library/app:v1'],
    [{ repo: 'localhost:5000/web02', tag: '1.1' }, 'localhost:5000/web02:1.1'],
  ])('tags %j as %s', (params, expected) => {
    expect(commitReference(new URLSearchParams(params))).toBe(expected);
  });

  it.each([
    [{}, 400, 'a commit needs a repository name (repo=…): Strata keeps no untagged images, so name the new image'],
    [{ repo: 'App' }, 400, 'invalid reference format: repository name must be lowercase'],
    [{ repo: 'app', tag: 'a/b' }, 400, 'invalid tag format: "a/b"'],
    [{ repo: 'app', tag: `sha256:${'a'.repeat(64)}` }, 400, 'refusing to create a tag with a digest reference'],
  ])('refuses %j', (params, status, message) => {
    const f = failure(() => commitReference(new URLSearchParams(params)));
    expect([f.status, f.message]).toEqual([status, message]);
  });
});
