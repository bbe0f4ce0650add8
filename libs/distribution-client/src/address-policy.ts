import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { StrataError } from '@strata/kit';
import { isPublicAddress } from '@strata/oci';
import { isLoopbackHost } from './upstream-config.js';

/** Where the client may be sent by an upstream (redirects, token realms). */
export interface AddressPolicy {
  /** The upstream's host, for messages. */
  upstream: string;
  /** Scheme of the upstream's endpoint: an https upstream never sends the client to http. */
  secure: boolean;
  /** Loopback, private and reserved addresses allowed (a loopback upstream, or `allowPrivateHosts`). */
  allowPrivateHosts: boolean;
}

function refused(policy: AddressPolicy, purpose: string, url: URL, reason: string): StrataError {
  const shown = url.href.length > 200 ? `${url.href.slice(0, 200)}…` : url.href;
  return new StrataError('PermissionDenied', `upstream ${policy.upstream}: ${purpose} to ${shown} refused: ${reason}`, {
    fields: { upstream: policy.upstream, url: shown },
  });
}

/**
 * Checks a URL the upstream sent the client to (purpose: `redirect`, `token
 * realm`) before anything connects to it: http or https only, no user info,
 * no https→http downgrade from an https upstream, and — unless the policy
 * allows private hosts — no address literal that {@link isPublicAddress}
 * refuses and no `localhost` name. Host names are checked once more when they
 * resolve: see {@link publicOnlyLookup}. Raises PermissionDenied with a
 * sentence naming the upstream, the URL and the reason.
 */
export function checkTarget(policy: AddressPolicy, purpose: string, url: URL): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(policy, purpose, url, 'only http and https URLs are followed');
  if (url.username !== '' || url.password !== '') throw refused(policy, purpose, url, 'the URL carries credentials');
  if (policy.secure && url.protocol === 'http:') throw refused(policy, purpose, url, 'an https upstream may not send the client to plain http');
  if (policy.allowPrivateHosts) return;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) {
    if (!isPublicAddress(host)) throw refused(policy, purpose, url, `${host} is a loopback, private or reserved address`);
  } else if (isLoopbackHost(host) || host.endsWith('.local')) {
    throw refused(policy, purpose, url, `${host} is a local host name`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that resolves a name with the system
 * resolver and fails the connection unless every address it resolves to is
 * public ({@link isPublicAddress}): the check happens on the addresses the
 * socket then connects to, so a name cannot pass the check and then resolve
 * to a private address. The error is PermissionDenied naming the address.
 */
export function publicOnlyLookup(policy: AddressPolicy, purpose: string, url: URL) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) {
        callback(err, []);
        return;
      }
      const bad = addresses.find((a) => !isPublicAddress(a.address));
      if (bad !== undefined) {
        callback(
          refused(policy, purpose, url, `${hostname} resolves to ${bad.address}, a loopback, private or reserved address`) as unknown as NodeJS.ErrnoException,
          [],
        );
        return;
      }
      if (options.all === true) {
        callback(null, addresses);
        return;
      }
      const first = addresses[0];
      if (first === undefined) callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      else callback(null, first.address, first.family);
    });
  };
}
