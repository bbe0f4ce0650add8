import { describe, expect, it } from 'vitest';
import { localDomainsOf } from './registry-mirror.js';

describe('localDomainsOf', () => {
  it.each([
    ['http://127.0.0.1:5050', ['127.0.0.1:5050', 'localhost:5050']],
    ['http://[::1]:5050', ['[::1]:5050', 'localhost:5050']],
    ['http://localhost:5050', ['localhost:5050']],
    ['http://10.0.0.7:5050', ['10.0.0.7:5050']],
  ])('names local repositories of %s under %j', (url, expected) => {
    expect(localDomainsOf(url)).toEqual(expected);
  });
});
