import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore, OverlayError } from '../src/index.js';
import { libcSyscalls } from '../src/syscalls.js';
import { CAP_SETUID_EP, FIXED_MTIME, gnuTar, makeBusyboxTree } from './fixtures/busybox-tree.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

function busyboxRootfsTar(gzip: boolean): { work: string; tar: string } {
  const work = dirs.make();
  const tree = join(work, 'tree');
  fs.mkdirSync(tree);
  makeBusyboxTree(tree);
  const tar = join(work, gzip ? 'rootfs.tar.gz' : 'rootfs.tar');
  gnuTar(tree, tar, gzip);
  return { work, tar };
}

describe('import of a plain rootfs tar', () => {
  for (const gzip of [false, true]) {
    it(`extracts a busybox tree${gzip ? ' (.tar.gz)' : ''} preserving every kind of entry`, async () => {
      const { work, tar } = busyboxRootfsTar(gzip);
      const store = new ImageStore({ root: join(work, 'store') });
      const progress: number[] = [];
      const img = await store.import(tar, {
        name: 'busybox:rootfs',
        config: { cmd: ['/bin/sh'] },
        onProgress: (p) => progress.push(p.bytes),
      });
      expect(img.format).toBe('rootfs');
      expect(img.layers).toHaveLength(1);
      expect(img.config.cmd).toEqual(['/bin/sh']);
      expect(progress.at(-1)).toBe(fs.statSync(tar).size);
      const [root] = store.layerPaths(img) as [string];

      const busybox = fs.statSync(join(root, 'bin/busybox'));
      expect(busybox.mode & 0o7777).toBe(0o755);
      expect(fs.readlinkSync(join(root, 'bin/sh'))).toBe('busybox');
      expect(fs.statSync(join(root, 'bin/busybox-hardlink')).ino).toBe(busybox.ino);
      expect(fs.statSync(join(root, 'bin/suid-tool')).mode & 0o7777).toBe(0o4755);
      expect(fs.statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
      const devNull = fs.statSync(join(root, 'dev/null'));
      expect(devNull.isCharacterDevice()).toBe(true);
      expect(devNull.rdev).toBe(fs.statSync('/dev/null').rdev);
      expect(fs.statSync(join(root, 'run/fifo')).isFIFO()).toBe(true);
      const owned = fs.statSync(join(root, 'data/owned.txt'));
      expect([owned.uid, owned.gid]).toEqual([1000, 1000]);
      expect(owned.mtimeMs).toBe(FIXED_MTIME * 1000);
      expect(fs.statSync(join(root, 'data')).mtimeMs).toBe(FIXED_MTIME * 1000);
      const xattr = libcSyscalls().lgetxattr(join(root, 'etc/os-release'), 'user.tsbox');
      expect(xattr?.toString()).toBe('hello');
      // Binary xattrs survive byte for byte (node-tar alone would decode them as UTF-8).
      const cap = libcSyscalls().lgetxattr(join(root, 'bin/cap-tool'), 'security.capability');
      expect(cap?.toString('hex')).toBe(CAP_SETUID_EP.toString('hex'));
      expect(
        fs.readFileSync(join(root, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox')),
      ).toBe(true);
    });
  }

  it('gives the same layer and image for the same tar imported twice', async () => {
    const { work, tar } = busyboxRootfsTar(false);
    const store = new ImageStore({ root: join(work, 'store') });
    const a = await store.import(tar);
    const b = await store.import(tar, { name: 'again:1' });
    expect(b.id).toBe(a.id);
    expect(b.names).toEqual(['again:1']);
    expect(await store.layers()).toHaveLength(1);
    expect(await store.list()).toHaveLength(1);
  });

  it('lets a later entry of the same name replace an earlier one, as GNU tar does', async () => {
    const work = dirs.make();
    const { execFileSync } = await import('node:child_process');
    const a = join(work, 'a');
    const b = join(work, 'b');
    fs.mkdirSync(join(a, 'd'), { recursive: true });
    fs.writeFileSync(join(a, 'f'), 'first');
    fs.writeFileSync(join(a, 'd/inner'), 'x');
    fs.mkdirSync(b);
    fs.symlinkSync('elsewhere', join(b, 'f'));
    fs.writeFileSync(join(b, 'd'), 'now a file');
    const tar = join(work, 'dup.tar');
    execFileSync('tar', ['-C', a, '-cf', tar, 'f', 'd']);
    execFileSync('tar', ['-C', b, '-rf', tar, 'f', 'd']);
    const store = new ImageStore({ root: join(work, 'store') });
    const img = await store.import(tar, { format: 'rootfs' });
    const [root] = store.layerPaths(img) as [string];
    expect(fs.readlinkSync(join(root, 'f'))).toBe('elsewhere');
    expect(fs.readFileSync(join(root, 'd'), 'utf8')).toBe('now a file');
  });

  it('rejects a file that is not a tar with a typed error and leaves the store empty', async () => {
    const work = dirs.make();
    const bogus = join(work, 'bogus.tar');
    fs.writeFileSync(bogus, 'this is not a tar archive at all'.repeat(40));
    const store = new ImageStore({ root: join(work, 'store') });
    const err = await store.import(bogus, { format: 'rootfs' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverlayError);
    expect((err as OverlayError).code).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(await store.layers()).toEqual([]);
    expect(fs.readdirSync(join(work, 'store/tmp'))).toEqual([]);
  });

  it('refuses an entry that climbs out with ".." or through a planted symlink', async () => {
    const work = dirs.make();
    const store = new ImageStore({ root: join(work, 'store') });
    const evil = join(work, 'evil');
    fs.mkdirSync(join(evil, 'x'), { recursive: true });
    fs.symlinkSync('/etc', join(evil, 'link'));
    fs.writeFileSync(join(evil, 'x/f'), 'payload');
    const tar = join(work, 'evil.tar');
    // GNU tar --transform plants "link/f" after the symlink "link" in the archive.
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', [
      '-C',
      evil,
      '--transform',
      's,^x/f$,link/tsbox-escape,',
      '-cf',
      tar,
      'link',
      'x/f',
    ]);
    const err = await store.import(tar, { format: 'rootfs' }).catch((e: unknown) => e);
    expect((err as OverlayError).code).toBe('ERR_TSBOX_OVERLAY_UNSAFE_PATH');
    expect(fs.existsSync('/etc/tsbox-escape')).toBe(false);
    expect(await store.layers()).toEqual([]);
  });
});
