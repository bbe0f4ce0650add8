import type { Endpoint } from './up-state.js';

/** What `strata up` is told: where state, sockets, NATS and the mirror's HTTP endpoint go. */
export interface StackConfig {
  stateDir: string;
  runDir: string;
  natsPort: number;
  /** Port of the registry-mirror's OCI Distribution endpoint on 127.0.0.1. */
  mirrorPort: number;
}

/** A {@link StackConfig} with the paths derived from it. */
export interface StackContext extends StackConfig {
  /** `<stateDir>/logs`: one `<service>.log` per service. */
  logsDir: string;
  /** The repository the CLI runs from; services' programs are found under it. */
  repoRoot: string;
  /** `nats://127.0.0.1:<natsPort>`. */
  natsUrl: string;
  /** `http://127.0.0.1:<mirrorPort>`. */
  mirrorUrl: string;
}

/** The command line a service runs with. */
export interface ServiceCommand {
  command: string;
  args: string[];
  /** Directories it needs; created with mode 0700 before it starts. */
  dirs?: string[];
}

/**
 * One service of the local stack: how it is started, how it is known to be
 * ready, and what it serves. `strata up` starts the services of a list in
 * order, waiting for each to be ready, and stops them in reverse.
 */
export interface ServiceSpec {
  name: string;
  /** The command line; raises FailedPrecondition when its program is missing. */
  command(ctx: StackContext): ServiceCommand;
  endpoints(ctx: StackContext): Endpoint[];
  /** Why it cannot start here (its port or socket is taken), or undefined. */
  conflict?(ctx: StackContext): Promise<string | undefined>;
  /**
   * Why it cannot run for this user on this host at all (it needs root), or
   * undefined; `strata up` then leaves it out and says why, instead of failing.
   */
  unsupported?(): string | undefined;
  /** One readiness check: resolves when it serves, raises with the reason when not (yet). */
  probe(ctx: StackContext): Promise<void>;
  /** How long it may take to become ready. */
  readyTimeoutMs: number;
}
