import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';

// Each test asks the real kernel, from inside a real container, what it can see and do.
const box = new Container().timeout('20s');

async function sh(script: string, c: Container = box) {
  const r = await c.run('sh', ['-c', script]);
  return r;
}

describe('isolation', () => {
  it('runs the issue example: env, hostname, the workload is pid 2 under our PID 1', async () => {
    const r = await new Container()
      .hostname('box')
      .env({ GREETING: 'hi' })
      .timeout('2s')
      .run('sh', ['-c', 'echo $GREETING from $(hostname), pid $$']);
    expect(r).toMatchObject({
      exitCode: 0,
      signal: null,
      stdout: 'hi from box, pid 2\n',
      stderr: '',
      timedOut: false,
    });
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('has tsbox-init as PID 1 and sees no host process', async () => {
    const r = await sh(
      'cat /proc/1/comm; ls -d /proc/[0-9]* | wc -l; test -e /proc/' +
        process.pid +
        '/comm && echo host-visible || echo host-hidden',
    );
    const [comm, count, visibility] = r.stdout.trim().split('\n');
    expect(comm).toBe('tsbox-init');
    // PID 1, the shell, and the short-lived ls/wc/test at most
    expect(Number(count)).toBeLessThanOrEqual(4);
    expect(visibility).toBe('host-hidden');
  });

  it('sets the hostname in its own UTS namespace only', async () => {
    const before = (await import('node:os')).hostname();
    const r = await sh('hostname', box.hostname('sandbox-1'));
    expect(r.stdout).toBe('sandbox-1\n');
    expect((await import('node:os')).hostname()).toBe(before);
  });

  it('does not show host files outside the mirror', async () => {
    const dir = mkdtempSync('/var/tmp/tsbox-marker-');
    const marker = join(dir, 'secret');
    writeFileSync(marker, 'host only');
    const hostTmp = join('/tmp', `tsbox-marker-${process.pid}`);
    writeFileSync(hostTmp, 'host tmp');
    try {
      const r = await sh(
        `test -e ${marker} && echo visible; test -e ${hostTmp} && echo tmp-visible; ls /; test -d /root/.cache && echo root-home; test -e /work && echo work; echo done`,
      );
      expect(r.stdout).not.toContain('visible');
      expect(r.stdout).not.toContain('root-home');
      expect(r.stdout).not.toMatch(/^work$/m);
      const top = r.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== 'done');
      expect(top).not.toContain('home');
      expect(top).not.toContain('var');
      expect(top).not.toContain('run');
      expect(top).toEqual(
        expect.arrayContaining(['usr', 'bin', 'etc', 'tmp', 'proc', 'dev', 'sys']),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(hostTmp, { force: true });
    }
  });

  it('refuses mount and sethostname with EPERM', async () => {
    const py = [
      'import ctypes, errno, socket',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)',
      'print("mount", rc, errno.errorcode.get(ctypes.get_errno()))',
      'try:\n  socket.sethostname("evil")\n  print("sethostname ok")\nexcept OSError as e:\n  print("sethostname", errno.errorcode[e.errno])',
    ].join('\n');
    const r = await box.run('python3', ['-c', py]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('mount -1 EPERM\nsethostname EPERM\n');
  });

  it('masks sensitive /proc and /sys paths and makes /proc/sys read-only', async () => {
    const r = await sh(
      'for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do test -e $f && echo "$f $(wc -c < $f)"; done; ' +
        'ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo sys-writable; ' +
        'grep -c " /proc/sys " /proc/self/mountinfo',
    );
    const lines = r.stdout.trim().split('\n');
    // /proc/keys and /proc/timer_list exist on this kernel and are non-empty on the host.
    expect(lines).toContain('/proc/keys 0');
    expect(lines).toContain('/proc/timer_list 0');
    for (const l of lines.filter((x) => x.startsWith('/proc/'))) expect(l).toMatch(/ 0$/);
    expect(r.stdout).not.toContain('sys-writable');
    expect(lines.at(-2)).toBe('0'); // /sys/firmware is an empty read-only tmpfs
    expect(lines.at(-1)).toBe('1'); // /proc/sys is its own read-only mount
  });

  it('cannot write the mirrored /usr, can write /tmp', async () => {
    const r = await sh('touch /usr/tsbox-probe 2>&1; echo rc=$?; echo ok > /tmp/x && cat /tmp/x');
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/rc=1/);
    expect(r.stdout).toMatch(/^ok$/m);
  });

  it('has only the loopback interface, and it is up', async () => {
    const r = await sh(
      'ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags',
    );
    const [ifaces, , flags] = [
      r.stdout.split('\n')[0],
      r.stdout.split('\n')[1],
      r.stdout.split('\n')[2],
    ];
    expect(ifaces).toBe('lo');
    expect(Number(flags) & 1).toBe(1); // IFF_UP
  });

  it("keeps Docker's default capabilities and sets no_new_privs", async () => {
    const r = await sh('grep -E "^(CapEff|NoNewPrivs)" /proc/self/status');
    expect(r.stdout).toContain('CapEff:\t00000000a80425fb');
    expect(r.stdout).toContain('NoNewPrivs:\t1');
    const dropped = await sh(
      'grep CapEff /proc/self/status',
      box.capabilities({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }),
    );
    expect(dropped.stdout).toBe(`CapEff:\t${(1 << 10).toString(16).padStart(16, '0')}\n`);
  });
});
