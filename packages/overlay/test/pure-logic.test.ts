// Pure logic behind the kernel seam: no root, no mounts, no files.
import { describe, expect, it } from 'vitest';
import { formatFromTopNames, isImageArchiveName } from '../src/archive-detect.js';
import { ancestors, normalizeEntryPath } from '../src/entry-path.js';
import { applyConfigStep, mergeEnv } from '../src/image-builder.js';
import {
  defaultArgv,
  parseImageConfigBlob,
  synthesizeConfigBlob,
  toImageConfig,
} from '../src/image-config.js';
import { parseDockerManifest, pickDockerEntry } from '../src/import-docker.js';
import { type Descriptor, parseIndex, parseManifest, pickManifest } from '../src/import-oci.js';
import { type OverlayError, sha256 } from '../src/index.js';
import { parseMountPoints } from '../src/mountinfo.js';
import { overlayMountOptions } from '../src/overlay-options.js';
import { parsePaxXattrs } from '../src/pax-xattrs.js';
import { makedev } from '../src/syscalls.js';
import { parseSize } from '../src/units.js';
import { classifyWhiteout, opaqueEntryName, whiteoutEntryName } from '../src/whiteout.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as OverlayError).code;
  }
  return 'no error';
};

describe('whiteout mapping', () => {
  it('classifies whiteouts, opaque markers, AUFS leftovers and plain files', () => {
    expect(classifyWhiteout('etc/.wh.passwd')).toEqual({ kind: 'whiteout', path: 'etc/passwd' });
    expect(classifyWhiteout('.wh.top')).toEqual({ kind: 'whiteout', path: 'top' });
    expect(classifyWhiteout('var/.wh..wh..opq')).toEqual({ kind: 'opaque', dir: 'var' });
    expect(classifyWhiteout('.wh..wh..opq')).toEqual({ kind: 'opaque', dir: '' });
    expect(classifyWhiteout('.wh..wh.plnk/123')).toEqual({ kind: 'none' });
    expect(classifyWhiteout('x/.wh..wh.aufs')).toEqual({ kind: 'ignore' });
    expect(classifyWhiteout('x/.wh.')).toEqual({ kind: 'ignore' });
    expect(classifyWhiteout('x/.wh..')).toEqual({ kind: 'ignore' });
    expect(classifyWhiteout('etc/passwd')).toEqual({ kind: 'none' });
    expect(classifyWhiteout('etc/not.wh.x')).toEqual({ kind: 'none' });
  });
  it('round-trips entry names for commit', () => {
    expect(whiteoutEntryName('a/b')).toBe('a/.wh.b');
    expect(whiteoutEntryName('b')).toBe('.wh.b');
    expect(opaqueEntryName('a')).toBe('a/.wh..wh..opq');
    expect(classifyWhiteout(whiteoutEntryName('a/b'))).toEqual({ kind: 'whiteout', path: 'a/b' });
  });
});

describe('entry paths', () => {
  it('normalises and refuses ".."', () => {
    expect(normalizeEntryPath('./bin/sh')).toBe('bin/sh');
    expect(normalizeEntryPath('/etc//passwd')).toBe('etc/passwd');
    expect(normalizeEntryPath('./')).toBe('');
    expect(code(() => normalizeEntryPath('a/../../etc'))).toBe('ERR_TSBOX_OVERLAY_UNSAFE_PATH');
    expect(ancestors('a/b/c')).toEqual(['a', 'a/b']);
    expect(ancestors('a')).toEqual([]);
  });
});

describe('PAX xattrs', () => {
  it('reads SCHILY and LIBARCHIVE records, binary values intact', () => {
    const rec = (k: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const bin = Buffer.from([0x01, 0x00, 0x80, 0xff, 0x0a, 0x3d]);
    const body = Buffer.concat([
      rec('mtime', Buffer.from('1.5')),
      rec('SCHILY.xattr.security.capability', bin),
      rec('LIBARCHIVE.xattr.user.a%20b', Buffer.from(Buffer.from('v').toString('base64'))),
    ]);
    const x = parsePaxXattrs(body);
    expect(x.get('security.capability')?.equals(bin)).toBe(true);
    expect(x.get('user.a b')?.toString()).toBe('v');
    expect(x.size).toBe(2);
    expect(parsePaxXattrs('garbage').size).toBe(0);
  });
});

describe('image config', () => {
  const blob = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['A=1'],
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'x'],
      WorkingDir: '/srv',
      User: 'nobody',
    },
    rootfs: { type: 'layers', diff_ids: [sha256('a')] },
  });
  it('parses run defaults and diffIDs', () => {
    const p = parseImageConfigBlob(blob);
    expect(p.config).toMatchObject({ env: ['A=1'], workingDir: '/srv', user: 'nobody' });
    expect(defaultArgv(p.config)).toEqual(['/bin/sh', '-c', 'x']);
    expect(p.diffIds).toEqual([sha256('a')]);
  });
  it('defaults missing fields and rejects malformed ones', () => {
    expect(toImageConfig(undefined)).toMatchObject({ env: [], cmd: [], workingDir: '/', user: '' });
    expect(code(() => toImageConfig({ Cmd: 'ls' }))).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(code(() => parseImageConfigBlob('{'))).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(code(() => parseImageConfigBlob('{"rootfs":{"diff_ids":["md5:x"]}}'))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    );
  });
  it('synthesises a stable config for a rootfs tar', () => {
    const a = synthesizeConfigBlob([sha256('x')], { cmd: ['/bin/sh'] });
    expect(a).toBe(synthesizeConfigBlob([sha256('x')], { cmd: ['/bin/sh'] }));
    expect(parseImageConfigBlob(a).config.cmd).toEqual(['/bin/sh']);
  });
});

describe('docker manifest.json', () => {
  const entries = parseDockerManifest([
    { Config: 'c1.json', RepoTags: ['a:1'], Layers: ['l/layer.tar'] },
    { Config: 'c2.json', RepoTags: ['b:latest'], Layers: [] },
  ]);
  it('picks by tag, bare name meaning latest, or the first', () => {
    expect(pickDockerEntry(entries).Config).toBe('c1.json');
    expect(pickDockerEntry(entries, 'b').Config).toBe('c2.json');
    expect(code(() => pickDockerEntry(entries, 'zz'))).toBe('ERR_TSBOX_OVERLAY_NOT_FOUND');
    expect(code(() => parseDockerManifest({}))).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(code(() => parseDockerManifest([{ Config: 'c' }]))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    );
  });
});

describe('OCI index and manifest', () => {
  const d = (extra: Partial<Descriptor> & Record<string, unknown>) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(JSON.stringify(extra)),
    size: 1,
    ...extra,
  });
  it('picks by ref name, else the native platform', () => {
    const idx = parseIndex({
      manifests: [
        d({
          platform: { os: 'linux', architecture: 'arm64' },
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        }),
        d({
          platform: { os: 'linux', architecture: 'amd64' },
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        }),
        d({ annotations: { 'org.opencontainers.image.ref.name': 'v2' } }),
      ],
    });
    expect(pickManifest(idx, 'v2')).toBe(idx[2]);
    expect(pickManifest(idx, 'repo:v2')).toBe(idx[2]);
    expect(pickManifest(idx, 'v1').platform?.architecture).toBe(
      process.arch === 'arm64' ? 'arm64' : 'amd64',
    );
    expect(code(() => pickManifest(idx, 'v3'))).toBe('ERR_TSBOX_OVERLAY_NOT_FOUND');
  });
  it('validates descriptors', () => {
    expect(code(() => parseIndex({}))).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(
      code(() => parseIndex({ manifests: [{ mediaType: 'x', size: 1, digest: 'sha256:zz' }] })),
    ).toBe('ERR_TSBOX_OVERLAY_INVALID_ARCHIVE');
    expect(
      code(() =>
        parseIndex({
          manifests: [{ mediaType: 'x', size: 1, digest: `sha512:${'a'.repeat(128)}` }],
        }),
      ),
    ).toBe('ERR_TSBOX_OVERLAY_UNSUPPORTED');
    const m = parseManifest({ config: d({}), layers: [d({ n: 1 })] });
    expect(m.layers).toHaveLength(1);
  });
});

describe('format detection from top-level names', () => {
  it('tells image archives from root file systems', () => {
    expect(isImageArchiveName('manifest.json')).toBe(true);
    expect(isImageArchiveName('a'.repeat(64))).toBe(true);
    expect(isImageArchiveName(`${'a'.repeat(64)}.json`)).toBe(true);
    expect(isImageArchiveName('bin')).toBe(false);
    expect(
      formatFromTopNames(new Set(['manifest.json', 'oci-layout', 'index.json', 'blobs'])),
    ).toBe('docker-archive');
    expect(formatFromTopNames(new Set(['oci-layout', 'index.json', 'blobs']))).toBe('oci-layout');
    expect(formatFromTopNames(new Set(['blobs']))).toBe('rootfs');
  });
});

describe('overlay options', () => {
  it('orders, escapes and limits', () => {
    expect(
      overlayMountOptions({ lowerdirs: ['/l/2', '/l/1'], upperdir: '/u', workdir: '/w' }),
    ).toBe('lowerdir=/l/2:/l/1,upperdir=/u,workdir=/w');
    expect(overlayMountOptions({ lowerdirs: ['/a:b'], upperdir: '/u', workdir: '/w' })).toBe(
      'lowerdir=/a\\:b,upperdir=/u,workdir=/w',
    );
    expect(
      code(() => overlayMountOptions({ lowerdirs: ['/a,b'], upperdir: '/u', workdir: '/w' })),
    ).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION');
    expect(code(() => overlayMountOptions({ lowerdirs: [], upperdir: '/u', workdir: '/w' }))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
    );
    const many = Array.from(
      { length: 80 },
      (_, i) => `/var/lib/tsbox/layers/${'f'.repeat(64)}${i}/fs`,
    );
    expect(
      code(() => overlayMountOptions({ lowerdirs: many, upperdir: '/u', workdir: '/w' })),
    ).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION');
  });
});

describe('build config steps', () => {
  it('merges env in place and lets a new entrypoint drop the inherited cmd', () => {
    expect(mergeEnv(['A=1', 'B=2'], { A: 'x', C: '3' })).toEqual(['A=x', 'B=2', 'C=3']);
    const base = toImageConfig({ Entrypoint: ['/e'], Cmd: ['c'] });
    expect(applyConfigStep(base, { kind: 'entrypoint', argv: ['/n'] })).toMatchObject({
      entrypoint: ['/n'],
      cmd: [],
    });
    expect(applyConfigStep(base, { kind: 'cmd', argv: ['d'] }).cmd).toEqual(['d']);
    expect(applyConfigStep(base, { kind: 'label', labels: { a: 'b' } }).labels).toEqual({ a: 'b' });
  });
});

describe('small helpers', () => {
  it('parses sizes', () => {
    expect(parseSize('100M', 'x')).toBe(100 * 1024 * 1024);
    expect(parseSize('1.5G', 'x')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('64k', 'x')).toBe(65536);
    expect(parseSize('10MiB', 'x')).toBe(10 * 1024 * 1024);
    expect(parseSize(4096, 'x')).toBe(4096);
    for (const bad of ['', '-1', '10 parsecs', 0, Number.NaN]) {
      expect(code(() => parseSize(bad, 'x'))).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION');
    }
  });
  it('unescapes mountinfo paths and encodes device numbers like glibc', () => {
    expect(parseMountPoints('36 35 98:0 / /mnt/a\\040b rw - ext4 /dev/x rw\n')).toEqual([
      '/mnt/a b',
    ]);
    expect(makedev(1, 3)).toBe(0x103n);
    expect(makedev(259, 65536)).toBe(0x10010300n); // what glibc gnu_dev_makedev gives
  });
});
