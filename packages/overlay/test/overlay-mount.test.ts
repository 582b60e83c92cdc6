import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ContainerRootfs,
  ImageStore,
  mountContainerRootfs,
  type OverlayError,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from '../src/index.js';
import { mountsAtOrUnder } from '../src/mountinfo.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';
import { treeDigest } from './tree-digest.js';

const dirs = tempDirs();
const stateDirs: string[] = [];
afterEach(() => {
  // Teardown is what is under test elsewhere; here it is the cleanup, run even on failure.
  for (const s of stateDirs.splice(0)) teardownContainerRootfs(s);
  dirs.cleanup();
});

async function imageStore() {
  const work = dirs.make();
  const layers = makeLayers(work);
  const archive = makeDockerArchive(work, layers);
  const store = new ImageStore({ root: join(work, 'store') });
  const image = await store.import(archive.tar);
  return { work, store, image };
}

function stateDir(work: string, name: string): string {
  const s = join(work, 'state', name);
  fs.mkdirSync(s, { recursive: true });
  stateDirs.push(s);
  return s;
}

describe('overlay of imported layers as a container root', () => {
  it('shows the union Docker would show, copies up on write, leaves layers untouched', async () => {
    const { work, store, image } = await imageStore();
    const layerDirs = store.layerPaths(image);
    const before = layerDirs.map((d) => treeDigest(d));
    const plan: ContainerRootfs = await prepareContainerRootfs(store, image, stateDir(work, 'c1'));
    expect(plan.lowerdirs).toEqual(layerDirs);
    expect(plan.options).toBe(
      `lowerdir=${layerDirs.join(':')},upperdir=${plan.upperdir},workdir=${plan.workdir}`,
    );
    mountContainerRootfs(plan);
    const m = plan.mergedDir;
    expect(mountsAtOrUnder(m)).toEqual([m]);

    expect(fs.existsSync(join(m, 'del/gone.txt'))).toBe(false); // whiteout
    expect(fs.readFileSync(join(m, 'del/stay.txt'), 'utf8')).toBe('stays\n');
    expect(fs.readdirSync(join(m, 'opq'))).toEqual(['c.txt']); // opaque hides a.txt, b.txt
    expect(fs.readFileSync(join(m, 'etc/greeting'), 'utf8')).toBe('hi\n');
    expect(fs.statSync(join(m, 'bin/suid-tool')).mode & 0o7777).toBe(0o4755);

    // The image runs: busybox sh from the merged root.
    const sh = spawnSync('chroot', [m, '/bin/sh', '-c', 'cat /etc/greeting; ls /opq'], {
      encoding: 'utf8',
    });
    expect(sh.stdout).toBe('hi\nc.txt\n');

    // Copy-up and delete go to the upper dir only.
    fs.appendFileSync(join(m, 'etc/os-release'), 'CHANGED=1\n');
    fs.rmSync(join(m, 'del/stay.txt'));
    fs.writeFileSync(join(m, 'new.txt'), 'new');
    expect(fs.readFileSync(join(plan.upperdir, 'etc/os-release'), 'utf8')).toContain('CHANGED=1');
    expect(fs.lstatSync(join(plan.upperdir, 'del/stay.txt')).isCharacterDevice()).toBe(true);
    expect(fs.existsSync(join(plan.upperdir, 'new.txt'))).toBe(true);
    expect(layerDirs.map((d) => treeDigest(d))).toEqual(before);

    // A second container of the same image sees the original.
    const plan2 = await prepareContainerRootfs(store, image.id, stateDir(work, 'c2'));
    mountContainerRootfs(plan2);
    expect(fs.readFileSync(join(plan2.mergedDir, 'etc/os-release'), 'utf8')).not.toContain(
      'CHANGED',
    );
    expect(fs.existsSync(join(plan2.mergedDir, 'del/stay.txt'))).toBe(true);

    teardownContainerRootfs(join(work, 'state/c1'));
    teardownContainerRootfs(join(work, 'state/c1')); // idempotent
    expect(fs.existsSync(plan.dir)).toBe(false);
    expect(mountsAtOrUnder(plan.dir)).toEqual([]);
    expect(layerDirs.map((d) => treeDigest(d))).toEqual(before);
  });

  it('writableLayerSize caps writes with ENOSPC and keeps the host disk out of it', async () => {
    const { work, store, image } = await imageStore();
    const plan = await prepareContainerRootfs(store, image, stateDir(work, 'small'), {
      writableLayerSize: '10M',
    });
    expect(plan.tmpfs).toEqual({ mountPoint: join(plan.dir, 'rw'), sizeBytes: 10 * 1024 * 1024 });
    mountContainerRootfs(plan);
    expect(mountsAtOrUnder(plan.dir)).toHaveLength(2);
    const chunk = Buffer.alloc(1024 * 1024, 1);
    const fd = fs.openSync(join(plan.mergedDir, 'big'), 'w');
    let written = 0;
    let error: NodeJS.ErrnoException | undefined;
    try {
      for (let i = 0; i < 50; i++) written += fs.writeSync(fd, chunk);
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    } finally {
      fs.closeSync(fd);
    }
    expect(error?.code).toBe('ENOSPC');
    expect(written).toBeLessThanOrEqual(10 * 1024 * 1024);
    teardownContainerRootfs(join(work, 'state/small'));
    expect(mountsAtOrUnder(plan.dir)).toEqual([]);
    expect(fs.existsSync(plan.dir)).toBe(false);
  });

  it('readonly: the root refuses writes with EROFS', async () => {
    const { work, store, image } = await imageStore();
    const plan = await prepareContainerRootfs(store, image, stateDir(work, 'ro'), {
      readonly: true,
    });
    expect(plan.flags).toBe(1);
    mountContainerRootfs(plan);
    expect(() => fs.writeFileSync(join(plan.mergedDir, 'x'), 'x')).toThrow(/EROFS/);
  });

  it('rejects a bad size before creating anything', async () => {
    const { work, store, image } = await imageStore();
    const s = stateDir(work, 'bad');
    const err = await prepareContainerRootfs(store, image, s, {
      writableLayerSize: '10 parsecs',
    }).catch((e: unknown) => e);
    expect((err as OverlayError).code).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION');
    expect(fs.readdirSync(s)).toEqual([]);
  });

  it('teardown after a crash: works from the state dir alone, with busy mounts detached', async () => {
    const { work, store, image } = await imageStore();
    const s = stateDir(work, 'crashed');
    const plan = await prepareContainerRootfs(store, image, s, { writableLayerSize: '1M' });
    mountContainerRootfs(plan);
    // Keep the overlay busy with an open file, as a still-running process would.
    const fd = fs.openSync(join(plan.mergedDir, 'etc/greeting'), 'r');
    try {
      teardownContainerRootfs(s);
    } finally {
      fs.closeSync(fd);
    }
    expect(mountsAtOrUnder(plan.dir)).toEqual([]);
    expect(fs.existsSync(plan.dir)).toBe(false);
    expect(
      execFileSync('ls', [store.layerPaths(image)[0] as string], { encoding: 'utf8' }),
    ).toContain('etc');
  });
});
