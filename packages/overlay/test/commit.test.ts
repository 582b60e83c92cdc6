import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ImageStore,
  mountContainerRootfs,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from '../src/index.js';
import { libcSyscalls } from '../src/syscalls.js';
import { OPAQUE_XATTR } from '../src/whiteout.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';
import { treeDigest } from './tree-digest.js';

const dirs = tempDirs();
const states: string[] = [];
afterEach(() => {
  for (const s of states.splice(0)) teardownContainerRootfs(s);
  dirs.cleanup();
});

describe('commit() of a container upper dir', () => {
  it('makes a layer whose image shows exactly what the container saw', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const store = new ImageStore({ root: join(work, 'store') });
    const parent = await store.import(makeDockerArchive(work, layers).tar);
    const s1 = join(work, 'state/c1');
    states.push(s1);
    const plan = await prepareContainerRootfs(store, parent, s1);
    mountContainerRootfs(plan);
    const m = plan.mergedDir;
    // Edit, delete, replace a dir (overlay makes it opaque), hard link, xattr, setuid.
    fs.appendFileSync(join(m, 'etc/os-release'), 'EDITED=1\n');
    fs.rmSync(join(m, 'del/stay.txt'));
    fs.rmSync(join(m, 'data'), { recursive: true });
    fs.mkdirSync(join(m, 'data'));
    fs.writeFileSync(join(m, 'data/fresh.txt'), 'fresh');
    fs.linkSync(join(m, 'data/fresh.txt'), join(m, 'data/fresh-link.txt'));
    fs.writeFileSync(join(m, 'bin/new-suid'), '#!/bin/sh\n');
    fs.chmodSync(join(m, 'bin/new-suid'), 0o4750);
    libcSyscalls().lsetxattr(
      join(m, 'data/fresh.txt'),
      'user.note',
      Buffer.from([0xff, 0x00, 0x80]),
    );
    // The upper dir holds what overlayfs made of that: a whiteout and an opaque dir.
    expect(fs.lstatSync(join(plan.upperdir, 'del/stay.txt')).isCharacterDevice()).toBe(true);
    expect(libcSyscalls().lgetxattr(join(plan.upperdir, 'data'), OPAQUE_XATTR)?.toString()).toBe(
      'y',
    );
    const seen = treeDigest(m, { skipRootMeta: true });

    const child = await store.commit(plan.upperdir, {
      parent,
      name: 'snap:1',
      config: { cmd: ['cat', '/data/fresh.txt'] },
      comment: 'test edits',
    });
    expect(child.format).toBe('commit');
    expect(child.layers.slice(0, 2)).toEqual(parent.layers);
    expect(child.layers).toHaveLength(3);
    expect(child.config.cmd).toEqual(['cat', '/data/fresh.txt']);
    expect(child.config.env).toEqual(parent.config.env);
    const top = store.layerPaths(child)[0] as string;
    expect(fs.lstatSync(join(top, 'del/stay.txt')).isCharacterDevice()).toBe(true);
    expect(libcSyscalls().lgetxattr(join(top, 'data'), OPAQUE_XATTR)?.toString()).toBe('y');
    expect(fs.statSync(join(top, 'data/fresh.txt')).ino).toBe(
      fs.statSync(join(top, 'data/fresh-link.txt')).ino,
    );

    const s2 = join(work, 'state/c2');
    states.push(s2);
    const plan2 = await prepareContainerRootfs(store, 'snap:1', s2);
    mountContainerRootfs(plan2);
    expect(treeDigest(plan2.mergedDir, { skipRootMeta: true })).toBe(seen);
    expect(fs.existsSync(join(plan2.mergedDir, 'data/owned.txt'))).toBe(false);
    expect(fs.existsSync(join(plan2.mergedDir, 'del/stay.txt'))).toBe(false);
    expect(fs.statSync(join(plan2.mergedDir, 'bin/new-suid')).mode & 0o7777).toBe(0o4750);

    // Removing the parent keeps the layers the child still uses.
    const r = await store.remove(parent.id);
    expect(r.layers).toEqual([]);
  });
});
