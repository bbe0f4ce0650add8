import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerSpec, ContainersService, MountType, NetworkMode, VolumesService, WaitCondition, type Container, type Mount } from '@strata/api/containers/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { BUSYBOX_PASSWD, busyboxImage, buildImage, pushImage } from '@strata/image-fixtures';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { mountPoints } from '@strata/snapshots-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './testing/test-stack.js';

let stack: TestStack;
let client: RpcClient;
let host: ReturnType<typeof tempDir>;

const mount = (m: Partial<Mount>): Mount => ({ type: MountType.MOUNT_TYPE_BIND, source: '', target: '', readOnly: false, createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0, ...m });

/** Runs cmd in a new container of image with mounts until it exits; its exit code and output. */
async function runWithImage(image: string, mounts: Mount[], cmd: string[]): Promise<{ container: Container; code: number; out: string }> {
  const spec = ContainerSpec.fromPartial({ image, networkMode: NetworkMode.NETWORK_MODE_NONE, cmd, mounts });
  const { container } = await client.unary(ContainersService.create, { spec });
  await client.unary(ContainersService.start, { id: container!.id });
  const { status } = await client.unary(ContainersService.wait, { id: container!.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
  let out = '';
  for await (const r of client.serverStream(ContainersService.logs, { id: container!.id, follow: false, tail: -1 })) out += r.data.toString('utf8');
  return { container: container!, code: status!.exitCode, out };
}

/** Runs cmd in a new busybox container with mounts until it exits; its exit code and output. */
const runWith = (mounts: Mount[], cmd: string[]) => runWithImage(stack.image, mounts, cmd);

/** A volume mount of the named volume at target. */
const volume2 = (source: string, target: string): Mount => mount({ type: MountType.MOUNT_TYPE_VOLUME, source, target });

const failure = async (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => ({ kind: errorKind(err), message: (err as Error).message }));

beforeAll(async () => {
  host = tempDir('strata-mounts-');
  stack = await startTestStack();
  await stack.startAgent();
  client = stack.client();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  host?.remove();
}, 120_000);

describe('bind mounts and tmpfs', { timeout: 30_000 }, () => {
  it('shares files both ways through a bind mount, and leaves no mount behind on the host', async () => {
    const dir = join(host.path, 'shared');
    mkdirSync(dir);
    writeFileSync(join(dir, 'from-host'), 'hello from the host\n');
    const { container, code, out } = await runWith([mount({ source: dir, target: '/data' })], ['sh', '-c', 'cat /data/from-host && echo written > /data/from-ctr']);
    expect({ code, out }).toEqual({ code: 0, out: 'hello from the host\n' });
    expect(readFileSync(join(dir, 'from-ctr'), 'utf8')).toBe('written\n');
    const { container: inspected } = await client.unary(ContainersService.inspect, { id: container.id });
    expect(inspected?.spec?.mounts).toEqual([mount({ source: dir, target: '/data' })]);
    await client.unary(ContainersService.remove, { id: container.id, force: false });
    expect((await mountPoints()).filter((p) => p.startsWith(host.path) || p.includes(container.id))).toEqual([]);
  });

  it('refuses writes to a read-only bind with EROFS', async () => {
    const dir = join(host.path, 'ro');
    mkdirSync(dir);
    const { code, out } = await runWith([mount({ source: dir, target: '/ro', readOnly: true, mode: 'ro' })], ['sh', '-c', 'touch /ro/x 2>&1; echo code=$?']);
    expect(code).toBe(0);
    expect(out).toMatch(/Read-only file system\ncode=1\n$/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('creates a missing source of a -v bind, and refuses one of a --mount', async () => {
    const made = join(host.path, 'made/by/v');
    const { code } = await runWith([mount({ source: made, target: '/v', mode: '', createMountpoint: true })], ['true']);
    expect(code).toBe(0);
    expect(existsSync(made)).toBe(true);
    const missing = join(host.path, 'missing');
    const spec = ContainerSpec.fromPartial({ image: stack.image, networkMode: NetworkMode.NETWORK_MODE_NONE, mounts: [mount({ source: missing, target: '/m' })] });
    expect(await failure(client.unary(ContainersService.create, { spec }))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid mount config for type "bind": bind source path does not exist: ${missing}`,
    });
    expect(existsSync(missing)).toBe(false);
  });

  it('refuses two mounts on one target', async () => {
    const spec = ContainerSpec.fromPartial({
      image: stack.image,
      mounts: [mount({ source: host.path, target: '/x' }), mount({ type: MountType.MOUNT_TYPE_TMPFS, target: '/x/' })],
    });
    expect(await failure(client.unary(ContainersService.create, { spec }))).toEqual({ kind: 'InvalidArgument', message: 'Duplicate mount point: /x' });
  });

  it("mounts a tmpfs with Docker's options and its size and mode", async () => {
    const { code, out } = await runWith(
      [
        mount({ type: MountType.MOUNT_TYPE_TMPFS, target: '/t', tmpfsSizeBytes: 2 << 20, tmpfsMode: 0o1770 }),
        mount({ type: MountType.MOUNT_TYPE_TMPFS, target: '/run/x', tmpfsOptions: 'exec,size=1m' }),
      ],
      ['sh', '-c', 'grep -E " /t | /run/x " /proc/mounts; stat -c %a /t'],
    );
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=1770/);
    expect(lines[1]).toMatch(/^tmpfs \/run\/x tmpfs rw,nosuid,nodev,relatime,size=1024k/);
    expect(lines[2]).toBe('1770');
  });
});

describe('volumes', { timeout: 30_000 }, () => {
  const volume = (source: string, target: string, extra: Partial<Mount> = {}) => mount({ type: MountType.MOUNT_TYPE_VOLUME, source, target, ...extra });

  it("keeps a named volume's data after its container is removed, for the next container; refuses its removal while in use", async () => {
    const first = await runWith([volume('strata-test-data', '/data', { mode: '' })], ['sh', '-c', 'echo kept > /data/f']);
    expect(first.code).toBe(0);
    const { container } = await client.unary(ContainersService.inspect, { id: first.container.id });
    const { volume: made } = await client.unary(VolumesService.inspect, { name: 'strata-test-data' });
    expect(container?.spec?.mounts[0]).toMatchObject({ type: MountType.MOUNT_TYPE_VOLUME, source: 'strata-test-data', volumePath: made!.mountpoint });
    expect(made).toMatchObject({ name: 'strata-test-data', driver: 'local', usedBy: [first.container.id] });
    expect(made!.mountpoint.startsWith(stack.stateDir) && made!.mountpoint.endsWith('/volumes/strata-test-data/_data')).toBe(true);
    expect(readFileSync(join(made!.mountpoint, 'f'), 'utf8')).toBe('kept\n');
    expect(await failure(client.unary(VolumesService.remove, { name: 'strata-test-data', force: false }))).toEqual({
      kind: 'FailedPrecondition',
      message: `remove strata-test-data: volume is in use - [${first.container.id}]`,
    });
    await client.unary(ContainersService.remove, { id: first.container.id, force: false });
    const second = await runWith([volume('strata-test-data', '/again')], ['cat', '/again/f']);
    expect({ code: second.code, out: second.out }).toEqual({ code: 0, out: 'kept\n' });
    await client.unary(ContainersService.remove, { id: second.container.id, force: false });
    await client.unary(VolumesService.remove, { name: 'strata-test-data', force: false });
    expect(existsSync(made!.mountpoint)).toBe(false);
  });

  it('removes an anonymous volume with rm -v, and with --rm, but keeps it with a plain rm', async () => {
    const kept = await runWith([volume('', '/anon')], ['true']);
    const { container: k } = await client.unary(ContainersService.inspect, { id: kept.container.id });
    const keptName = k!.spec!.mounts[0]!.source;
    expect(keptName).toMatch(/^[0-9a-f]{64}$/);
    await client.unary(ContainersService.remove, { id: kept.container.id, force: false });
    expect((await client.unary(VolumesService.inspect, { name: keptName })).volume?.usedBy).toEqual([]);
    const dropped = await runWith([volume('', '/anon')], ['true']);
    const { container: d } = await client.unary(ContainersService.inspect, { id: dropped.container.id });
    await client.unary(ContainersService.remove, { id: dropped.container.id, force: false, removeVolumes: true });
    expect(await failure(client.unary(VolumesService.inspect, { name: d!.spec!.mounts[0]!.source }))).toMatchObject({ kind: 'NotFound' });
    const spec = ContainerSpec.fromPartial({ image: stack.image, networkMode: NetworkMode.NETWORK_MODE_NONE, cmd: ['true'], autoRemove: true, mounts: [volume('', '/anon')] });
    const { container: auto } = await client.unary(ContainersService.create, { spec });
    const autoName = auto!.spec!.mounts[0]!.source;
    await client.unary(ContainersService.start, { id: auto!.id });
    await client.unary(ContainersService.wait, { id: auto!.id, condition: WaitCondition.WAIT_CONDITION_REMOVED });
    expect(await failure(client.unary(VolumesService.inspect, { name: autoName }))).toMatchObject({ kind: 'NotFound' });
    const pruned = await client.unary(VolumesService.prune, { all: false, filters: [] });
    expect(pruned.volumesDeleted).toEqual([keptName]);
  });

  it("refuses a volume name Docker refuses", async () => {
    const spec = ContainerSpec.fromPartial({ image: stack.image, mounts: [volume('a$', '/x')] });
    expect(await failure(client.unary(ContainersService.create, { spec }))).toEqual({
      kind: 'InvalidArgument',
      message: 'create a$: "a$" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    });
  });
});

describe("image VOLUMEs and the copy of the image's files into empty volumes", { timeout: 60_000 }, () => {
  let image: string;

  beforeAll(async () => {
    const busybox = await busyboxImage();
    const built = await buildImage({
      layers: [
        { tar: busybox.layers[0]!.tar, createdBy: 'busybox' },
        {
          items: [
            { dir: 'srv/data', mode: 0o750, uid: 65534, gid: 65534 },
            { file: 'srv/data/hello', content: 'from the image\n', uid: 65534, gid: 65534 },
            { file: 'srv/data/sub/deep', content: 'deep\n' },
            { symlink: 'srv/data/shadow', target: '/etc/shadow' },
            { symlink: 'srv/out', target: '../../../../../../../etc' },
          ],
          createdBy: 'COPY data /srv/data',
        },
      ],
      config: { Cmd: ['sh'], Volumes: { '/srv/data': {}, '/../../../../tmp/strata-cve-2022-23648': {}, '/srv/out': {} } },
    });
    await pushImage(stack.mirrorUrl, 'local/volumes', 'test', built);
    image = `${new URL(stack.mirrorUrl).host}/local/volumes:test`;
  }, 60_000);

  it("makes each image VOLUME an anonymous volume holding the image's files, cleaned inside the container's root (CVE-2022-23648)", async () => {
    const spec = ContainerSpec.fromPartial({ image, networkMode: NetworkMode.NETWORK_MODE_NONE, cmd: ['sh', '-c', 'cat /srv/data/hello /srv/data/sub/deep; ls /tmp'] });
    const { container } = await client.unary(ContainersService.create, { spec });
    const mounts = [...container!.spec!.mounts].sort((a, b) => (a.target < b.target ? -1 : 1));
    expect(mounts.map((m) => [m.type, m.target, m.source.length])).toEqual([
      [MountType.MOUNT_TYPE_VOLUME, '/srv/data', 64],
      [MountType.MOUNT_TYPE_VOLUME, '/srv/out', 64],
      [MountType.MOUNT_TYPE_VOLUME, '/tmp/strata-cve-2022-23648', 64],
    ]);
    const [data, out, escape] = mounts.map((m) => m.volumePath!);
    expect(readFileSync(join(data!, 'hello'), 'utf8')).toBe('from the image\n');
    expect(statSync(data!).mode & 0o7777).toBe(0o750);
    expect(statSync(data!).uid).toBe(65534);
    // A symlink in the copied tree stays a link; it is never followed to the host's file.
    expect(lstatSync(join(data!, 'shadow')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(data!, 'shadow'))).toBe('/etc/shadow');
    // A path climbing above / names a path inside the container; the host's /tmp is not touched.
    expect(existsSync('/tmp/strata-cve-2022-23648')).toBe(false);
    expect(escape!.startsWith(stack.stateDir)).toBe(true);
    // A symlink out of the rootfs resolves inside it: the volume holds the image's /etc, not the host's.
    expect(readFileSync(join(out!, 'passwd'), 'utf8')).toBe(BUSYBOX_PASSWD);
    expect(existsSync(join(out!, 'hostname'))).toBe(false);
    await client.unary(ContainersService.start, { id: container!.id });
    await client.unary(ContainersService.wait, { id: container!.id, condition: WaitCondition.WAIT_CONDITION_NOT_RUNNING });
    let text = '';
    for await (const r of client.serverStream(ContainersService.logs, { id: container!.id, follow: false, tail: -1 })) text += r.data.toString('utf8');
    expect(text).toBe('from the image\ndeep\nstrata-cve-2022-23648\n');
    await client.unary(ContainersService.remove, { id: container!.id, force: false, removeVolumes: true });
    for (const m of mounts) expect(existsSync(m.volumePath!)).toBe(false);
  });

  it('copies into an empty named volume only: a volume with files keeps them', async () => {
    const first = await runWithImage(image, [volume2('strata-copy', '/srv/data')], ['true']);
    const { volume } = await client.unary(VolumesService.inspect, { name: 'strata-copy' });
    expect(readFileSync(join(volume!.mountpoint, 'hello'), 'utf8')).toBe('from the image\n');
    writeFileSync(join(volume!.mountpoint, 'hello'), 'changed\n');
    const second = await runWithImage(image, [volume2('strata-copy', '/srv/data')], ['cat', '/srv/data/hello']);
    expect(second.out).toBe('changed\n');
    for (const c of [first, second]) await client.unary(ContainersService.remove, { id: c.container.id, force: false, removeVolumes: true });
    await client.unary(VolumesService.remove, { name: 'strata-copy', force: false });
  });
});
