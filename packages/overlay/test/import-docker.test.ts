import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore, type ImportProgress } from '../src/index.js';
import { FIXTURE_CONFIG, makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';
import { expectBaseLayer, expectUpperLayer } from './layer-check.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('import of a docker save archive', () => {
  for (const packed of [true, false]) {
    it(`imports two layers with whiteout and opaque dir from a ${packed ? 'tar' : 'directory'}`, async () => {
      const work = dirs.make();
      const layers = makeLayers(work);
      const archive = makeDockerArchive(work, layers);
      const store = new ImageStore({ root: join(work, 'store') });
      const seen: ImportProgress[] = [];
      const img = await store.import(packed ? archive.tar : archive.dir, {
        onProgress: (p) => seen.push(p),
      });
      expect(img.format).toBe('docker-archive');
      expect(img.id).toBe(archive.imageId);
      expect(img.names).toEqual(['tsbox/busybox:test']);
      expect(img.layers).toEqual([layers.baseDiffId, layers.upperDiffId]);
      expect(img.config).toMatchObject({
        env: FIXTURE_CONFIG.Env,
        entrypoint: FIXTURE_CONFIG.Entrypoint,
        cmd: FIXTURE_CONFIG.Cmd,
        workingDir: '/data',
        user: '1000:1000',
      });
      const last = seen.at(-1);
      expect(last).toMatchObject({ layersDone: 2, layersTotal: 2 });
      expect(last?.bytes).toBe(last?.totalBytes);
      const [upper, base] = store.layerPaths(img) as [string, string];
      expectUpperLayer(upper);
      expectBaseLayer(base);
      expect((await store.get('tsbox/busybox:test')).id).toBe(img.id);
      // The staging copy of the unpacked archive is gone.
      expect(fs.readdirSync(join(work, 'store/tmp'))).toEqual([]);
    });
  }
});
