import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// A state root of our own, as in image.test.ts: the checks below must see only this
// file's containers. Set before the SDK is imported.
const stateRoot = vi.hoisted(() => {
  const dir = `/run/tsbox-registry-test-${process.pid}`;
  process.env.TSBOX_STATE_DIR = dir;
  return dir;
});

import { makeDockerArchive, makeLayers } from '../../overlay/test/fixtures/image-archives.js';
import { startRegistry, type TestRegistry } from '../../overlay/test/fixtures/registry.js';
import { Container, ImageStore, STATE_ROOT } from '../src/index.js';
import { stateEntries, tsboxInitPids } from './helpers.js';

// An image that reached this store only through a registry: the busybox fixture is
// imported into one store, pushed to a private docker-registry on 127.0.0.1, pulled into
// a second, empty store, and run from there.

let reg: TestRegistry;
let work: string;

beforeAll(async () => {
  expect(STATE_ROOT).toBe(stateRoot);
  reg = await startRegistry();
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-registry-'));
});

afterEach(() => {
  expect(stateEntries(), `entries left under ${STATE_ROOT}`).toEqual([]);
  expect(tsboxInitPids()).toEqual([]);
});

afterAll(async () => {
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(stateRoot, { recursive: true, force: true });
});

describe('a pulled image', () => {
  it('runs in a Container from the store it was pulled into', async () => {
    const source = new ImageStore({ root: join(work, 'source') });
    const img = await source.import(makeDockerArchive(work, makeLayers(work)).tar);
    const ref = `${reg.host}/tsbox/busybox:run`;
    await source.push(img, ref);

    const store = new ImageStore({ root: join(work, 'pulled') });
    const pulled = await store.pull(ref);
    // By record and by name; the image's entrypoint is ["/bin/sh", "-c"].
    const r = await new Container()
      .image(pulled, store)
      .timeout('20s')
      .run(
        'echo pulled $GREETING from $(cat /etc/greeting); test -e /del/gone.txt || echo no-gone',
      );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('pulled hello from hi\nno-gone\n');
    const byName = await new Container().image(ref, store).timeout('20s').run();
    expect(byName.stdout).toBe('hi\n');
  });
});
