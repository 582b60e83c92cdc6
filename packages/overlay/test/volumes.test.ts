import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OverlayError, VolumeInUseError, VolumeStore } from '../src/index.js';
import { processStartTime } from '../src/volumes.js';
import { tempDirs } from './helpers.js';

// VolumeStore on the real file system: directories, rename(2), flock(2), /proc for
// lease owners. Mounting volumes into containers is tested in @tsbox/core.

const dirs = tempDirs();
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  dirs.cleanup();
});

function storeIn(): VolumeStore {
  return new VolumeStore({ root: join(dirs.make('tsbox-volumes-test-'), 'volumes') });
}

/** A pid that existed and is gone: spawned, exited and reaped. */
function deadPid(): number {
  const r = spawnSync('true');
  expect(r.status).toBe(0);
  return r.pid as number;
}

/** A lease file as another process (`pid`) would have written it. */
function foreignLease(store: VolumeStore, volume: string, holder: string, pid: number) {
  fs.writeFileSync(
    join(store.root, volume, 'users', `${holder}.json`),
    JSON.stringify({
      volume,
      holder,
      pid,
      pidStart: processStartTime(pid) ?? 12345,
      createdAt: new Date().toISOString(),
    }),
  );
}

/** Every file under the root except lock files (which are kept on purpose). */
function files(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[])
    .filter((p) => !p.startsWith('.locks'))
    .sort();
}

describe('VolumeStore', () => {
  it('create() makes the volume once, get() and list() find it', async () => {
    const store = storeIn();
    const v = await store.create('data-1', { labels: { app: 'ci' } });
    expect(v).toMatchObject({
      name: 'data-1',
      storeRoot: store.root,
      path: join(store.root, 'data-1', '_data'),
      labels: { app: 'ci' },
    });
    expect(fs.statSync(v.path).isDirectory()).toBe(true);
    expect(fs.statSync(v.path).mode & 0o7777).toBe(0o755);
    fs.writeFileSync(join(v.path, 'kept'), 'x');
    // Idempotent: the existing volume, content and labels unchanged.
    const again = await store.create('data-1', { labels: { other: 'y' } });
    expect(again).toEqual(v);
    expect(fs.readFileSync(join(v.path, 'kept'), 'utf8')).toBe('x');
    await store.create('a');
    expect((await store.list()).map((x) => x.name)).toEqual(['a', 'data-1']);
    expect(await store.get('data-1')).toEqual(v);
    await expect(store.get('nope')).rejects.toMatchObject({ code: 'ERR_TSBOX_OVERLAY_NOT_FOUND' });
    expect(fs.readdirSync(join(store.root, '.tmp'))).toEqual([]);
  });

  it('concurrent create() of one name makes one volume', async () => {
    const store = storeIn();
    const all = await Promise.all(Array.from({ length: 8 }, () => store.create('shared')));
    expect(new Set(all.map((v) => v.createdAt)).size).toBe(1);
    expect(await store.list()).toHaveLength(1);
  });

  it('bad names and labels are typed errors that create nothing', async () => {
    const store = storeIn();
    for (const bad of ['', '.hidden', '-x', 'a/b', '../up', 'a b', 'é', 'x'.repeat(256), 7]) {
      const err = await store.create(bad as string).catch((e: unknown) => e);
      expect(err, String(bad)).toBeInstanceOf(OverlayError);
      expect(err).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION', field: 'name' });
      await expect(store.acquire(bad as string, 'c1')).rejects.toBeInstanceOf(OverlayError);
    }
    await expect(
      store.create('ok', { labels: { n: 1 } as unknown as Record<string, string> }),
    ).rejects.toMatchObject({ code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION' });
    await expect(store.acquire('ok', '../escape')).rejects.toMatchObject({
      code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION',
    });
    expect(fs.existsSync(store.root)).toBe(false);
  });

  it('remove() is refused while a lease is held, works once released', async () => {
    const store = storeIn();
    const v = await store.acquire('busy', 'c1'); // auto-created
    await store.acquire('busy', 'c2');
    expect((await store.users('busy')).map((l) => l.holder).sort()).toEqual(['c1', 'c2']);
    const err = await store.remove('busy').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VolumeInUseError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_VOLUME_IN_USE', value: 'busy' });
    expect([...(err as VolumeInUseError).users].sort()).toEqual(['c1', 'c2']);
    expect(fs.existsSync(v.path)).toBe(true);
    expect(await store.prune()).toEqual([]);
    store.release('busy', 'c1');
    store.release('busy', 'c1'); // idempotent
    await expect(store.remove('busy')).rejects.toBeInstanceOf(VolumeInUseError);
    store.release('busy', 'c2');
    await store.remove('busy');
    expect(fs.existsSync(join(store.root, 'busy'))).toBe(false);
    await expect(store.remove('busy')).rejects.toMatchObject({
      code: 'ERR_TSBOX_OVERLAY_NOT_FOUND',
    });
    await store.remove('busy', { force: true }); // absent: fine with force
    expect(files(store.root)).toEqual(['.tmp']);
  });

  it('remove({ force: true }) removes a volume in use', async () => {
    const store = storeIn();
    await store.acquire('forced', 'c1');
    await store.remove('forced', { force: true });
    expect(await store.list()).toEqual([]);
    store.release('forced', 'c1'); // the holder's own release after that is harmless
  });

  it('a lease of a live process counts; once it died it is stale and releaseStale() drops it', async () => {
    const store = storeIn();
    await store.create('v');
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    foreignLease(store, 'v', 'live1', sleeper.pid as number);
    foreignLease(store, 'v', 'dead1', deadPid());
    expect((await store.users('v')).map((l) => l.holder)).toEqual(['live1']);
    await expect(store.remove('v')).rejects.toMatchObject({ users: ['live1'] });
    expect(store.releaseStale().map((l) => l.holder)).toEqual(['dead1']);
    expect(fs.readdirSync(join(store.root, 'v', 'users'))).toEqual(['live1.json']);

    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
    expect(await store.users('v')).toEqual([]);
    expect(store.releaseStale().map((l) => l.holder)).toEqual(['live1']);
    await store.remove('v');
    expect(files(store.root)).toEqual(['.tmp']);
  });

  it('prune() removes unused volumes and what crashes left in .tmp', async () => {
    const store = storeIn();
    await store.create('unused');
    await store.acquire('used', 'c1');
    await store.create('stale');
    foreignLease(store, 'stale', 'gone', deadPid());
    // A crash during a removal of an old volume: its trash is still in .tmp.
    fs.mkdirSync(join(store.root, '.tmp', 'old+trash-abc123', '_data'), { recursive: true });
    expect((await store.prune()).sort()).toEqual(['stale', 'unused']);
    expect((await store.list()).map((v) => v.name)).toEqual(['used']);
    expect(fs.readdirSync(join(store.root, '.tmp'))).toEqual([]);
    store.release('used', 'c1');
    expect(await store.prune()).toEqual(['used']);
    expect(files(store.root)).toEqual(['.tmp']);
  });

  it('acquire() seeds an empty volume from a directory, owners and modes kept, only once', async () => {
    const store = storeIn();
    const src = dirs.make('tsbox-volumes-src-');
    fs.mkdirSync(join(src, 'sub'));
    fs.writeFileSync(join(src, 'sub', 'f.txt'), 'seeded\n');
    fs.chownSync(join(src, 'sub', 'f.txt'), 1000, 1001);
    fs.symlinkSync('sub/f.txt', join(src, 'link'));
    fs.chmodSync(src, 0o750);
    fs.chownSync(src, 1000, 1000);
    let calls = 0;
    const seed = async (copyIn: (dir: string) => Promise<void>) => {
      calls++;
      await copyIn(src);
    };
    const v = await store.acquire('seeded', 'c1', { seed });
    expect(calls).toBe(1);
    expect(fs.readFileSync(join(v.path, 'link'), 'utf8')).toBe('seeded\n');
    expect(fs.readlinkSync(join(v.path, 'link'))).toBe('sub/f.txt');
    const st = fs.statSync(join(v.path, 'sub', 'f.txt'));
    expect([st.uid, st.gid]).toEqual([1000, 1001]);
    const root = fs.statSync(v.path);
    expect([root.uid, root.gid, root.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    // Not empty any more: a second user does not seed it again.
    fs.writeFileSync(join(v.path, 'sub', 'f.txt'), 'changed\n');
    await store.acquire('seeded', 'c2', { seed });
    expect(calls).toBe(1);
    expect(fs.readFileSync(join(v.path, 'sub', 'f.txt'), 'utf8')).toBe('changed\n');
    expect(fs.readdirSync(join(store.root, '.tmp'))).toEqual([]);
  });

  it('a failing seed leaves no lease and nothing half-copied', async () => {
    const store = storeIn();
    const err = await store
      .acquire('v', 'c1', { seed: (copyIn) => copyIn('/nonexistent/tsbox-seed') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverlayError);
    expect(fs.readdirSync(join(store.root, 'v', 'users'))).toEqual([]);
    expect(fs.readdirSync((await store.get('v')).path)).toEqual([]);
    expect(fs.readdirSync(join(store.root, '.tmp'))).toEqual([]);
  });
});
