import { describe, expect, it } from 'vitest';
import { splitRule } from './iptables.js';

describe('splitRule', () => {
  it.each([
    ['-A X -p tcp -j ACCEPT', ['-A', 'X', '-p', 'tcp', '-j', 'ACCEPT']],
    ['-A X -m comment --comment "strata:ab" -j DNAT', ['-A', 'X', '-m', 'comment', '--comment', 'strata:ab', '-j', 'DNAT']],
    ['-A X -m comment --comment "a b \\"c\\"" -j RETURN', ['-A', 'X', '-m', 'comment', '--comment', 'a b "c"', '-j', 'RETURN']],
    ['-A X -m comment --comment ""', ['-A', 'X', '-m', 'comment', '--comment', '']],
  ])('splits %s', (line, want) => {
    expect(splitRule(line)).toEqual(want);
  });
});
