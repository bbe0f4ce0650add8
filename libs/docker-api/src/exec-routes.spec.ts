import { describe, expect, it } from 'vitest';
import { execStartExitCode } from './exec-routes.js';

describe('execStartExitCode', () => {
  it.each([
    ['exec failed: unable to start container process: exec: "/bin/bash": stat /bin/bash: no such file or directory', 127],
    ['exec: "nope": executable file not found in $PATH', 127],
    ['exec failed: unable to start container process: exec: "/etc": permission denied', 126],
    ['exec failed: unable to start container process: exec: "/etc/": is a directory', 126],
  ])('%s → %i', (message, code) => expect(execStartExitCode(message)).toBe(code));
});
