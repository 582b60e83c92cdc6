import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ImageStore,
  MOUNT_DATA_MAX,
  mountContainerRootfs,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from '../src/index.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
const states: string[] = [];
afterEach(() => {
  for (const s of states.splice(0)) teardownContainerRootfs(s);
  dirs.cleanup();
});

/** A docker save dir with `n` one-file layers: layer i adds /f<i>. */
function manyLayerArchive(work: string, n: number): string {
  const dir = join(work, 'many');
  fs.mkdirSync(dir);
  const diffIds: string[] = [];
  const layerNames: string[] = [];
  for (let i = 0; i < n; i++) {
    const tree = join(work, `t${i}`);
    fs.mkdirSync(tree);
    fs.writeFileSync(join(tree, `f${i}`), `${i}\n`);
    const name = `l${i}.tar`;
    execFileSync('tar', ['-C', tree, '-cf', join(dir, name), `f${i}`]);
    diffIds.push(
      `sha256:${createHash('sha256')
        .update(fs.readFileSync(join(dir, name)))
        .digest('hex')}`,
    );
    layerNames.push(name);
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
  fs.writeFileSync(join(dir, 'config.json'), config);
  fs.writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: ['many:1'], Layers: layerNames }]),
  );
  return dir;
}

describe('an image with more layers than one page of mount options holds', () => {
  it('mounts through short layer links and shows every layer', async () => {
    const work = dirs.make();
    const store = new ImageStore({ root: join(work, 'store') });
    const image = await store.import(manyLayerArchive(work, 60));
    expect(store.layerPaths(image).join(':').length).toBeGreaterThan(MOUNT_DATA_MAX);
    const s = join(work, 'state');
    states.push(s);
    const rootfs = await prepareContainerRootfs(store, image, s);
    expect(rootfs.lowerdirs[0]).toBe(join(store.root, 'l', image.layers[59]?.slice(7, 23) ?? ''));
    mountContainerRootfs(rootfs);
    const names = fs.readdirSync(rootfs.mergedDir).filter((n) => n.startsWith('f'));
    expect(names).toHaveLength(60);
    teardownContainerRootfs(s);
    // Removing the image removes the links with the layers.
    await store.remove(image.id);
    expect(fs.readdirSync(join(store.root, 'l'))).toEqual([]);
  });
});
