import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore } from '../src/index.js';
import { makeLayers, makeOciLayout } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';
import { expectBaseLayer, expectUpperLayer } from './layer-check.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('import of an OCI image layout', () => {
  for (const packed of [false, true]) {
    it(`imports gzip layers from a layout ${packed ? 'tar' : 'directory'}`, async () => {
      const work = dirs.make();
      const layers = makeLayers(work);
      const oci = makeOciLayout(work, layers, 'v1');
      const store = new ImageStore({ root: join(work, 'store') });
      const img = await store.import(packed ? oci.tar : oci.dir, { name: 'v1' });
      expect(img.format).toBe('oci-layout');
      expect(img.id).toBe(oci.imageId);
      expect(img.manifestDigest).toBe(oci.manifestDigest);
      expect(img.layers).toEqual([layers.baseDiffId, layers.upperDiffId]);
      const [upper, base] = store.layerPaths(img) as [string, string];
      expectUpperLayer(upper);
      expectBaseLayer(base);
      const stored = await store.layers();
      expect(stored.map((l) => l.blobDigests[0]).sort()).toEqual([...oci.layerDigests].sort());
      expect(fs.readdirSync(join(work, 'store/tmp'))).toEqual([]);
    });
  }

  it('does not re-extract layers shared with an image already in the store', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const oci = makeOciLayout(work, layers);
    const store = new ImageStore({ root: join(work, 'store') });
    await store.import(layers.base, { name: 'base:1' });
    const before = fs.statSync(join(store.root, 'layers', layers.baseDiffId.slice(7))).ino;
    const img = await store.import(oci.dir);
    expect(img.layers[0]).toBe(layers.baseDiffId);
    expect(fs.statSync(join(store.root, 'layers', layers.baseDiffId.slice(7))).ino).toBe(before);
    expect(await store.layers()).toHaveLength(2);
  });
});
