import { Metadata, status as Code, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorKinds, StrataError, errorKind, notFound, silentLogger } from '@strata/kit';
import { INTERNAL_MESSAGE, fromGrpcError, grpcCodeOf, toGrpcStatus } from './status.js';

const serviceError = (code: Code, details: string, metadata = new Metadata()): ServiceError =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata });

const upperSnake = (kind: string) => (kind === 'Canceled' ? 'CANCELLED' : kind.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase());

describe('toGrpcStatus and fromGrpcError', () => {
  it.each(ErrorKinds)('map %s to the gRPC code of the same name and back', (kind) => {
    expect(grpcCodeOf(kind)).toBe(Code[upperSnake(kind) as keyof typeof Code]);
    const status = toGrpcStatus(new StrataError(kind, `a ${kind} sentence`, { fields: { ref: 'r1' } }), silentLogger());
    expect(status.code).toBe(grpcCodeOf(kind));
    expect(status.details).toBe(`a ${kind} sentence`);
    const back = fromGrpcError(serviceError(status.code, status.details, status.metadata ?? new Metadata()), 'unix:/x.sock');
    expect(back.kind).toBe(kind);
    expect(back.message).toBe(`a ${kind} sentence`);
    expect(back.fields).toEqual({ ref: 'r1' });
  });

  it('hides an unforeseen error behind INTERNAL', () => {
    const status = toGrpcStatus(new TypeError('cannot read x of undefined'), silentLogger());
    expect(status).toMatchObject({ code: Code.INTERNAL, details: INTERNAL_MESSAGE });
  });

  it.each([
    {
      name: 'UNAVAILABLE from the channel',
      err: serviceError(Code.UNAVAILABLE, 'No connection established. Last error: connect ENOENT /run/x.sock'),
      kind: 'Unavailable',
      message: 'cannot reach unix:/run/x.sock: connect ENOENT /run/x.sock; check that the service is running and the address is right',
    },
    {
      name: "UNAVAILABLE from the channel, with grpc-js's resolution note",
      err: serviceError(Code.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7443. Resolution note: '),
      kind: 'Unavailable',
      message: 'cannot reach unix:/run/x.sock: connect ECONNREFUSED 127.0.0.1:7443; check that the service is running and the address is right',
    },
    {
      name: 'UNAVAILABLE from the channel, in other words',
      err: serviceError(Code.UNAVAILABLE, 'Connection dropped'),
      kind: 'Unavailable',
      message: 'cannot reach unix:/run/x.sock: Connection dropped; check that the service is running and the address is right',
    },
    {
      name: 'a deadline from the channel',
      err: serviceError(Code.DEADLINE_EXCEEDED, 'Deadline exceeded after 2.001s'),
      kind: 'DeadlineExceeded',
      message: 'no answer from unix:/run/x.sock in time: Deadline exceeded after 2.001s',
    },
    {
      name: 'a local cancel',
      err: serviceError(Code.CANCELLED, 'Cancelled on client'),
      kind: 'Canceled',
      message: 'call to unix:/run/x.sock canceled: Cancelled on client',
    },
    { name: 'a plain Error', err: new Error('boom'), kind: 'Unknown', message: 'boom' },
    { name: 'a StrataError', err: notFound('blob x not found'), kind: 'NotFound', message: 'blob x not found' },
  ])('translate $name', ({ err, kind, message }) => {
    const out = fromGrpcError(err, 'unix:/run/x.sock');
    expect(errorKind(out)).toBe(kind);
    expect(out.message).toBe(message);
  });
});
