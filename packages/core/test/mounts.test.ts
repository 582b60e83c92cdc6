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
import { makeDockerArchive, makeLayers } from '../../overlay/test/fixtures/image-archives.js';
import { Container, ImageStore } from '../src/index.js';

let work: string;
let imageBox: Container;
beforeAll(async () => {
  work = mkdtempSync('/var/tmp/tsbox-mounts-');
  // A two-layer busybox image (@tsbox/overlay's fixture): the same mounts on an image root.
  const store = new ImageStore({ root: join(work, 'store') });
  const img = await store.import(makeDockerArchive(work, makeLayers(work)).tar);
  imageBox = new Container().image(img, store).user(0).entrypoint([]).timeout('20s');
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Shell text printing ` wrote` or ` refused` (shells differ in a failed redirection's status). */
const tryWrite = (cmd: string) => `if ${cmd}; then echo ' wrote'; else echo ' refused'; fi`;

// Each case runs on the host mirror and on an image root (overlay).
const roots: Array<[string, () => Container]> = [
  ['host mirror', () => new Container()],
  ['image root', () => imageBox],
];

describe.each(roots)('mounts on the %s', (kind, box) => {
  it('bind-mounts a host directory read-only by default, read-write on request', async () => {
    const data = join(work, `data-${kind.replace(' ', '-')}`);
    mkdirSync(data);
    writeFileSync(join(data, 'in.txt'), 'from host');
    const ro = await box()
      .mount({ source: data, target: '/data' })
      .run('sh', ['-c', `cat /data/in.txt; ${tryWrite('echo x > /data/out.txt')}`]);
    expect(ro.stdout).toBe('from host refused\n');
    expect(ro.stderr).toMatch(/Read-only file system/); // EROFS
    expect(existsSync(join(data, 'out.txt'))).toBe(false);
    const rw = await box()
      .mount({ source: data, target: '/data', readonly: false })
      .run('sh', ['-c', 'echo written > /data/out.txt']);
    expect(rw.exitCode).toBe(0);
    expect(readFileSync(join(data, 'out.txt'), 'utf8')).toBe('written\n');
  });

  it('bind-mounts a single host file', async () => {
    const file = join(work, `file-${kind.replace(' ', '-')}.txt`);
    writeFileSync(file, 'one file\n');
    const r = await box()
      .mount({ source: file, target: '/etc/one.txt' })
      .run('sh', ['-c', `cat /etc/one.txt; ${tryWrite('echo y >> /etc/one.txt')}`]);
    expect(r.stdout).toBe('one file\n refused\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(readFileSync(file, 'utf8')).toBe('one file\n');
  });

  it('tmpfs has its size limit: writing past it gives ENOSPC', async () => {
    const r = await box()
      .tmpfs('/scratch', '1M')
      .run('sh', [
        '-c',
        `${tryWrite('dd if=/dev/zero of=/scratch/big bs=64k count=32')}; df -k /scratch | tail -1`,
      ]);
    expect(r.stderr).toMatch(/No space left on device/); // ENOSPC
    expect(r.stdout).toMatch(/^ refused\n/);
    expect(r.stdout).toMatch(/\b1024\b/);
  });

  it('a tmpfs over /tmp has the asked size', async () => {
    const r = await box().tmpfs('/tmp', '2M').run('sh', ['-c', 'df -k /tmp | tail -1']);
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
