import { openCgroup, type Cgroup } from '@strata/cgroups';
import type { Logger } from '@strata/kit';

/**
 * The cgroup of a container's monitors (its strata-monitor and those of its
 * execs): `<parent>/monitors/<id>`, beside the containers' `<parent>/<id>`.
 * Not the container's own cgroup: runc owns that one, and its limits,
 * stats, freeze and killAll must see only the container's processes. Not
 * the agent's: a service manager that stops the agent by killing its
 * cgroup (docker compose, Kubernetes, systemd without KillMode=process)
 * would take every monitor with it, as containerd's shims would without
 * their own cgroup.
 */
export function monitorCgroupPath(cgroupParent: string, id: string): string {
  return `${cgroupParent}/monitors/${id}`;
}

/** Opens the monitors' cgroup of container id. Raises InvalidArgument for a path outside the parent. */
export function openMonitorCgroup(cgroupParent: string, id: string, logger: Logger): Promise<Cgroup> {
  return openCgroup(monitorCgroupPath(cgroupParent, id), { logger, parent: cgroupParent });
}

/**
 * The runtime's placeMonitor: creates the monitors' cgroup of the container
 * (in every hierarchy) and moves the monitor into it (while the monitor
 * starts runc, see the runtime). Raises what the cgroup driver raises
 * (NotFound when the monitor died meanwhile).
 */
export function monitorPlacer(cgroupParent: string, logger: Logger): (id: string, monitorPid: number) => Promise<void> {
  return async (id, monitorPid) => {
    const cg = await openMonitorCgroup(cgroupParent, id, logger);
    await cg.create();
    await cg.addProcess(monitorPid);
  };
}
