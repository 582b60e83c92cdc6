import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore, OverlayError } from '../src/index.js';
import { makeDockerArchive, makeLayers, makeOciLayout } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

function expectEmptyStore(root: string): void {
  for (const d of ['layers', 'images', 'blobs', 'tmp']) {
    expect(fs.readdirSync(join(root, d)), `${d}/ after a rejected import`).toEqual([]);
  }
}

async function importError(store: ImageStore, path: string): Promise<OverlayError> {
  const err = await store.import(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OverlayError);
  return err as OverlayError;
}

describe('a corrupted blob', () => {
  it('OCI: a layer blob whose bytes differ from its digest is rejected, the first layer rolled back', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const oci = makeOciLayout(work, layers);
    // Still valid gzip of the same tar, but other bytes: only the digest can catch it.
    const upperBlob = oci.layerBlobs[1] as string;
    fs.writeFileSync(upperBlob, execFileSync('gzip', ['-c', '-1', layers.upper]));
    const store = new ImageStore({ root: join(work, 'store') });
    const err = await importError(store, oci.dir);
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_DIGEST_MISMATCH');
    expect(err.stage).toBe('import.verify');
    expect(err.expected).toBe(oci.layerDigests[1]);
    expectEmptyStore(store.root);
  });

  it('OCI: a tampered config blob is rejected before any layer is read', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const oci = makeOciLayout(work, layers);
    const configPath = join(oci.dir, 'blobs/sha256', oci.imageId.slice(7));
    fs.writeFileSync(configPath, fs.readFileSync(configPath, 'utf8').replace('hello', 'HELLO'));
    const store = new ImageStore({ root: join(work, 'store') });
    const err = await importError(store, oci.dir);
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_DIGEST_MISMATCH');
    expectEmptyStore(store.root);
  });

  it('docker save: a layer tar that does not match its diffID is rejected with nothing kept', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const archive = makeDockerArchive(work, layers);
    const manifest = JSON.parse(fs.readFileSync(join(archive.dir, 'manifest.json'), 'utf8'));
    // Swap in a valid tar with other content.
    fs.copyFileSync(layers.base, join(archive.dir, manifest[0].Layers[1]));
    const store = new ImageStore({ root: join(work, 'store') });
    const err = await importError(store, archive.dir);
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_DIGEST_MISMATCH');
    expect(err.expected).toBe(layers.upperDiffId);
    expectEmptyStore(store.root);
  });

  it('keeps a layer that another image already uses when a later import fails', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const archive = makeDockerArchive(work, layers);
    const store = new ImageStore({ root: join(work, 'store') });
    await store.import(layers.base, { name: 'base:1' });
    const manifest = JSON.parse(fs.readFileSync(join(archive.dir, 'manifest.json'), 'utf8'));
    fs.writeFileSync(join(archive.dir, manifest[0].Layers[1]), fs.readFileSync(layers.base));
    const err = await importError(store, archive.dir);
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_DIGEST_MISMATCH');
    expect((await store.layers()).map((l) => l.diffId)).toEqual([layers.baseDiffId]);
    expect((await store.list()).map((i) => i.names)).toEqual([['base:1']]);
  });
});
