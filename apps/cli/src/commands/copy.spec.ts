import { describe, expect, it } from 'vitest';
import { splitCopyArg } from './copy.js';

describe('splitCopyArg', () => {
  it.each([
    ['web:/etc/hosts', { container: 'web', path: '/etc/hosts' }],
    ['web:relative', { container: 'web', path: 'relative' }],
    ['/abs:path', { path: '/abs:path' }],
    ['./x:y', { path: './x:y' }],
    ['dir/x:y', { path: 'dir/x:y' }],
    ['plain', { path: 'plain' }],
    ['-', { path: '-' }],
    [':x', { path: ':x' }],
  ])('reads %s as the docker CLI does', (arg, end) => {
    expect(splitCopyArg(arg)).toEqual(end);
  });
});
