import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@strata/kit/testing';
import { parseConstraint } from '@strata/placement';
import { afterEach, describe, expect, it } from 'vitest';
import { placementMode } from './placed-node.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

const noTls = { nats: undefined, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined };
const noPlacement = { node: undefined, constraint: [], strategy: undefined };

/** A CA directory without client certificates, so that the default /var/lib/strata/ca is not read. */
function emptyCaDir(): string {
  const dir = tempDir('strata-ca-');
  dirs.push(dir);
  return dir.path;
}

describe('placementMode', () => {
  it('places when a placement flag is given, with or without a client certificate', () => {
    const env = { STRATA_CA_DIR: emptyCaDir() };
    expect(placementMode({ ...noTls, ...noPlacement, node: 'host-1' }, env)).toBe('asked');
    expect(placementMode({ ...noTls, ...noPlacement, constraint: [parseConstraint('zone=a')] }, env)).toBe('asked');
    expect(placementMode({ ...noTls, ...noPlacement, strategy: 'spread' }, env)).toBe('asked');
  });

  it('places across the fleet by default when a client certificate is configured, and stays local without one', () => {
    const ca = emptyCaDir();
    expect(placementMode({ ...noTls, ...noPlacement }, { STRATA_CA_DIR: ca })).toBe('local');
    expect(placementMode({ ...noTls, ...noPlacement, tlsCert: '/c.crt', tlsKey: '/c.key', tlsCa: '/ca.crt' }, { STRATA_CA_DIR: ca })).toBe('fleet');
    mkdirSync(join(ca, 'clients', 'ops'), { recursive: true });
    for (const file of ['ops.crt', 'ops.key', 'ca.crt']) writeFileSync(join(ca, 'clients', 'ops', file), '');
    expect(placementMode({ ...noTls, ...noPlacement }, { STRATA_CA_DIR: ca })).toBe('fleet');
  });
});
