import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { clientTlsFiles, localNodeName } from './node-clients.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function caDir(...clients: string[]): string {
  const dir = tempDir('strata-ca-');
  dirs.push(dir);
  for (const name of clients) {
    mkdirSync(join(dir.path, 'clients', name), { recursive: true });
    for (const file of [`${name}.crt`, `${name}.key`, 'ca.crt']) writeFileSync(join(dir.path, 'clients', name, file), '');
  }
  return dir.path;
}

const none = { nats: undefined, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined };

describe('clientTlsFiles', () => {
  it('takes the three flags as given', () => {
    expect(clientTlsFiles({ ...none, tlsCert: '/c.crt', tlsKey: '/c.key', tlsCa: '/ca.crt' }, {})).toEqual({ cert: '/c.crt', key: '/c.key', ca: '/ca.crt' });
  });

  it("defaults to the user's client certificate of the CA directory, or the only one there is", () => {
    const user = userInfo().username;
    const mine = caDir('other', user);
    expect(clientTlsFiles(none, { STRATA_CA_DIR: mine })).toEqual({
      cert: join(mine, 'clients', user, `${user}.crt`),
      key: join(mine, 'clients', user, `${user}.key`),
      ca: join(mine, 'clients', user, 'ca.crt'),
    });
    const single = caDir('ops');
    expect(clientTlsFiles(none, { STRATA_CA_DIR: single })?.cert).toBe(join(single, 'clients', 'ops', 'ops.crt'));
    expect(clientTlsFiles(none, { STRATA_CA_DIR: caDir('a-1', 'b-2') })).toBeUndefined();
    expect(clientTlsFiles(none, { STRATA_CA_DIR: caDir() })).toBeUndefined();
  });

  it('refuses some of the three flags', () => {
    let err: unknown;
    try {
      clientTlsFiles({ ...none, tlsCert: '/c.crt' }, {});
    } catch (e) {
      err = e;
    }
    expect({ kind: errorKind(err), message: (err as Error).message }).toEqual({
      kind: 'InvalidArgument',
      message: 'calling other nodes over mutual TLS needs --tls-key, --tls-ca too',
    });
  });

  it('names the local node by STRATA_NODE', () => {
    expect(localNodeName({ STRATA_NODE: 'host-3' })).toBe('host-3');
    expect(localNodeName({})).not.toBe('');
  });
});
