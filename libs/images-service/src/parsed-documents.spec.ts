import { describe, expect, it } from 'vitest';
import { ParsedDocuments } from './parsed-documents.js';

describe('ParsedDocuments', () => {
  it('loads a document once and serves it from then on', async () => {
    const cache = new ParsedDocuments(100);
    let loads = 0;
    const load = async () => ({ value: { n: ++loads }, bytes: 10 });
    expect(await cache.get('a', load)).toEqual({ n: 1 });
    expect(await cache.get('a', load)).toEqual({ n: 1 });
    expect(loads).toBe(1);
  });

  it('drops the least recently used documents beyond its byte budget, and keeps none larger than it', async () => {
    const cache = new ParsedDocuments(30);
    const loaded: string[] = [];
    const load = (key: string, bytes = 10) => async () => {
      loaded.push(key);
      return { value: key, bytes };
    };
    for (const key of ['a', 'b', 'c']) await cache.get(key, load(key));
    await cache.get('a', load('a'));
    await cache.get('d', load('d'));
    expect(cache.size).toBe(3);
    await cache.get('b', load('b'));
    expect(loaded).toEqual(['a', 'b', 'c', 'd', 'b']);
    expect(await cache.get('huge', load('huge', 31))).toBe('huge');
    await cache.get('huge', load('huge', 31));
    expect(loaded.filter((k) => k === 'huge')).toHaveLength(2);
  });

  it('keeps nothing of a load that fails', async () => {
    const cache = new ParsedDocuments();
    await expect(cache.get('x', () => Promise.reject(new Error('not stored')))).rejects.toThrow('not stored');
    expect(cache.size).toBe(0);
    expect(await cache.get('x', async () => ({ value: 1, bytes: 1 }))).toBe(1);
  });
});
