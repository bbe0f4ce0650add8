import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DETACH_KEYS, detachScanner, parseDetachKeys } from './detach-keys.js';

describe('parseDetachKeys', () => {
  it('reads ctrl- keys and single characters, as Docker does', () => {
    expect([...parseDetachKeys(DEFAULT_DETACH_KEYS)]).toEqual([16, 17]);
    expect([...parseDetachKeys('ctrl-A,x,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')]).toEqual([1, 120, 0, 27, 28, 29, 30, 31]);
  });

  it.each([['ctrl-1'], ['ctrl-'], ['ab'], [''], ['x,,y'], ['é']])('refuses %j', (text) => {
    let err: unknown;
    try {
      parseDetachKeys(text);
    } catch (e) {
      err = e;
    }
    expect(errorKind(err)).toBe('InvalidArgument');
    expect((err as Error).message).toMatch(/^invalid --detach-keys key /);
  });
});

describe('detachScanner', () => {
  const keys = parseDetachKeys(DEFAULT_DETACH_KEYS);
  const text = (b: Buffer) => b.toString('latin1');

  it('passes ordinary input through', () => {
    const scan = detachScanner(keys);
    expect(scan(Buffer.from('ls -l\r'))).toEqual({ forward: Buffer.from('ls -l\r'), detach: false });
  });

  it('detaches on the sequence, forwarding what came before it', () => {
    const scan = detachScanner(keys);
    expect(scan(Buffer.from('ab\x10\x11cd'))).toEqual({ forward: Buffer.from('ab'), detach: true });
  });

  it('holds a first key back across chunks, then detaches or lets it through', () => {
    const detaching = detachScanner(keys);
    expect(detaching(Buffer.from('x\x10'))).toEqual({ forward: Buffer.from('x'), detach: false });
    expect(detaching(Buffer.from('\x11'))).toEqual({ forward: Buffer.alloc(0), detach: true });

    const typing = detachScanner(keys);
    expect(text(typing(Buffer.from('\x10')).forward)).toBe('');
    expect(typing(Buffer.from('y'))).toEqual({ forward: Buffer.from('\x10y', 'latin1'), detach: false });
    // Ctrl-P twice: the first goes through, the second may still begin the sequence.
    expect(text(typing(Buffer.from('\x10\x10')).forward)).toBe('\x10');
    expect(typing(Buffer.from('\x11'))).toEqual({ forward: Buffer.alloc(0), detach: true });
  });

  it('detaches on a one-key sequence', () => {
    expect(detachScanner(parseDetachKeys('ctrl-x'))(Buffer.from('a\x18b'))).toEqual({ forward: Buffer.from('a'), detach: true });
  });
});
