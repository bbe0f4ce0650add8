import { invalidArgument, isStrataError } from '@strata/kit';
import { digestOf, parseDigest, type Digest } from './digest.js';

/**
 * The OCI chain IDs of an image's layers, bottom first: chain(0) = diff_id(0)
 * and chain(n) = sha256(chain(n-1) + " " + diff_id(n)). Snapshots of unpacked
 * layers are named by them, so a layer stack is unpacked once per host.
 * InvalidArgument when an entry is not a sha256 digest, naming its position.
 */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  diffIds.forEach((value, i) => {
    let diffId: Digest;
    try {
      diffId = parseDigest(value);
    } catch (cause) {
      const reason = isStrataError(cause) ? cause.message : String(cause);
      throw invalidArgument(`diff_ids[${i}] is not a valid digest: ${reason}`, { cause, fields: { position: i } });
    }
    const parent = out.at(-1);
    out.push(parent === undefined ? diffId : digestOf(`${parent} ${diffId}`));
  });
  return out;
}
