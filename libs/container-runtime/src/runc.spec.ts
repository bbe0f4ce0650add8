import { describe, expect, it } from 'vitest';
import { runcErrorMessage } from './runc.js';

describe('runcErrorMessage', () => {
  it.each([
    ['text log', 'time="2024-01-01T00:00:00Z" level=error msg="container does not exist"\n', 'container does not exist'],
    ['escaped quotes', 'level=error msg="exec: \\"nope\\": executable file not found"', 'exec: "nope": executable file not found'],
    ['JSON log', '{"level":"error","msg":"runc create failed: boom","time":"x"}', 'runc create failed: boom'],
    ['plain text', 'something odd\n', 'something odd'],
  ])('reads %s', (_what, stderr, message) => {
    expect(runcErrorMessage(stderr)).toBe(message);
  });
});
