import { describe, expect, it } from 'vitest';
import { formatTable } from './table.js';

describe('formatTable', () => {
  it('aligns columns under upper-case headers and leaves the last column unpadded', () => {
    expect(
      formatTable(
        ['service', 'pid', 'endpoint'],
        [
          ['nats', '12', 'nats://127.0.0.1:4222'],
          ['layer-store', '1234', 'unix:/run/strata/layer-store.sock'],
        ],
      ),
    ).toBe(
      [
        'SERVICE      PID   ENDPOINT',
        'nats         12    nats://127.0.0.1:4222',
        'layer-store  1234  unix:/run/strata/layer-store.sock',
        '',
      ].join('\n'),
    );
  });
});
