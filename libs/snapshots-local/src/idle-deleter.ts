/** Settings of an {@link IdleDeleter}. */
export interface IdleDeleterOptions {
  /** Quiet time after the last operation before the queued deletions run. */
  idleMs: number;
  /** Queued deletions that start the work at once, quiet or not: what bounds the disk space held. */
  maxBacklog: number;
}

/**
 * Runs deletions of removed snapshots' directories when the snapshotter is
 * quiet, as containerd's overlay snapshotter leaves them to a later
 * cleanup: a deletion's unlinks and rmdirs go through the same file system
 * journal and thread pool as the next prepare, which a container start
 * waits for. Deletions queue up; they run one after another once no
 * operation has come for idleMs (touch() marks one), or at once when
 * maxBacklog are queued, and drain() runs all of them now. Each deletion
 * handles its own failures (it resolves in any case).
 */
export class IdleDeleter {
  private readonly queue: Array<() => Promise<void>> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: IdleDeleterOptions) {}

  /** Queues a deletion. */
  add(deletion: () => Promise<void>): void {
    this.queue.push(deletion);
    if (this.queue.length >= this.options.maxBacklog) void this.run();
    else this.touch();
  }

  /** Marks an operation: queued deletions wait for idleMs more. */
  touch(): void {
    if (this.queue.length === 0 || this.running !== undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), this.options.idleMs);
    this.timer.unref();
  }

  /** Runs every queued deletion (and those queued meanwhile); resolves when none is left. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.running !== undefined) await this.run();
  }

  private run(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.running ??= (async () => {
      try {
        for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) await next();
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
