import { describe, expect, it } from 'vitest';
import { ContentService, ReadContentResponse, WriteAction, WriteContentRequest } from '@strata/api/content/v1';
import { contentDefinition, encodeWriteRequest } from './wire.js';

const request: WriteContentRequest = {
  action: WriteAction.WRITE_ACTION_COMMIT,
  ref: 'wire-ref',
  total: 2 ** 40,
  expected: 'sha256:' + 'a'.repeat(64),
  offset: -1,
  data: Buffer.from('the blob bytes'),
  labels: { a: 'b', 'strata.gc.root': 'yes' },
};

describe('content wire codecs', () => {
  it.each([
    ['with data', request],
    ['without data', { ...request, data: Buffer.alloc(0) }],
    ['with only data', { ...WriteContentRequest.create(), data: Buffer.from([0, 1, 2, 255]) }],
  ])('encode a Write request %s as the generated codec decodes it, and decode the generated encoding', (_name, message) => {
    const fast = contentDefinition.write.requestSerialize(message);
    expect(ContentService.write.requestDeserialize(fast)).toEqual(message);
    const generated = ContentService.write.requestSerialize(message);
    expect(contentDefinition.write.requestDeserialize(generated)).toEqual(message);
    const { data, ...rest } = message;
    expect(ContentService.write.requestDeserialize(encodeWriteRequest(rest, [data.subarray(0, 3), data.subarray(3)]))).toEqual(message);
  });

  it('decodes the data of a Read response as a view of the received message', () => {
    const message = { offset: 7, data: Buffer.alloc(100_000, 9), total: 2 ** 33 };
    const received = contentDefinition.read.responseSerialize(message);
    expect(ContentService.read.responseDeserialize(received)).toEqual(message);
    const decoded = contentDefinition.read.responseDeserialize(received);
    expect(decoded).toEqual(message);
    expect(decoded.data.buffer).toBe(received.buffer);
  });

  it('keeps the last of repeated data fields, as protobuf says', () => {
    const first = ReadContentResponse.encode({ offset: 1, data: Buffer.from('first'), total: 0 }).finish();
    const second = ReadContentResponse.encode({ offset: 0, data: Buffer.from('second'), total: 9 }).finish();
    const both = Buffer.concat([first, second]);
    expect(contentDefinition.read.responseDeserialize(both)).toEqual(ContentService.read.responseDeserialize(both));
    expect(contentDefinition.read.responseDeserialize(both).data.toString()).toBe('second');
  });

  it('leaves malformed input to the generated decoder, which refuses it', () => {
    const truncated = contentDefinition.write.requestSerialize(request).subarray(0, 20);
    expect(() => contentDefinition.write.requestDeserialize(truncated)).toThrow();
  });
});
