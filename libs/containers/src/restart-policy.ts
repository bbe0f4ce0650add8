import { invalidArgument } from '@strata/kit';
import type { RestartPolicy, RestartPolicyName } from './types.js';

/** The names in the order Docker's messages list them. */
export const RESTART_POLICY_NAMES: readonly RestartPolicyName[] = ['no', 'always', 'on-failure', 'unless-stopped'];

/** The policy of a container that asked for none. */
export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

/**
 * Checks a policy with the daemon's rules: a known name, a retry count
 * only for on-failure and never negative. An empty name is `no`, as the
 * daemon reads one. Raises InvalidArgument with Docker's texts ("invalid
 * restart policy: unknown policy 'x'; use one of 'no', 'always',
 * 'on-failure', or 'unless-stopped'").
 */
export function checkRestartPolicy(policy: { name: string; maximumRetryCount: number }): RestartPolicy {
  const { name, maximumRetryCount: count } = policy;
  if (!Number.isInteger(count)) throw invalidArgument('invalid restart policy: maximum retry count must be an integer');
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== 0) {
        throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'${count < 0 ? ' and cannot be negative' : ''}`);
      }
      return { name: name === '' ? 'no' : name, maximumRetryCount: 0 };
    case 'on-failure':
      if (count < 0) throw invalidArgument('invalid restart policy: maximum retry count cannot be negative');
      return { name, maximumRetryCount: count };
    default: {
      const names = RESTART_POLICY_NAMES.map((n) => `'${n}'`);
      throw invalidArgument(`invalid restart policy: unknown policy '${name}'; use one of ${names.slice(0, -1).join(', ')}, or ${names.at(-1)}`);
    }
  }
}

/**
 * Reads `--restart` as the docker CLI does: `NAME[:COUNT]`, the count an
 * integer, then checked with {@link checkRestartPolicy}; an empty text is
 * `no`. Raises InvalidArgument with Docker's texts ("invalid restart policy
 * format: maximum retry count must be an integer").
 */
export function parseRestartPolicy(text: string): RestartPolicy {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const count = colon < 0 ? '' : text.slice(colon + 1);
  if (colon >= 0 && name === '') throw invalidArgument('invalid restart policy format: no policy provided before colon');
  if (count !== '' && !/^[+-]?[0-9]+$/.test(count)) throw invalidArgument('invalid restart policy format: maximum retry count must be an integer');
  return checkRestartPolicy({ name, maximumRetryCount: count === '' ? 0 : Number(count) });
}

/** `--restart` as written back: `on-failure:3`, `always`… (`on-failure` without a count when it has none). */
export function formatRestartPolicy(policy: RestartPolicy): string {
  return policy.name === 'on-failure' && policy.maximumRetryCount > 0 ? `on-failure:${policy.maximumRetryCount}` : policy.name;
}

/** The first delay before a restart, the factor of each next one, its cap, and how long a run resets it. */
export const RESTART_BACKOFF = { firstMs: 100, factor: 2, maxMs: 60_000, resetAfterRunMs: 10_000 } as const;

/**
 * The delay before the next restart, as Docker's restart manager grows it:
 * 100 ms first, doubled after each restart, at most one minute; back to
 * 100 ms once a run lasted 10 seconds. previousMs is the delay before the
 * last restart (0 for none since the last manual start).
 */
export function nextRestartDelay(previousMs: number, ranMs: number): number {
  const previous = ranMs >= RESTART_BACKOFF.resetAfterRunMs ? 0 : previousMs;
  if (previous <= 0) return RESTART_BACKOFF.firstMs;
  return Math.min(previous * RESTART_BACKOFF.factor, RESTART_BACKOFF.maxMs);
}

/** What decides whether a container that stopped is started again. */
export interface ExitFacts {
  exitCode: number;
  /** Stopped by stop or kill (Docker's HasBeenManuallyStopped). */
  manuallyStopped: boolean;
  /** Restarts by the policy since the last manual start. */
  restartCount: number;
}

/**
 * Whether the policy starts the container again, as Docker's restart
 * manager decides: always does; unless-stopped unless it was stopped by
 * hand; on-failure after a non-zero exit while fewer than
 * maximumRetryCount restarts were made (no limit for 0). A stop or kill
 * that is under way is the caller's to check (Docker cancels the
 * container's restart manager then).
 */
export function shouldRestart(policy: RestartPolicy, facts: ExitFacts): boolean {
  switch (policy.name) {
    case 'no':
      return false;
    case 'always':
      return true;
    case 'unless-stopped':
      return !facts.manuallyStopped;
    case 'on-failure':
      return facts.exitCode !== 0 && (policy.maximumRetryCount === 0 || facts.restartCount < policy.maximumRetryCount);
  }
}
