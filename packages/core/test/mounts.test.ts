import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync('/var/tmp/tsbox-mounts-');
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('mounts', () => {
  it('bind-mounts a host directory read-only by default, read-write on request', async () => {
    const data = join(work, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'in.txt'), 'from host');
    const ro = await new Container()
      .mount({ source: data, target: '/data' })
      .run('sh', ['-c', 'cat /data/in.txt; echo x > /data/out.txt']);
    expect(ro.stdout).toBe('from host');
    expect(ro.stderr).toMatch(/Read-only file system/);
    const rw = await new Container()
      .mount({ source: data, target: '/data', readonly: false })
      .run('sh', ['-c', 'echo written > /data/out.txt']);
    expect(rw.exitCode).toBe(0);
    expect(readFileSync(join(data, 'out.txt'), 'utf8')).toBe('written\n');
  });

  it('tmpfs has its size limit: writing past it gives ENOSPC', async () => {
    const r = await new Container()
      .tmpfs('/scratch', '1M')
      .run('sh', [
        '-c',
        'head -c 2097152 /dev/zero > /scratch/big; echo rc=$?; df -k /scratch | tail -1',
      ]);
    expect(r.stderr).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/rc=1/);
    expect(r.stdout).toMatch(/\b1024\b/);
  });

  it('replaces the default /tmp when asked', async () => {
    const r = await new Container().tmpfs('/tmp', '2M').run('sh', ['-c', 'df -k /tmp | tail -1']);
    expect(r.stdout).toMatch(/\b2048\b/);
  });
});

describe('rootfs from a directory (busybox-static)', () => {
  let root: string;
  beforeAll(() => {
    // scripts/setup.sh installs busybox-static; without it this fails loudly.
    if (!existsSync('/bin/busybox'))
      throw new Error('busybox-static is not installed: run scripts/setup.sh');
    root = join(work, 'busybox-root');
    mkdirSync(join(root, 'bin'), { recursive: true });
    execFileSync('cp', ['/bin/busybox', join(root, 'bin/busybox')]);
    // Relative links: `busybox --install -s` would point them at this host path.
    for (const applet of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split(
      '\n',
    )) {
      if (applet && applet !== 'busybox') symlinkSync('busybox', join(root, 'bin', applet));
    }
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/os-release'), 'NAME=tsbox-busybox-test\n');
  });

  it('runs the directory as / , read-only by default', async () => {
    const r = await new Container()
      .rootfs(root)
      .run('sh', [
        '-c',
        'cat /etc/os-release; ls /; test -e /usr/lib/os-release || echo no-host-usr; touch /x 2>&1',
      ]);
    expect(r.stdout).toContain('NAME=tsbox-busybox-test');
    expect(r.stdout).toContain('no-host-usr');
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.exitCode).not.toBe(0);
  });

  it('is writable with { readonly: false }', async () => {
    const r = await new Container()
      .rootfs(root, { readonly: false })
      .run('sh', ['-c', 'echo hi > /written && cat /written']);
    expect(r.stdout).toBe('hi\n');
    expect(readFileSync(join(root, 'written'), 'utf8')).toBe('hi\n');
  });
});
