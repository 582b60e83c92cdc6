import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ImageRecord, ImageStore } from '../src/index.js';
import { makeLayers } from './fixtures/image-archives.js';
import { startRegistry, TEST_USER, type TestRegistry } from './fixtures/registry.js';
import { rejection, tempDirs } from './helpers.js';

// Registry auth for real: docker-registry with htpasswd (HTTP basic, bcrypt file made by
// `htpasswd -B`), and with `auth: token`, where a token server of the test (Node, on
// 127.0.0.1) signs RS256 JWTs with a key whose self-signed certificate the registry
// trusts. Both grant TEST_USER everything and refuse everyone else.

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

let work: string;
let source: ImageStore;
let image: ImageRecord;

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-registry-auth-'));
  source = new ImageStore({ root: join(work, 'store') });
  // One small layer is enough to exercise every authenticated request.
  image = await source.import(makeLayers(work).upper, { name: 'auth-test:1' });
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

for (const mode of ['htpasswd', 'token'] as const) {
  describe(`${mode === 'htpasswd' ? 'basic' : 'bearer token'} auth`, () => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startRegistry({ auth: mode });
    });
    afterAll(async () => {
      await reg?.stop();
    });

    it('push and pull work with the right credentials', async () => {
      const ref = `${reg.host}/secure/img:1`;
      const pushed = await source.push(image, ref, { credentials: TEST_USER });
      const store = new ImageStore({ root: join(dirs.make(), 'store') });
      const pulled = await store.pull(ref, { credentials: TEST_USER });
      expect(pulled.id).toBe(pushed.imageId);
      expect(pulled.layers).toEqual(pushed.layers.map((l) => l.diffId));
    });

    it('a wrong password or no credentials is a typed auth error and leaves nothing', async () => {
      const ref = `${reg.host}/secure/img:1`;
      await source.push(image, ref, { credentials: TEST_USER });
      const root = join(dirs.make(), 'store');
      const store = new ImageStore({ root });
      const wrong = { username: TEST_USER.username, password: 'wrong' };
      const bad = await rejection(store.pull(ref, { credentials: wrong }));
      expect(bad).toMatchObject({
        code: 'ERR_TSBOX_OVERLAY_AUTH',
        stage: 'registry.auth',
        status: 401,
        ref,
      });
      const none = await rejection(store.pull(ref));
      expect(none).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_AUTH', stage: 'registry.auth', ref });
      const push = await rejection(
        source.push(image, `${reg.host}/secure/img:2`, { credentials: wrong }),
      );
      expect(push).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_AUTH', stage: 'registry.auth' });
      for (const d of ['layers', 'images', 'blobs', 'tmp']) {
        expect(fs.readdirSync(join(root, d)), `${d}/`).toEqual([]);
      }
      expect(fs.readdirSync(join(source.root, 'tmp'))).toEqual([]);
    });
  });
}

describe('https', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('trusts a private CA given as `ca`, and refuses the certificate without it', async () => {
    const ref = `${reg.host}/tls/img:1`;
    const untrusted = await rejection(source.push(image, ref, { tls: true }));
    expect(untrusted).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_REGISTRY', ref });
    expect(untrusted.errno).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const pushed = await source.push(image, ref, { tls: true, ca: reg.ca as string });
    const store = new ImageStore({ root: join(dirs.make(), 'store') });
    const pulled = await store.pull(ref, { tls: true, ca: reg.ca as string });
    expect(pulled.id).toBe(pushed.imageId);
    // Without `tls`, a loopback registry is spoken to in plain HTTP, which a TLS server rejects.
    const plain = await rejection(store.pull(ref));
    expect(plain).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_REGISTRY', status: 400 });
  });
});
