import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// A state root of our own (set before the SDK is imported): gc() runs here, and the
// checks below must see only this file's containers, not a parallel session's.
const stateRoot = vi.hoisted(() => {
  const dir = `/run/tsbox-volumes-test-${process.pid}`;
  process.env.TSBOX_STATE_DIR = dir;
  return dir;
});

import { gnuTar, makeBusyboxTree } from '../../overlay/test/fixtures/busybox-tree.js';
import { makeDockerArchive, makeLayers } from '../../overlay/test/fixtures/image-archives.js';
import {
  Container,
  gc,
  type ImageRecord,
  ImageStore,
  InvalidSpecError,
  type RunningContainer,
  STATE_ROOT,
  VolumeInUseError,
  VolumeStore,
} from '../src/index.js';
import {
  hostPidsWithArg,
  killByMarker,
  printed,
  stateEntries,
  tsboxInitPids,
  uniqueMarker,
} from './helpers.js';

// Named volumes mounted into real containers: host-mirror roots and image roots (the
// two-layer busybox fixture of @tsbox/overlay, whose /data holds owned.txt, uid 1000).

let work: string;
let volumes: VolumeStore;
let store: ImageStore;
let img: ImageRecord;
/** An image container running as root with no entrypoint: `run('sh', ['-c', ...])`. */
let imageBox: Container;
const running: RunningContainer[] = [];

/** Lease files anywhere in the volume store: none may outlive their container. */
function leaseFiles(): string[] {
  if (!fs.existsSync(volumes.root)) return [];
  return fs
    .readdirSync(volumes.root)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => {
      const users = join(volumes.root, n, 'users');
      return fs.existsSync(users) ? fs.readdirSync(users).map((f) => `${n}/${f}`) : [];
    });
}

/** Mounts on the host that involve our directories (there should never be any left). */
function ourMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(work) || l.includes(`${STATE_ROOT}/`) || l.includes(volumes.root));
}

/** A pid that existed and is gone: spawned, exited and reaped. */
function deadPid(): number {
  const r = spawnSync('true');
  expect(r.status).toBe(0);
  return r.pid as number;
}

beforeAll(async () => {
  expect(STATE_ROOT).toBe(stateRoot);
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-volumes-'));
  volumes = new VolumeStore({ root: join(work, 'volumes') });
  store = new ImageStore({ root: join(work, 'store') });
  img = await store.import(makeDockerArchive(work, makeLayers(work)).tar);
  imageBox = new Container().image(img, store).user(0).entrypoint([]).timeout('20s');
});

afterEach(async () => {
  for (const c of running.splice(0)) {
    c.kill('SIGKILL');
    await c.wait().catch(() => undefined);
  }
  expect(leaseFiles(), 'volume leases left').toEqual([]);
  expect(ourMounts(), 'mounts left').toEqual([]);
  expect(stateEntries(), `entries left under ${STATE_ROOT}`).toEqual([]);
  expect(tsboxInitPids()).toEqual([]);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(stateRoot, { recursive: true, force: true });
});

async function start(box: Container, script: string): Promise<RunningContainer> {
  const c = await box.start('sh', ['-c', script]);
  running.push(c);
  return c;
}

describe('named volumes', () => {
  it('two running containers share a volume: one on the host mirror writes, one on an image reads', async () => {
    const shared = await volumes.create('shared');
    const writer = await start(
      new Container().volume(shared, '/v').timeout('20s'),
      'echo from-writer > /v/msg; echo written; while [ ! -e /v/reply ]; do sleep 0.02; done; cat /v/reply',
    );
    await printed(writer, 'written');
    const reader = await start(
      imageBox.volume('shared', '/shared', { store: volumes }),
      'cat /shared/msg; echo from-reader > /shared/reply; sleep 30',
    );
    await printed(reader, 'from-writer');
    // Both hold a lease while they run.
    expect((await volumes.users('shared')).map((l) => l.holder).sort()).toEqual(
      [writer.id, reader.id].sort(),
    );
    const w = await writer.wait();
    expect(w.stdout).toBe('written\nfrom-reader\n');
    expect((await volumes.users('shared')).map((l) => l.holder)).toEqual([reader.id]);
    await reader.stop({ grace: '50ms' });
    expect(await volumes.users('shared')).toEqual([]);
    // The content stays on the host after both are gone.
    expect(fs.readFileSync(join(shared.path, 'msg'), 'utf8')).toBe('from-writer\n');
    expect(fs.readFileSync(join(shared.path, 'reply'), 'utf8')).toBe('from-reader\n');
  });

  it('a volume given by name is created on first use and kept afterwards', async () => {
    const r = await new Container()
      .volume('auto-made', '/data', { store: volumes })
      .run('sh', ['-c', 'echo kept > /data/f']);
    expect(r.exitCode).toBe(0);
    const v = await volumes.get('auto-made');
    expect(fs.readFileSync(join(v.path, 'f'), 'utf8')).toBe('kept\n');
    const again = await imageBox.volume(v, '/data').run('sh', ['-c', 'cat /data/f']);
    expect(again.stdout).toBe('kept\n');
  });

  it('a read-only volume refuses writes with EROFS on both roots, reads work', async () => {
    const v = await volumes.create('ro-vol');
    fs.writeFileSync(join(v.path, 'in'), 'readable\n');
    const script =
      'cat /ro/in; if echo x > /ro/out; then echo wrote; else echo refused; fi; touch /ro/in || echo no-touch';
    for (const box of [new Container(), imageBox]) {
      const r = await box.volume(v, '/ro', { readonly: true }).run('sh', ['-c', script]);
      expect(r.stdout).toBe('readable\nrefused\nno-touch\n');
      expect(r.stderr).toMatch(/Read-only file system/);
    }
    expect(fs.readdirSync(v.path)).toEqual(['in']);
  });

  it('remove() is refused while a container uses the volume, works after it ended', async () => {
    const v = await volumes.create('busy');
    const c = await start(new Container().volume(v, '/b'), 'echo up; sleep 30');
    await printed(c, 'up');
    const err = await volumes.remove('busy').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VolumeInUseError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_VOLUME_IN_USE', users: [c.id] });
    expect(await volumes.prune()).not.toContain('busy');
    expect(fs.existsSync(v.path)).toBe(true);
    await c.stop({ grace: '50ms' });
    await volumes.remove('busy');
    expect(fs.existsSync(join(volumes.root, 'busy'))).toBe(false);
  });

  it("a new volume over an image directory gets the image's content first, once", async () => {
    const layerDirs = store.layerPaths(img);
    const before = layerDirs.map((d) => execFileSync('ls', ['-lnR', '--full-time', d]).toString());
    const r = await imageBox
      .volume('seeded', '/data', { store: volumes })
      .run('sh', ['-c', 'ls -ln /data; cat /data/owned.txt; echo mine > /data/owned.txt']);
    expect(r.stdout).toMatch(/1000\s+1000\s.*owned\.txt/);
    expect(r.stdout).toContain('owned by 1000\n');
    const v = await volumes.get('seeded');
    const st = fs.statSync(join(v.path, 'owned.txt'));
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    expect(fs.readFileSync(join(v.path, 'owned.txt'), 'utf8')).toBe('mine\n');
    // Not empty now: the next container sees the volume's content, not the image's.
    const again = await imageBox.volume(v, '/data').run('sh', ['-c', 'cat /data/owned.txt']);
    expect(again.stdout).toBe('mine\n');
    // On the host mirror there is no image content to copy.
    const plain = await new Container()
      .volume('plain', '/data', { store: volumes })
      .run('sh', ['-c', 'ls -A /data | wc -l']);
    expect(plain.stdout.trim()).toBe('0');
    expect(layerDirs.map((d) => execFileSync('ls', ['-lnR', '--full-time', d]).toString())).toEqual(
      before,
    );
  });

  it("an image's symlink at the target is not followed when seeding: host files are never copied", async () => {
    const tree = join(work, 'symlink-tree');
    fs.mkdirSync(tree);
    makeBusyboxTree(tree);
    fs.symlinkSync('/etc', join(tree, 'hostetc')); // absolute: the host's /etc from outside
    fs.mkdirSync(join(tree, 'real'));
    fs.symlinkSync('../etc', join(tree, 'real', 'via')); // a symlink in the middle of a path
    const tar = join(work, 'symlink.tar');
    gnuTar(tree, tar);
    const linked = await store.import(tar);
    const base = new Container().image(linked, store).user(0).timeout('20s');
    for (const [name, target] of [
      ['via-abs', '/hostetc'],
      ['via-mid', '/real/via/x'],
    ] as const) {
      // The bind itself may fail on such a target (it is the image's own symlink), but
      // the volume must stay empty, whatever the outcome.
      await base
        .volume(name, target, { store: volumes })
        .run('true')
        .catch(() => undefined);
      expect(fs.readdirSync((await volumes.get(name)).path), name).toEqual([]);
    }
  });

  it('volumes nest inside tmpfs mounts and bind mounts (parents are mounted first)', async () => {
    const v = await volumes.create('nested');
    fs.writeFileSync(join(v.path, 'deep'), 'deep\n');
    const r = await new Container()
      .volume(v, '/scratch/inner')
      .tmpfs('/scratch', '1M')
      .run('sh', ['-c', 'cat /scratch/inner/deep; echo t > /scratch/t && echo tmpfs-ok']);
    expect(r.stdout).toBe('deep\ntmpfs-ok\n');
  });

  it('a container that fails to start releases its leases', async () => {
    await expect(
      imageBox.volume('fails', '/f', { store: volumes }).run('/no/such/command'),
    ).rejects.toMatchObject({ code: 'ERR_TSBOX_EXEC_NOT_FOUND' });
    expect(await volumes.users('fails')).toEqual([]);
  });

  it('bad names, targets and options are InvalidSpecErrors that create nothing', () => {
    const box = new Container();
    for (const bad of ['', '.x', '-x', 'a/b', '..', 'a b', 'x'.repeat(256), 5, null]) {
      expect(() => box.volume(bad as string, '/v', { store: volumes }), String(bad)).toThrow(
        InvalidSpecError,
      );
    }
    expect(() => box.volume('ok', 'relative', { store: volumes })).toThrow(InvalidSpecError);
    expect(() => box.volume('ok', '/', { store: volumes })).toThrow(InvalidSpecError);
    expect(() => box.volume('ok', '/a/../b', { store: volumes })).toThrow(InvalidSpecError);
    expect(() =>
      box.volume('ok', '/v', { readonly: 'yes' as unknown as boolean, store: volumes }),
    ).toThrow(InvalidSpecError);
    const twice = box.volume('ok', '/v', { store: volumes });
    expect(() => twice.volume('other', '/v', { store: volumes })).toThrow(InvalidSpecError);
    expect(() => twice.mount({ source: work, target: '/v' })).toThrow(InvalidSpecError);
    const err = (() => {
      try {
        box.volume('bad name', '/v');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'volume.name' });
    expect(fs.existsSync(join(volumes.root, 'ok'))).toBe(false);
  });
});

describe('gc and volume leases', () => {
  it("gc drops the lease a crashed owner's record lists, and leases with no record", async () => {
    const v = await volumes.create('crashed');
    const dead = deadPid();
    const lease = (holder: string) =>
      fs.writeFileSync(
        join(v.path, '..', 'users', `${holder}.json`),
        JSON.stringify({ volume: 'crashed', holder, pid: dead, pidStart: 4242, createdAt: '' }),
      );
    // What a process killed while its container ran leaves: the record and the lease.
    fs.mkdirSync(STATE_ROOT, { recursive: true });
    const id = 'dead00000001';
    fs.writeFileSync(
      join(STATE_ROOT, `${id}.json`),
      JSON.stringify({
        id,
        keeperPid: dead,
        ownerPid: dead,
        createdAt: new Date().toISOString(),
        volumes: [{ storeRoot: volumes.root, name: 'crashed' }],
      }),
    );
    lease(id);
    await expect(volumes.remove('crashed')).resolves.toBeUndefined(); // stale: not a use
    await volumes.create('crashed');
    lease(id);
    expect(leaseFiles()).toEqual([`crashed/${id}.json`]);
    // A crash between taking a lease and writing the record leaves a lease and no record:
    // gc finds it through the store roots it knows (the default one, those named in
    // records, those it is given).
    const other = new VolumeStore({ root: join(work, 'volumes-other') });
    const o = await other.create('orphan');
    const orphan = join(o.path, '..', 'users', 'dead00000002.json');
    fs.writeFileSync(
      orphan,
      JSON.stringify({ volume: 'orphan', holder: 'dead00000002', pid: dead, pidStart: 4242 }),
    );
    const report = await gc();
    expect(report.removed).toContain(join(STATE_ROOT, `${id}.json`));
    expect(report.volumes).toEqual([`crashed/${id}`]);
    expect(leaseFiles()).toEqual([]);
    expect(fs.existsSync(orphan)).toBe(true); // a root gc was not told about
    const second = await gc({ volumeRoots: [other.root] });
    expect(second.volumes).toEqual(['orphan/dead00000002']);
    expect(fs.existsSync(orphan)).toBe(false);
  });

  it('a Node process that exits with a volume container running leaves no lease behind', async () => {
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import { Container, VolumeStore } from ${JSON.stringify(core)};
      const volumes = new VolumeStore({ root: ${JSON.stringify(volumes.root)} });
      const c = await new Container().volume('exiting', '/e', { store: volumes })
        .start('sleep', ['30']);
      process.stdout.write(c.id); process.exit(0);`;
    const id = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TSBOX_STATE_DIR: STATE_ROOT },
    });
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(leaseFiles()).toEqual([]);
    expect(stateEntries()).toEqual([]);
  });

  it('a Node process killed with SIGKILL while its container runs: gc cleans its lease', async () => {
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const marker = uniqueMarker();
    const script = `import { Container, VolumeStore } from ${JSON.stringify(core)};
      const volumes = new VolumeStore({ root: ${JSON.stringify(volumes.root)} });
      const c = await new Container().volume('killed', '/k', { store: volumes })
        .start('sleep', ['${marker}']);
      process.stdout.write(c.id); process.kill(process.pid, 'SIGKILL');`;
    try {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, TSBOX_STATE_DIR: STATE_ROOT },
      });
      expect(child.signal).toBe('SIGKILL');
      const id = child.stdout;
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      // Its keeper dies with it (PR_SET_PDEATHSIG), and the container with the keeper.
      for (let i = 0; i < 100 && hostPidsWithArg(marker).length > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(hostPidsWithArg(marker)).toEqual([]);
      expect(leaseFiles()).toEqual([`killed/${id}.json`]);
      expect(await volumes.users('killed')).toEqual([]); // its process is gone
      const report = await gc();
      expect(report.removed).toContain(join(STATE_ROOT, `${id}.json`));
      expect(report.volumes).toEqual([`killed/${id}`]);
    } finally {
      killByMarker(marker);
    }
  });
});
