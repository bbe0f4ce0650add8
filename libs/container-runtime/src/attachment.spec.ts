import { describe, expect, it } from 'vitest';
import { encodeFrame, Frame, FrameDecoder, resizeFrame } from './attachment.js';

describe('attach frames', () => {
  it('encodes type, big-endian length and payload', () => {
    expect([...encodeFrame(Frame.Stdin, Buffer.from('hi'))]).toEqual([0, 0, 0, 0, 2, 104, 105]);
    expect([...encodeFrame(Frame.CloseStdin)]).toEqual([1, 0, 0, 0, 0]);
    expect([...resizeFrame(300, 40)]).toEqual([2, 0, 0, 0, 4, 1, 44, 0, 40]);
  });

  it('decodes frames split at any byte', () => {
    const wire = Buffer.concat([
      encodeFrame(Frame.Stdout, Buffer.from('out')),
      encodeFrame(Frame.Stderr, Buffer.from('err')),
      encodeFrame(Frame.Exit, Buffer.from('{}')),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
      expect(frames.map((f) => [f.type, f.payload.toString()])).toEqual([
        [Frame.Stdout, 'out'],
        [Frame.Stderr, 'err'],
        [Frame.Exit, '{}'],
      ]);
    }
  });
});
