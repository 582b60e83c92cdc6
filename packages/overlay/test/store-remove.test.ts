import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore, OverlayError } from '../src/index.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('remove() and prune()', () => {
  it('keeps layers another image still references, deletes them with the last user', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const archive = makeDockerArchive(work, layers);
    const store = new ImageStore({ root: join(work, 'store') });
    const base = await store.import(layers.base, { name: 'base:1' });
    const full = await store.import(archive.tar);
    expect((await store.layers()).map((l) => [l.diffId, l.references])).toEqual(
      expect.arrayContaining([
        [layers.baseDiffId, 2],
        [layers.upperDiffId, 1],
      ]),
    );

    const r1 = await store.remove('tsbox/busybox:test');
    expect(r1).toEqual({ images: [full.id], layers: [layers.upperDiffId] });
    expect(store.layerPaths(base)).toHaveLength(1);
    expect(fs.existsSync(join(store.layerPaths(base)[0] as string, 'bin/busybox'))).toBe(true);

    const r2 = await store.remove(base.id.slice(7, 19));
    expect(r2).toEqual({ images: [base.id], layers: [layers.baseDiffId] });
    expect(await store.layers()).toEqual([]);
    expect(await store.list()).toEqual([]);
    expect(fs.readdirSync(join(store.root, 'blobs'))).toEqual([]);
    expect(fs.readdirSync(join(store.root, 'tmp'))).toEqual([]);

    // Removing again by id is a no-op; an unknown name is an error.
    expect(await store.remove(base.id)).toEqual({ images: [], layers: [] });
    const err = await store.remove('nope:1').catch((e: unknown) => e);
    expect((err as OverlayError).code).toBe('ERR_TSBOX_OVERLAY_NOT_FOUND');
  });

  it('prune() deletes unreferenced layers and staging leftovers only', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const store = new ImageStore({ root: join(work, 'store') });
    const kept = await store.import(layers.base, { name: 'base:1' });
    const dropped = await store.import(layers.upper, { name: 'upper:1' });
    // Simulate an image record removed by hand and a crashed import's staging dir.
    fs.rmSync(join(store.root, 'images', `${dropped.id.slice(7)}.json`));
    fs.mkdirSync(join(store.root, 'tmp/layer-crashed/fs'), { recursive: true });
    const r = await store.prune();
    expect(r.layers).toEqual([layers.upperDiffId]);
    expect((await store.layers()).map((l) => l.diffId)).toEqual([kept.layers[0]]);
    expect(fs.readdirSync(join(store.root, 'tmp'))).toEqual([]);
  });

  it('get() finds images by id, id prefix and name; list() returns them', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const store = new ImageStore({ root: join(work, 'store') });
    const img = await store.import(layers.base, { name: 'base' });
    expect((await store.get(img.id)).id).toBe(img.id);
    expect((await store.get(img.id.slice(7))).id).toBe(img.id);
    expect((await store.get(img.id.slice(7, 19))).id).toBe(img.id);
    expect((await store.get('base')).id).toBe(img.id);
    expect((await store.list()).map((i) => i.id)).toEqual([img.id]);
    const err = await store.get('missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverlayError);
  });
});
