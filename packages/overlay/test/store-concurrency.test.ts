import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageStore } from '../src/index.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';
import { expectBaseLayer, expectUpperLayer } from './layer-check.js';

const here = dirname(fileURLToPath(import.meta.url));
// vite-node ships with vitest; resolving it through vitest keeps the path version-free.
const viteNode = join(
  dirname(
    createRequire(createRequire(import.meta.url).resolve('vitest')).resolve(
      'vite-node/package.json',
    ),
  ),
  'vite-node.mjs',
);

const dirs = tempDirs();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  dirs.cleanup();
});

function worker(root: string, archive: string, barrier: string) {
  const child = spawn(
    process.execPath,
    [viteNode, join(here, 'fixtures/import-worker.ts'), root, archive, barrier],
    {
      cwd: join(here, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    err += c;
  });
  const ready = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (out.includes('ready')) {
        clearInterval(t);
        resolve();
      }
    }, 5);
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}: ${err}`)),
    );
  });
  return { ready, done };
}

async function importTwiceAtOnce(root: string, archive: string, work: string) {
  const barrier = join(work, 'go');
  const a = worker(root, archive, barrier);
  const b = worker(root, archive, barrier);
  await Promise.all([a.ready, b.ready]);
  fs.writeFileSync(barrier, '');
  const outs = await Promise.all([a.done, b.done]);
  return outs.map((o) => JSON.parse(o.split('\n').find((l) => l.startsWith('{')) ?? '{}').id);
}

describe('two processes importing the same layers at once', () => {
  it('rootfs tar (diffID unknown in advance): one layer, uncorrupted, no leftovers', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const root = join(work, 'store');
    const ids = await importTwiceAtOnce(root, layers.base, work);
    expect(ids[0]).toBe(ids[1]);
    const store = new ImageStore({ root });
    const stored = await store.layers();
    expect(stored.map((l) => l.diffId)).toEqual([layers.baseDiffId]);
    expectBaseLayer(stored[0]?.path as string);
    expect(fs.readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('docker archive (diffIDs known): layers extracted once under the layer lock', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const archive = makeDockerArchive(work, layers);
    const root = join(work, 'store');
    const ids = await importTwiceAtOnce(root, archive.tar, work);
    expect(ids).toEqual([archive.imageId, archive.imageId]);
    const store = new ImageStore({ root });
    const img = await store.get(archive.imageId);
    const [upper, base] = store.layerPaths(img) as [string, string];
    expectUpperLayer(upper);
    expectBaseLayer(base);
    expect(await store.layers()).toHaveLength(2);
    expect(fs.readdirSync(join(root, 'tmp'))).toEqual([]);
  });
});
