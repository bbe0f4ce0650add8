import { describe, expect, it } from 'vitest';
import { createTokenCache } from './token-cache.js';

describe('createTokenCache', () => {
  it.each([
    ['expires_in 300: usable until 290 s (a 10 s margin)', 300, 289_999, 290_000],
    ['expires_in 10: usable until 9 s (a tenth as margin)', 10, 8_999, 9_000],
    ['no expires_in: the default 60 s', undefined, 53_999, 54_000],
    ['a negative expires_in: the default 60 s', -5, 53_999, 54_000],
    ['a string expires_in: the default 60 s', '600', 53_999, 54_000],
  ])('%s', (_, expiresIn, stillThere, gone) => {
    let now = 1_000_000;
    const cache = createTokenCache(() => now);
    cache.set('repository:a:pull', 'tok', expiresIn);
    now += stillThere;
    expect(cache.get('repository:a:pull')).toBe('tok');
    now += gone - stillThere;
    expect(cache.get('repository:a:pull')).toBeUndefined();
  });

  it('keeps tokens per scope and forgets one on delete', () => {
    const cache = createTokenCache(() => 0);
    cache.set('repository:a:pull', 'a', 60);
    cache.set('repository:b:pull', 'b', 60);
    cache.delete('repository:a:pull');
    expect([cache.get('repository:a:pull'), cache.get('repository:b:pull')]).toEqual([undefined, 'b']);
  });
});
