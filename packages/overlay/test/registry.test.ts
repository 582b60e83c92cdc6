import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ImageRecord,
  ImageStore,
  type ImportProgress,
  type OverlayError,
  type PushProgress,
  type PushResult,
  sha256,
} from '../src/index.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { startRegistry, type TestRegistry } from './fixtures/registry.js';
import { rejection, tempDirs } from './helpers.js';
import { treeDigest } from './tree-digest.js';

// Push and pull against a real registry: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1, started by this file with its own config and storage, stopped in afterAll.
// The image is the two-layer busybox fixture (a whiteout and an opaque dir in the upper
// layer), imported from a `docker save` tar into a source store.

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

let reg: TestRegistry;
let work: string;
let source: ImageStore;
let image: ImageRecord;
let pushed: PushResult;

beforeAll(async () => {
  reg = await startRegistry();
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-registry-src-'));
  const layers = makeLayers(work);
  source = new ImageStore({ root: join(work, 'store') });
  image = await source.import(makeDockerArchive(work, layers).tar);
  pushed = await source.push(image, `${reg.host}/tsbox/busybox:1`);
});

afterAll(async () => {
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Every path under a store root with its type/size; `locks/` (flock files, kept by design) aside. */
function storeTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(rel === '' ? root : join(root, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (r === 'locks') continue;
      const st = fs.lstatSync(join(root, r));
      out.push(`${r} ${st.isDirectory() ? 'dir' : st.size}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** Flips one byte in the middle of a blob's data file; returns a function that restores it. */
function corrupt(digest: string): () => void {
  const path = reg.blobData(digest);
  const original = fs.readFileSync(path);
  const bad = Buffer.from(original);
  const i = Math.floor(bad.length / 2);
  bad[i] = (bad[i] as number) ^ 0xff;
  fs.writeFileSync(path, bad);
  return () => fs.writeFileSync(path, original);
}

/** Raw distribution-API calls, to build what push itself does not make (indexes). */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

async function api(method: string, path: string, body?: Buffer | string, type?: string) {
  const res = await fetch(`http://${reg.host}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
    headers: { accept: MANIFEST_TYPES, ...(type ? { 'content-type': type } : {}) },
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function apiUpload(repo: string, data: Buffer): Promise<string> {
  const start = await api('POST', `/v2/${repo}/blobs/uploads/`);
  expect(start.status).toBe(202);
  const url = new URL(start.headers.get('location') as string, `http://${reg.host}`);
  url.searchParams.set('digest', sha256(data));
  const put = await api('PUT', url.pathname + url.search, data, 'application/octet-stream');
  expect(put.status).toBe(201);
  return sha256(data);
}

describe('push and pull', () => {
  it('an image pushed from one store and pulled into an empty one has the same layers and config', async () => {
    expect(pushed.ref).toBe(`${reg.host}/tsbox/busybox:1`);
    expect(pushed.layers.map((l) => l.uploaded)).toEqual([true, true]);
    const root = join(dirs.make(), 'store');
    const dest = new ImageStore({ root });
    const progress: ImportProgress[] = [];
    const pulled = await dest.pull(`${reg.host}/tsbox/busybox:1`, {
      onProgress: (p) => progress.push(p),
    });
    expect(pulled.format).toBe('registry');
    expect(pulled.names).toEqual([`${reg.host}/tsbox/busybox:1`]);
    expect(pulled.manifestDigest).toBe(pushed.manifestDigest);
    expect(pulled.id).toBe(pushed.imageId);
    expect(pulled.layers).toEqual(pushed.layers.map((l) => l.diffId));
    // Run defaults and platform survive; only rootfs.diff_ids may name the pushed tars.
    expect(pulled.config).toEqual(image.config);
    expect([pulled.architecture, pulled.os]).toEqual([image.architecture, image.os]);
    const strip = (blob: string) => ({ ...JSON.parse(blob), rootfs: undefined });
    expect(strip(pulled.configBlob)).toEqual(strip(image.configBlob));
    // The extracted layers are the same trees: contents, modes, owners, mtimes, xattrs,
    // the whiteout device and the opaque dir.
    const a = source.layerPaths(image).map((p) => treeDigest(p, { skipRootMeta: true }));
    const b = dest.layerPaths(pulled).map((p) => treeDigest(p, { skipRootMeta: true }));
    expect(b).toEqual(a);
    expect(await dest.get(`${reg.host}/tsbox/busybox:1`)).toEqual(pulled);
    const last = progress[progress.length - 1] as ImportProgress;
    expect(last.layersDone).toBe(2);
    expect(last.bytes).toBe(pushed.layers.reduce((n, l) => n + l.size, 0));
    expect(last.totalBytes).toBe(last.bytes);
    expect(fs.readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('a pulled image pushed again keeps its id and manifest; the registry already has every blob', async () => {
    const dest = new ImageStore({ root: join(dirs.make(), 'store') });
    const pulled = await dest.pull(`${reg.host}/tsbox/busybox:1`);
    const again = await dest.push(pulled, `${reg.host}/tsbox/busybox:again`);
    expect(again.imageId).toBe(pulled.id);
    expect(again.manifestDigest).toBe(pushed.manifestDigest);
    expect(again.layers.map((l) => l.uploaded)).toEqual([false, false]);
  });

  it('pulls by digest, and a Docker schema 2 manifest as well as an OCI one', async () => {
    const dest = new ImageStore({ root: join(dirs.make(), 'store') });
    const byDigest = await dest.pull(`${reg.host}/tsbox/busybox@${pushed.manifestDigest}`);
    expect(byDigest.id).toBe(pushed.imageId);
    expect(byDigest.names).toEqual([`${reg.host}/tsbox/busybox@${pushed.manifestDigest}`]);
    const progress: PushProgress[] = [];
    const docker = await source.push(image, `${reg.host}/tsbox/docker-format:1`, {
      format: 'docker',
      onProgress: (p) => progress.push(p),
    });
    expect(docker.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const total = docker.layers.reduce((n, l) => n + l.size, 0);
    expect(progress[progress.length - 1]).toEqual({
      bytes: total,
      totalBytes: total,
      layersDone: 2,
      layersTotal: 2,
    });
    // Uploaded bytes are reported as they go, not only per layer.
    expect(progress.length).toBeGreaterThan(4);
    const manifest = await api('GET', `/v2/tsbox/docker-format/manifests/1`);
    expect(JSON.parse(manifest.body.toString()).config.mediaType).toBe(
      'application/vnd.docker.container.image.v1+json',
    );
    const other = new ImageStore({ root: join(dirs.make(), 'store') });
    const pulled = await other.pull(`${reg.host}/tsbox/docker-format:1`);
    expect(pulled.id).toBe(pushed.imageId);
    expect(pulled.manifestDigest).toBe(docker.manifestDigest);
    expect(pulled.layers).toEqual(byDigest.layers);
  });

  it('does not download layers the store already has', async () => {
    const dest = new ImageStore({ root: join(dirs.make(), 'store') });
    const first = await dest.pull(`${reg.host}/tsbox/busybox:1`);
    const inodes = dest.layerPaths(first).map((p) => fs.statSync(p).ino);
    // Same layers, other config: a second image whose layer blobs are now unreadable.
    const variant = await source.configure(image, { env: ['PATH=/bin', 'VARIANT=2'] });
    const p2 = await source.push(variant, `${reg.host}/tsbox/busybox:2`);
    const restore = pushed.layers.map((l) => corrupt(l.blobDigest));
    try {
      const second = await dest.pull(`${reg.host}/tsbox/busybox:2`);
      expect(second.id).toBe(p2.imageId);
      expect(second.layers).toEqual(first.layers);
      expect(second.config.env).toEqual(['PATH=/bin', 'VARIANT=2']);
    } finally {
      for (const r of restore) r();
    }
    expect(dest.layerPaths(first).map((p) => fs.statSync(p).ino)).toEqual(inodes);
    expect(await dest.layers()).toHaveLength(2);
  });
});

describe('a failed pull leaves the store as it was', () => {
  /** A store holding one unrelated image, and its tree. */
  async function usedStore(): Promise<{ store: ImageStore; before: string[] }> {
    const work = dirs.make();
    const layers = makeLayers(work);
    const store = new ImageStore({ root: join(work, 'store') });
    await store.import(layers.upper, { name: 'other:1' });
    return { store, before: storeTree(store.root) };
  }

  it('a corrupted layer blob in the registry is a digest error; the layer pulled before it is rolled back', async () => {
    const { store, before } = await usedStore();
    const upper = pushed.layers[1]?.blobDigest as string;
    const restore = corrupt(upper);
    let err: OverlayError;
    let layersDone = 0;
    try {
      err = await rejection(
        store.pull(`${reg.host}/tsbox/busybox:1`, {
          onProgress: (p) => {
            layersDone = p.layersDone;
          },
        }),
      );
    } finally {
      restore();
    }
    // The base layer was downloaded and extracted into the store before the upper failed.
    expect(layersDone).toBe(1);
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_DIGEST_MISMATCH');
    expect(err.stage).toBe('registry.blob');
    expect(err.expected).toBe(upper);
    expect(err.ref).toBe(`${reg.host}/tsbox/busybox:1`);
    expect(err.message).toContain(upper);
    expect(storeTree(store.root)).toEqual(before);
  });

  it('a corrupted config blob is a digest error before any layer is fetched', async () => {
    const { store, before } = await usedStore();
    const restore = corrupt(pushed.imageId);
    let err: OverlayError;
    try {
      err = await rejection(store.pull(`${reg.host}/tsbox/busybox:1`));
    } finally {
      restore();
    }
    expect(err).toMatchObject({
      code: 'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
      stage: 'registry.blob',
      expected: pushed.imageId,
    });
    expect(storeTree(store.root)).toEqual(before);
  });

  it('a manifest whose bytes do not match its digest is refused', async () => {
    const { store, before } = await usedStore();
    // Still valid JSON of the same length: the config digest's last hex digit changed.
    const path = reg.blobData(pushed.manifestDigest);
    const original = fs.readFileSync(path, 'utf8');
    const last = pushed.imageId.slice(-1);
    const swapped = pushed.imageId.slice(0, -1) + (last === '0' ? '1' : '0');
    fs.writeFileSync(path, original.replace(pushed.imageId, swapped));
    let err: OverlayError;
    try {
      err = await rejection(store.pull(`${reg.host}/tsbox/busybox:1`));
    } finally {
      fs.writeFileSync(path, original);
    }
    expect(err).toMatchObject({
      code: 'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
      stage: 'registry.manifest',
      expected: pushed.manifestDigest,
    });
    expect(storeTree(store.root)).toEqual(before);
  });

  it('an unknown tag or repository is NOT_FOUND with the HTTP status', async () => {
    const { store, before } = await usedStore();
    for (const ref of [`${reg.host}/tsbox/busybox:nope`, `${reg.host}/no/such:1`]) {
      const err = await rejection(store.pull(ref));
      expect(err).toMatchObject({
        code: 'ERR_TSBOX_OVERLAY_NOT_FOUND',
        stage: 'registry.manifest',
        status: 404,
        ref,
      });
    }
    expect(storeTree(store.root)).toEqual(before);
  });

  it('an abort mid-download rejects with ABORTED', async () => {
    const { store, before } = await usedStore();
    const ac = new AbortController();
    const err = await rejection(
      store.pull(`${reg.host}/tsbox/busybox:1`, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.bytes > 0 && p.layersDone === 0) ac.abort();
        },
      }),
    );
    expect(err.code).toBe('ERR_TSBOX_OVERLAY_ABORTED');
    expect(err.ref).toBe(`${reg.host}/tsbox/busybox:1`);
    expect(storeTree(store.root)).toEqual(before);
  });

  it('a registry that is not there is ERR_TSBOX_OVERLAY_REGISTRY', async () => {
    const { store, before } = await usedStore();
    // A port just released by a listener on 127.0.0.1: nothing answers there.
    const net = await import('node:net');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const err = await rejection(store.pull(`127.0.0.1:${port}/tsbox/busybox:1`));
    expect(err).toMatchObject({
      code: 'ERR_TSBOX_OVERLAY_REGISTRY',
      stage: 'registry.manifest',
      errno: 'ECONNREFUSED',
    });
    expect(storeTree(store.root)).toEqual(before);
  });

  it('bad references and platforms throw before any request or store directory', async () => {
    const root = join(dirs.make(), 'never-created');
    const store = new ImageStore({ root });
    for (const ref of [
      '',
      `${reg.host}/Upper/case:1`,
      `${reg.host}/tsbox/busybox:bad tag`,
      `${reg.host}/tsbox/busybox@sha256:abc`,
      `${reg.host}/tsbox//busybox`,
    ]) {
      const err = await rejection(store.pull(ref));
      expect(err).toMatchObject({
        code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION',
        stage: 'registry.ref',
      });
    }
    const err = await rejection(store.pull(`${reg.host}/tsbox/busybox:1`, { platform: 'amd64' }));
    expect(err).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION', field: 'platform' });
    const push = await rejection(source.push(image, `${reg.host}/tsbox/busybox:bad tag`));
    expect(push.stage).toBe('registry.ref');
    expect(fs.existsSync(root)).toBe(false);
  });
});

describe('multi-platform images', () => {
  for (const format of ['oci', 'docker'] as const) {
    it(`a ${format === 'oci' ? 'OCI index' : 'Docker manifest list'} pulls linux/amd64 by default, another platform on request`, async () => {
      const repo = `tsbox/multi-${format}`;
      const amd = await source.push(image, `${reg.host}/${repo}:amd64`, { format });
      // An arm64 image by the API: the same layers under a config that says arm64.
      const config = JSON.parse(
        (await api('GET', `/v2/${repo}/blobs/${amd.imageId}`)).body.toString(),
      );
      const armConfig = Buffer.from(JSON.stringify({ ...config, architecture: 'arm64' }));
      const armConfigDigest = await apiUpload(repo, armConfig);
      const amdManifest = (await api('GET', `/v2/${repo}/manifests/${amd.manifestDigest}`)).body;
      const armManifest = Buffer.from(
        JSON.stringify({
          ...JSON.parse(amdManifest.toString()),
          config: {
            mediaType: JSON.parse(amdManifest.toString()).config.mediaType,
            digest: armConfigDigest,
            size: armConfig.length,
          },
        }),
      );
      const put = await api('PUT', `/v2/${repo}/manifests/arm64`, armManifest, amd.mediaType);
      expect(put.status).toBe(201);
      const entry = (m: Buffer, architecture: string) => ({
        mediaType: amd.mediaType,
        digest: sha256(m),
        size: m.length,
        platform: { architecture, os: 'linux' },
      });
      const indexType =
        format === 'oci'
          ? 'application/vnd.oci.image.index.v1+json'
          : 'application/vnd.docker.distribution.manifest.list.v2+json';
      // arm64 first: picking the first entry would be wrong.
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: indexType,
        manifests: [entry(armManifest, 'arm64'), entry(amdManifest, 'amd64')],
      });
      expect((await api('PUT', `/v2/${repo}/manifests/multi`, index, indexType)).status).toBe(201);

      const store = new ImageStore({ root: join(dirs.make(), 'store') });
      const pulled = await store.pull(`${reg.host}/${repo}:multi`);
      expect(pulled.architecture).toBe('amd64');
      expect(pulled.manifestDigest).toBe(amd.manifestDigest);
      expect(pulled.id).toBe(amd.imageId);
      const arm = await store.pull(`${reg.host}/${repo}:multi`, { platform: 'linux/arm64' });
      expect(arm.architecture).toBe('arm64');
      expect(arm.manifestDigest).toBe(sha256(armManifest));
      expect(arm.layers).toEqual(pulled.layers);
      const err = await rejection(
        store.pull(`${reg.host}/${repo}:multi`, { platform: 'linux/s390x' }),
      );
      expect(err).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_NOT_FOUND', value: 'linux/s390x' });
      expect(err.message).toContain('linux/arm64, linux/amd64');
    });
  }
});
