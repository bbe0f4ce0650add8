import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '@strata/kit/testing';
import { writeBusyboxRootfs } from '@strata/image-fixtures';
import { buildRuntimeSpec, type RuntimeSpecOptions } from './build-runtime-spec.js';
import { capabilityMask, DEFAULT_CAPABILITIES, grantableNofileLimit } from './hardened-defaults.js';
import { I386_SYSCALLS, syscallProbe, X86_64_SYSCALLS as NR } from './testing/syscall-probe.js';

const hasRunc = existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc');
const isRoot = process.getuid?.() === 0;
const x64 = process.arch === 'x64';

/** Probes run inside the container: /probes/NAME exits 0 on success or with the errno. */
const PROBES: Record<string, [number, (number | bigint)[]]> = {
  keyctl: [NR.keyctl, [0, -4, 0]], // KEYCTL_GET_KEYRING_ID of the user keyring
  add_key: [NR.add_key, [0, 0, 0, 0, 0]],
  unshare_user: [NR.unshare, [0x10000000]], // CLONE_NEWUSER
  clone_newuser: [NR.clone, [0x10000000 | 17, 0, 0, 0, 0]], // CLONE_NEWUSER | SIGCHLD
  clone_plain: [NR.clone, [17, 0, 0, 0, 0]], // a plain fork
  personality_query: [NR.personality, [0xffffffff]],
  personality_addr_no_randomize: [NR.personality, [0x0040000]],
  bpf: [NR.bpf, [0, 0, 0]],
  userfaultfd: [NR.userfaultfd, [0]],
  getpid: [NR.getpid, []],
};

const PROBE_SCRIPT = Object.keys(PROBES)
  .map((name) => `/probes/${name}; echo "probe.${name}=$?"`)
  .join('\n');

/** A masked /proc file that has content on this host (the kernel may lack some). */
const maskedFile = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug'].find((p) => {
  try {
    return readFileSync(p).length > 0;
  } catch {
    return false;
  }
});

interface RunResult {
  code: number | string;
  stdout: string;
  stderr: string;
  values: Record<string, string>;
}

describe.skipIf(!hasRunc || !isRoot)('runtime spec under real runc', () => {
  const run = randomBytes(4).toString('hex');
  let dir: ReturnType<typeof tempDir>;
  let rootfs: string;
  let state: string;
  let nofileLimit: number;
  const ids: string[] = [];

  /** Runs `runc run` of a spec built from options, with the script as `sh -c`; deletes the container afterwards. */
  async function runContainer(name: string, script: string, extra: Partial<RuntimeSpecOptions> = {}): Promise<RunResult> {
    const id = `strata-rs-${run}-${name}`;
    ids.push(id);
    const bundle = join(dir.path, `bundle-${name}`);
    mkdirSync(bundle);
    const spec = await buildRuntimeSpec({
      containerId: id,
      rootfs,
      image: { Cmd: ['sh'], Env: ['PATH=/bin', 'IMAGE_VAR=from-image'] },
      args: ['sh', '-c', script],
      network: 'none',
      cgroupsPath: `/${id}`,
      nofileLimit,
      ...extra,
    });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    try {
      const child = spawn('runc', ['--root', state, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)));
      clearTimeout(timer);
      const values: Record<string, string> = {};
      for (const line of stdout.split('\n')) {
        const m = /^([A-Za-z_.]+)[=:]\s*(.*)$/.exec(line);
        if (m !== null && !(m[1]! in values)) values[m[1]!] = m[2]!;
      }
      return { code, stdout, stderr, values };
    } finally {
      await deleteContainer(id);
    }
  }

  async function deleteContainer(id: string): Promise<void> {
    await new Promise<void>((resolve) => {
      const child = spawn('runc', ['--root', state, 'delete', '-f', id], { stdio: 'ignore' });
      child.on('exit', () => resolve());
      child.on('error', () => resolve());
    });
  }

  beforeAll(async () => {
    dir = tempDir('strata-rs-runc-');
    rootfs = join(dir.path, 'rootfs');
    state = join(dir.path, 'state');
    mkdirSync(rootfs);
    mkdirSync(state);
    await writeBusyboxRootfs(rootfs, { extraApplets: ['mknod', 'unshare', 'groups'] });
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnobody:x:65534:\nstaff:x:50:nobody\n');
    mkdirSync(join(rootfs, 'probes'));
    for (const [name, [nr, args]] of Object.entries(PROBES)) writeFileSync(join(rootfs, 'probes', name), syscallProbe(nr, args), { mode: 0o755 });
    writeFileSync(join(rootfs, 'probes', 'getpid_i386'), syscallProbe(I386_SYSCALLS.getpid, [], 'i386'), { mode: 0o755 });
    writeFileSync(join(dir.path, 'hosts'), '127.0.0.1 localhost\n10.9.8.7 probe-host\n');
    writeFileSync(join(dir.path, 'hostname'), 'probe-host\n');
    writeFileSync(join(dir.path, 'resolv.conf'), 'nameserver 10.9.8.1\n');
    nofileLimit = await grantableNofileLimit();
  });

  afterAll(async () => {
    for (const id of ids) await deleteContainer(id);
    // runc removes a container's cgroups with it; remove any it left (only ours, by their unique names).
    for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
      for (const id of ids) {
        const path = join('/sys/fs/cgroup', controller, id);
        if (existsSync(path)) rmdirSync(path);
      }
    }
    dir?.remove();
  });

  describe('a hardened container', () => {
    let result: RunResult;
    beforeAll(async () => {
      const script = [
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
        `echo "masked.size=$(wc -c < ${maskedFile ?? '/proc/keys'})"`,
        'echo "masked.dir=$(ls -A /proc/acpi 2>/dev/null | wc -l)"',
        '{ echo x > /proc/sys/kernel/hostname; } 2>/tmp/err; echo "procsys.status=$?"; echo "procsys.error=$(cat /tmp/err)"',
        'echo 1 > /proc/sysrq-trigger 2>/dev/null; echo "sysrq.status=$?"',
        'mknod /tmp/blk b 8 0 2>/dev/null; head -c 1 /tmp/blk >/dev/null 2>/tmp/err; echo "blockdev.status=$?"; echo "blockdev.error=$(cat /tmp/err)"',
        'mknod /tmp/null c 1 3 && echo hello > /tmp/null; echo "chardev.status=$?"',
        'head -c 4 /dev/urandom | wc -c | sed "s/^/urandom.bytes=/"',
        'touch /sys/x 2>/dev/null; echo "sys.write=$?"',
        PROBE_SCRIPT,
        'unshare -U true 2>/dev/null; echo "busybox.unshare=$?"',
        'echo "hostname=$(hostname)"',
        'echo "pwd=$(pwd)"',
        'echo "id=$(id -u):$(id -g)"',
        'echo "env.HOSTNAME=$HOSTNAME"; echo "env.HOME=$HOME"; echo "env.IMAGE_VAR=$IMAGE_VAR"; echo "env.EXTRA=$EXTRA"; echo "env.PATH=$PATH"',
        'echo "net=$(ls /sys/class/net | tr "\\n" " ")"',
        'echo "hosts=$(grep probe-host /etc/hosts)"; echo "resolv=$(cat /etc/resolv.conf)"',
        'echo "pids.max=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"',
        'echo "memory.limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
        'echo "nofile=$(ulimit -n)"',
        'echo "ps=$(ps -o pid= | wc -l)"',
      ].join('\n');
      result = await runContainer('hardened', script, {
        env: ['EXTRA=from-options', 'IMAGE_VAR=overridden'],
        workingDir: '/work/created/here',
        resources: { memoryBytes: 64 << 20, cpus: 0.5 },
        files: { hosts: join(dir.path, 'hosts'), resolvConf: join(dir.path, 'resolv.conf') },
      });
    }, 30_000);

    it('runs to completion', () => {
      expect(result.code, result.stderr).toBe(0);
    });

    it("has exactly Docker's 14 capabilities, none inheritable or ambient", () => {
      const mask = capabilityMask(DEFAULT_CAPABILITIES).toString(16).padStart(16, '0');
      expect(result.values).toMatchObject({ CapEff: mask, CapBnd: mask, CapPrm: mask, CapInh: '0000000000000000', CapAmb: '0000000000000000' });
    });

    it('sets no_new_privileges and a seccomp filter', () => {
      expect(result.values.NoNewPrivs).toBe('1');
      expect(result.values.Seccomp).toBe('2');
    });

    it('masks host information in /proc', () => {
      expect(result.values['masked.size']).toBe('0');
      expect(result.values['masked.dir']).toBe('0');
    });

    it('makes /proc/sys, /proc/sysrq-trigger and /sys read-only', () => {
      expect(result.values['procsys.status']).toBe('1');
      expect(result.values['procsys.error']).toContain('Read-only file system');
      expect(result.values['sysrq.status']).toBe('1');
      expect(result.values['sys.write']).toBe('1');
    });

    it('denies block devices through the device cgroup and allows the standard ones', () => {
      expect(result.values['blockdev.status']).toBe('1');
      expect(result.values['blockdev.error']).toContain('Operation not permitted');
      expect(result.values['chardev.status']).toBe('0');
      expect(result.values['urandom.bytes']).toBe('4');
    });

    it.skipIf(!x64)('refuses keyctl, add_key, unshare, clone with namespace flags, bpf and userfaultfd with EPERM', () => {
      for (const probe of ['keyctl', 'add_key', 'unshare_user', 'clone_newuser', 'bpf', 'userfaultfd', 'personality_addr_no_randomize']) {
        expect(result.values[`probe.${probe}`], probe).toBe('1');
      }
      expect(result.values['busybox.unshare']).not.toBe('0');
    });

    it.skipIf(!x64)('allows ordinary syscalls: getpid, a plain clone, a personality query', () => {
      expect(result.values['probe.getpid']).toBe('0');
      expect(result.values['probe.clone_plain']).toBe('0');
      expect(result.values['probe.personality_query']).toBe('0');
    });

    it('uses the first 12 characters of the id as hostname, and sets HOSTNAME', () => {
      const short = `strata-rs-${run}-hardened`.slice(0, 12);
      expect(result.values.hostname).toBe(short);
      expect(result.values['env.HOSTNAME']).toBe(short);
    });

    it('creates the working directory inside the root file system', () => {
      expect(result.values.pwd).toBe('/work/created/here');
      expect(statSync(join(rootfs, 'work/created/here')).isDirectory()).toBe(true);
    });

    it('merges the environment', () => {
      expect(result.values).toMatchObject({
        'env.IMAGE_VAR': 'overridden',
        'env.EXTRA': 'from-options',
        'env.HOME': '/root',
        'env.PATH': '/bin',
        id: '0:0',
      });
    });

    it('runs in a fresh network namespace with only loopback, in its own pid namespace', () => {
      expect(result.values.net?.trim()).toBe('lo');
      expect(Number(result.values.ps)).toBeLessThan(10);
    });

    it('bind-mounts the given /etc files', () => {
      expect(result.values.hosts).toBe('10.9.8.7 probe-host');
      expect(result.values.resolv).toBe('nameserver 10.9.8.1');
    });

    it('applies the limits', () => {
      expect(result.values['pids.max']).toBe('4096');
      expect(result.values['memory.limit']).toBe(String(64 << 20));
      expect(result.values.nofile).toBe(String(nofileLimit));
    });
  });

  it.skipIf(!x64)('the same probes succeed without the seccomp profile (so the profile is what refuses them)', async () => {
    const result = await runContainer('unconfined', `${PROBE_SCRIPT}\ngrep '^Seccomp:' /proc/self/status`, { seccomp: 'unconfined' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.values.Seccomp).toBe('0');
    for (const probe of ['keyctl', 'unshare_user', 'clone_newuser', 'getpid', 'clone_plain']) {
      expect(result.values[`probe.${probe}`], probe).toBe('0');
    }
  });

  it('runs as the resolved user with its groups and home (-u nobody), under the given hostname', async () => {
    const result = await runContainer('nobody', 'echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "groups=$(id -G)"; echo "home=$HOME"; echo "hostname=$(hostname)"; grep ^CapEff /proc/self/status', {
      user: 'nobody',
      hostname: 'probe-host',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.values).toMatchObject({ uid: '65534', gid: '65534', groups: '65534 50', home: '/home', hostname: 'probe-host', CapEff: '0000000000000000' });
  });

  it('runs in a user namespace with the given maps', async () => {
    chmodSync(dir.path, 0o711);
    const maps = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] };
    const result = await runContainer('userns', 'echo "id=$(id -u):$(id -g)"; echo "uidmap=$(cat /proc/self/uid_map | tr -s " " | sed "s/^ //")"; echo "pwd=$(pwd)"', {
      userNamespace: maps,
      workingDir: '/userns-work',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.values).toMatchObject({ id: '0:0', uidmap: '0 100000 65536', pwd: '/userns-work' });
    const st = statSync(join(rootfs, 'userns-work'));
    expect([st.uid, st.gid]).toEqual([100000, 100000]);
  });

  describe.skipIf(!x64)("the syscall ABIs: the image's own only", () => {
    const probe = '/probes/getpid_i386; echo "compat=$?"; /probes/getpid; echo "native=$?"; /probes/keyctl; echo "keyctl=$?"';

    it('kills a 32-bit syscall (int 0x80) in an amd64 container, by SIGSYS', async () => {
      const result = await runContainer('abi-amd64', probe, { imageArchitecture: 'amd64' });
      expect(result.code, result.stderr).toBe(0);
      expect(result.values).toMatchObject({ compat: String(128 + 31), native: '0', keyctl: '1' });
    });

    it('answers it in a linux/386 container, with the same allow-list', async () => {
      const result = await runContainer('abi-386', probe, { imageArchitecture: '386' });
      expect(result.values).toMatchObject({ compat: '0', native: '0', keyctl: '1' });
    });

    it('follows a profile of the user (Docker format, archMap with x86), and none with unconfined', async () => {
      const json = JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
        syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, includes: { arches: ['amd64'] } }],
      });
      const custom = await runContainer('abi-custom', `${probe}; grep ^Seccomp: /proc/self/status`, { seccomp: { json } });
      // getpid answers EACCES in both ABIs; keyctl, which the default profile refuses, runs (ENOKEY or a keyring id).
      expect(custom.values).toMatchObject({ compat: '13', native: '13', Seccomp: '2' });
      expect(custom.values.keyctl).not.toBe('1');
      const unconfined = await runContainer('abi-unconfined', `${probe}; grep ^Seccomp: /proc/self/status`, { seccomp: 'unconfined' });
      expect(unconfined.values).toMatchObject({ compat: '0', native: '0', Seccomp: '0' });
    });
  });

  it('runs as a numeric user that the image does not know', async () => {
    const result = await runContainer('numeric', 'echo "id=$(id -u):$(id -g)"; echo "home=$HOME"', { user: '4321:8765' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.values).toMatchObject({ id: '4321:8765', home: '/' });
  });
});
