import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BuildRunner,
  type BuildStep,
  buildImage,
  ImageBuilder,
  ImageStore,
  mergeEnv,
  mountContainerRootfs,
  OverlayError,
  prepareContainerRootfs,
  teardownContainerRootfs,
  unmount,
} from '../src/index.js';
import { makeDockerArchive, makeLayers } from './fixtures/image-archives.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
const states: string[] = [];
afterEach(() => {
  for (const s of states.splice(0)) teardownContainerRootfs(s);
  dirs.cleanup();
});

/**
 * A stand-in for @tsbox/core's container runner: mounts the prepared overlay on the host
 * and runs the command chrooted into it with the image's env and workdir (created when
 * missing, as Docker does for WORKDIR — a real runner must do the same). Real overlayfs,
 * real busybox; only the namespaces are missing.
 */
const chrootRunner: BuildRunner = async ({ rootfs, argv, config }) => {
  mountContainerRootfs(rootfs);
  try {
    const env = Object.fromEntries(
      config.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    const r = spawnSync(
      '/usr/sbin/chroot',
      [
        rootfs.mergedDir,
        '/bin/sh',
        '-c',
        `mkdir -p "${config.workingDir}" && cd "${config.workingDir}" && exec "$@"`,
        'sh',
        ...argv,
      ],
      {
        env,
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.error ?? r.stderr}`);
  } finally {
    unmount(rootfs.mergedDir);
  }
};

describe('ImageBuilder', () => {
  it('builds run/copy/env/workdir/cmd steps into layers, and a second build hits the cache', async () => {
    const work = dirs.make();
    const layers = makeLayers(work);
    const store = new ImageStore({ root: join(work, 'store') });
    const base = await store.import(makeDockerArchive(work, layers).tar);
    const ctx = join(work, 'context');
    fs.mkdirSync(ctx);
    fs.writeFileSync(join(ctx, 'app.sh'), 'echo app\n');
    const builder = ImageBuilder.create()
      .from(base)
      .env({ A: '1', GREETING: 'changed' })
      .workdir('/srv')
      .run(['sh', '-c', 'mkdir -p /srv && echo "hi $A" > /greeting && rm /etc/greeting'])
      .copy(ctx, '/srv/app')
      .run(['sh', '-c', 'cat /srv/app/app.sh > /srv/copied && pwd > /srv/pwd'])
      .cmd(['cat', '/greeting']);
    const seen: Array<[BuildStep['kind'], boolean]> = [];
    const img = await buildImage(store, builder, {
      runner: chrootRunner,
      workDir: work,
      name: 'built:1',
      onStep: (s, cached) => seen.push([s.kind, cached]),
    });
    expect(seen).toEqual([
      ['run', false],
      ['copy', false],
      ['run', false],
    ]);
    expect(img.layers).toHaveLength(base.layers.length + 3);
    expect(img.config.cmd).toEqual(['cat', '/greeting']);
    expect(img.config.workingDir).toBe('/srv');
    expect(img.config.env).toEqual(mergeEnv(base.config.env, { A: '1', GREETING: 'changed' }));
    expect(img.names).toEqual(['built:1']);

    const s = join(work, 'state');
    states.push(s);
    const rootfs = await prepareContainerRootfs(store, 'built:1', s);
    mountContainerRootfs(rootfs);
    const m = rootfs.mergedDir;
    expect(fs.readFileSync(join(m, 'greeting'), 'utf8')).toBe('hi 1\n');
    expect(fs.existsSync(join(m, 'etc/greeting'))).toBe(false);
    expect(fs.readFileSync(join(m, 'srv/copied'), 'utf8')).toBe('echo app\n');
    expect(fs.readFileSync(join(m, 'srv/pwd'), 'utf8')).toBe('/srv\n');
    expect(fs.statSync(join(m, 'srv/app/app.sh')).uid).toBe(0);

    const again: boolean[] = [];
    const img2 = await buildImage(store, builder, {
      runner: chrootRunner,
      workDir: work,
      onStep: (_s, cached) => again.push(cached),
    });
    expect(again).toEqual([true, true, true]);
    expect(img2.layers).toEqual(img.layers);

    // Changing the copied content invalidates that step and the ones after it.
    fs.writeFileSync(join(ctx, 'app.sh'), 'echo v2\n');
    const third: boolean[] = [];
    await buildImage(store, builder, {
      runner: chrootRunner,
      workDir: work,
      onStep: (_s, c) => third.push(c),
    });
    expect(third).toEqual([true, false, false]);
    expect(fs.readdirSync(work).filter((n) => n.startsWith('tsbox-'))).toEqual([]);
  });

  it("config steps follow Docker's rules, and the same build gives the same image", async () => {
    const work = dirs.make();
    const store = new ImageStore({ root: join(work, 'store') });
    // Base config: Entrypoint ["/bin/sh","-c"], Cmd ["cat /etc/greeting"], WorkingDir /data.
    const base = await store.import(makeDockerArchive(work, makeLayers(work)).tar);
    const relative = await buildImage(
      store,
      new ImageBuilder().from(base).workdir('app').workdir('../srv').entrypoint(['/bin/echo']),
    );
    // A relative workdir builds on the previous one; a new entrypoint drops the base's cmd.
    expect(relative.config).toMatchObject({
      workingDir: '/data/srv',
      entrypoint: ['/bin/echo'],
      cmd: [],
    });
    const keep = new ImageBuilder().from(base).cmd(['x']).entrypoint(['/bin/echo']);
    const kept = await buildImage(store, keep, { name: 'kept:1' });
    // A cmd set earlier in the same build survives the entrypoint.
    expect(kept.config).toMatchObject({ entrypoint: ['/bin/echo'], cmd: ['x'] });
    expect((await buildImage(store, keep, { name: 'kept:1' })).id).toBe(kept.id);
  });

  it('validates before doing anything', async () => {
    const work = dirs.make();
    const store = new ImageStore({ root: join(work, 'store') });
    expect(() => ImageBuilder.create().workdir('')).toThrow(OverlayError);
    expect(() => ImageBuilder.create().run([])).toThrow(OverlayError);
    expect(() => new ImageBuilder().run('')).toThrow(OverlayError);
    expect(() => new ImageBuilder().copy(['a', 'b'], '/dir')).toThrow(OverlayError);
    expect(() => new ImageBuilder().copy('../up', '/x', { context: work })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_OVERLAY_UNSAFE_PATH' }),
    );
    const err = await buildImage(store, ImageBuilder.create().from('x').run(['true'])).catch(
      (e: unknown) => e,
    );
    expect((err as OverlayError).code).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION');
  });
});
