import { RestartPolicyName, type RestartPolicy as WirePolicy } from '@strata/api/containers/v1';
import { checkRestartPolicy, type RestartPolicy } from '@strata/containers';

const WIRE_NAME: Record<RestartPolicy['name'], RestartPolicyName> = {
  no: RestartPolicyName.RESTART_POLICY_NAME_NO,
  always: RestartPolicyName.RESTART_POLICY_NAME_ALWAYS,
  'unless-stopped': RestartPolicyName.RESTART_POLICY_NAME_UNLESS_STOPPED,
  'on-failure': RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE,
};

/** The Containers API's form of a restart policy. */
export function restartPolicyToWire(policy: RestartPolicy): WirePolicy {
  return { name: WIRE_NAME[policy.name], maximumRetryCount: policy.maximumRetryCount };
}

/** Docker's name of a wire policy name: `no` for unspecified, `''` for a number this code does not know. */
export function restartPolicyName(name: RestartPolicyName): string {
  if (name === RestartPolicyName.RESTART_POLICY_NAME_UNSPECIFIED) return 'no';
  return Object.entries(WIRE_NAME).find(([, wire]) => wire === name)?.[0] ?? '';
}

/**
 * The domain policy of a wire one (`no` when unset), checked with
 * checkRestartPolicy: InvalidArgument with Docker's texts.
 */
export function restartPolicyFromWire(policy: WirePolicy | undefined): RestartPolicy {
  if (policy === undefined) return { name: 'no', maximumRetryCount: 0 };
  const name = restartPolicyName(policy.name);
  return checkRestartPolicy({ name: name === '' ? `${String(policy.name)}` : name, maximumRetryCount: policy.maximumRetryCount });
}

/** Docker's HostConfig.RestartPolicy of a container's policy (`no` when unset). */
export function restartPolicyView(policy: WirePolicy | undefined): { Name: string; MaximumRetryCount: number } {
  return { Name: policy === undefined ? 'no' : restartPolicyName(policy.name), MaximumRetryCount: policy?.maximumRetryCount ?? 0 };
}
