import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BridgeNetwork } from '@strata/container-network';
import { silentLogger } from '@strata/kit';
import { createNetworkSpares } from './network-spares.js';

/** The part of a BridgeNetwork the spares use, recording what was asked; prepareSpare waits for gate when set. */
function fakeNetwork(earlier: string[] = []) {
  const calls: string[] = [];
  const state = { gate: undefined as Promise<void> | undefined, fail: false };
  const network = {
    async prepareSpare(id: string) {
      calls.push(`prepare ${id}`);
      await state.gate;
      if (state.fail) throw new Error('ip failed');
    },
    async spares() {
      return [...earlier];
    },
    async detach(id: string) {
      calls.push(`detach ${id}`);
    },
  } as unknown as BridgeNetwork;
  return { network, calls, state };
}

function ids() {
  let n = 0;
  return () => `id${++n}`;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(5);
  expect(check()).toBe(true);
}

describe('network spares', () => {
  it('removes an earlier run\'s spares, then makes spares one at a time that take hands out in order', async () => {
    const { network, calls } = fakeNetwork(['old']);
    const spares = createNetworkSpares({ network, count: 2, newId: ids(), logger: silentLogger() });
    await spares.open();
    await until(() => calls.length === 3);
    expect(calls).toEqual(['detach old', 'prepare id1', 'prepare id2']);
    await sleep(30);
    expect(calls).toHaveLength(3);
    expect(spares.take()).toBe('id1');
    expect(spares.take()).toBe('id2');
    expect(spares.take()).toBeUndefined();
    await spares.close();
  });

  it('begins no spare while a Create or Start runs, and refills once they are done', async () => {
    const { network, calls } = fakeNetwork();
    const spares = createNetworkSpares({ network, count: 1, newId: ids(), logger: silentLogger() });
    let finish!: () => void;
    const running = spares.busy(() => new Promise<string>((resolve) => (finish = () => resolve('created'))));
    await spares.open();
    await sleep(50);
    expect(calls).toEqual([]);
    finish();
    expect(await running).toBe('created');
    await until(() => calls.length === 1);
    expect(spares.take()).toBe('id1');
    await spares.busy(async () => undefined);
    await until(() => calls.length === 2);
    expect(calls[1]).toBe('prepare id2');
    await spares.close();
    expect(calls).toEqual(['prepare id1', 'prepare id2', 'detach id2']);
  });

  it('waits before trying again after a failure, and removes a spare that is finished after close', async () => {
    const failing = fakeNetwork();
    failing.state.fail = true;
    const spares = createNetworkSpares({ network: failing.network, count: 1, newId: ids(), logger: silentLogger() });
    await spares.open();
    await until(() => failing.calls.length === 1);
    await spares.busy(async () => undefined);
    await sleep(60);
    expect(failing.calls).toEqual(['prepare id1']);
    expect(spares.take()).toBeUndefined();
    await spares.close();

    let release!: () => void;
    const slow = fakeNetwork();
    slow.state.gate = new Promise<void>((resolve) => (release = resolve));
    const late = createNetworkSpares({ network: slow.network, count: 1, newId: ids(), logger: silentLogger() });
    await late.open();
    await until(() => slow.calls.length === 1);
    const closed = late.close();
    release();
    await closed;
    expect(slow.calls).toEqual(['prepare id1', 'detach id1']);
    expect(late.take()).toBeUndefined();
  });

  it('readies the rest of a spare before handing it out, and discards it before its attachment', async () => {
    const { network, calls } = fakeNetwork(['old']);
    let failNext = false;
    const spares = createNetworkSpares({
      network,
      count: 2,
      newId: ids(),
      logger: silentLogger(),
      readied: async (id) => {
        calls.push(`ready ${id}`);
        if (failNext) throw new Error('snapshotter down');
      },
      discarded: async (id) => {
        calls.push(`discard ${id}`);
      },
    });
    await spares.open();
    await until(() => calls.length === 6);
    expect(calls).toEqual(['discard old', 'detach old', 'prepare id1', 'ready id1', 'prepare id2', 'ready id2']);
    expect(spares.take()).toBe('id1');
    // A spare whose rest cannot be readied is kept (a Create then does that part itself).
    failNext = true;
    await spares.busy(async () => undefined);
    await until(() => calls.length === 8);
    expect(spares.take()).toBe('id2');
    failNext = false;
    await spares.busy(async () => undefined);
    await until(() => calls.length === 10);
    await spares.close();
    expect(calls.slice(6)).toEqual(['prepare id3', 'ready id3', 'prepare id4', 'ready id4', 'discard id3', 'detach id3', 'discard id4', 'detach id4']);
  });

  it('makes none with a count of 0, but removes an earlier run\'s', async () => {
    const { network, calls } = fakeNetwork(['old']);
    const spares = createNetworkSpares({ network, count: 0, newId: ids(), logger: silentLogger() });
    await spares.open();
    await spares.busy(async () => undefined);
    await sleep(30);
    await spares.close();
    expect(calls).toEqual(['detach old']);
  });
});
