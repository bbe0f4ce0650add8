import { describe, expect, it } from 'vitest';
import { chainIds } from './chain-id.js';
import { errorOf } from './testing/error-of.js';

const a = `sha256:${'a'.repeat(64)}`;
const b = `sha256:${'b'.repeat(64)}`;
const c = `sha256:${'c'.repeat(64)}`;

describe('chainIds', () => {
  it('chains diff_ids as the OCI image spec defines (values computed with sha256sum)', () => {
    expect(chainIds([])).toEqual([]);
    expect(chainIds([a])).toEqual([a]);
    expect(chainIds([a, b, c])).toEqual([
      a,
      'sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c',
      'sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588',
    ]);
  });

  it('differs when the order differs, so a stack is named by all layers below it', () => {
    expect(chainIds([b, a]).at(-1)).not.toBe(chainIds([a, b]).at(-1));
  });

  it.each([
    [[a, 'sha256:../..'], 'diff_ids[1] is not a valid digest: invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
    [[''], 'diff_ids[0] is not a valid digest: invalid digest: empty'],
    [
      [a, b, `sha512:${'a'.repeat(128)}`],
      `diff_ids[2] is not a valid digest: invalid digest "sha512:${'a'.repeat(100 - 7)}…": unsupported algorithm "sha512" (only sha256)`,
    ],
  ])('refuses %j', (diffIds, message) => {
    expect(errorOf(() => chainIds(diffIds))).toEqual({ kind: 'InvalidArgument', message });
  });
});
