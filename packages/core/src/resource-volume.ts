import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  type ContainerRootfs,
  MOUNT_DATA_MAX,
  mountOverlay,
  unmount,
  VolumeStore,
} from '@tsbox/overlay';
import { preparedRootfs } from './resource-image.js';
import type { ContainerResource, ResourceContext } from './resources.js';
import type { VolumeMountSpec } from './spec.js';

// A container's named volumes, host side: one lease per volume (created on first use)
// taken before tsbox-init is spawned and dropped after the container is gone. The bind
// mounts themselves are made by init inside the container's mount namespace
// (rootfs-plan.ts), so the host's mount table never holds them.

const stores = new Map<string, VolumeStore>();

/** One `VolumeStore` per root per process. */
export function volumeStoreAt(root: string): VolumeStore {
  let s = stores.get(root);
  if (!s) {
    s = new VolumeStore({ root });
    stores.set(root, s);
  }
  return s;
}

/** Leases this process holds: `<container id>` → the volumes. For the exit hook. */
const held = new Map<string, Array<{ store: VolumeStore; name: string }>>();

/** Exiting with containers alive: drop their leases now (unlinks only, synchronous). */
function releaseAllOnExit(): void {
  for (const [id, volumes] of held) {
    for (const { store, name } of volumes) {
      try {
        store.release(name, id);
      } catch {
        // Exiting: what is left is for `tsbox gc`.
      }
    }
  }
  held.clear();
}

/**
 * The resource factory for named volumes; `undefined` at once for a spec without any.
 * Takes a lease on each volume (creating it if needed; on an image root an empty volume
 * is first seeded with the image's content at its target) and drops them on release.
 */
export async function volumeResource(ctx: ResourceContext): Promise<ContainerResource | undefined> {
  const mounts = ctx.spec.volumes ?? [];
  if (mounts.length === 0) return undefined;
  const taken: Array<{ store: VolumeStore; name: string }> = [];
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (held.delete(ctx.id) && held.size === 0) process.off('exit', releaseAllOnExit);
    let first: { error: unknown } | undefined;
    for (const { store, name } of taken) {
      try {
        store.release(name, ctx.id);
      } catch (error) {
        first ??= { error };
      }
    }
    if (first) throw first.error;
  };
  if (held.size === 0) process.once('exit', releaseAllOnExit);
  held.set(ctx.id, taken);
  try {
    const rootfs = ctx.spec.rootfs.kind === 'image' ? preparedRootfs(ctx.id) : undefined;
    const seen = new Set<string>();
    for (const m of mounts) {
      const key = `${m.storeRoot}\0${m.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const store = volumeStoreAt(m.storeRoot);
      await store.acquire(m.name, ctx.id, rootfs ? { seed: imageSeed(rootfs, m) } : {});
      taken.push({ store, name: m.name });
    }
  } catch (err) {
    try {
      release();
    } catch {
      // the original error says more
    }
    throw err;
  }
  return { release };
}

/**
 * Docker's copy of the image's content into a new volume: the image's layers are mounted
 * read-only (a lower-only overlay) under the container's rootfs directory, so teardown
 * and `gc` unmount it if we die midway; `target` is looked up there without following
 * symlinks (an image's symlink could point anywhere on the host), and its content, when
 * it is a directory, is copied in.
 */
function imageSeed(
  rootfs: ContainerRootfs,
  m: VolumeMountSpec,
): (copyIn: (dir: string) => Promise<void>) => Promise<void> {
  return async (copyIn) => {
    const mnt = join(rootfs.dir, 'volume-seed');
    const empty = join(rootfs.dir, 'volume-seed-empty');
    // overlayfs needs two lower layers when it has no upper one: add an empty one.
    const lower = rootfs.options.split(',')[0] as string;
    const options = `${lower}:${empty.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}`;
    if (Buffer.byteLength(options) > MOUNT_DATA_MAX || empty.includes(',')) return;
    fs.mkdirSync(mnt, { recursive: true, mode: 0o700 });
    fs.mkdirSync(empty, { recursive: true, mode: 0o700 });
    try {
      mountOverlay(mnt, options, { readonly: true });
      try {
        const source = lookupInside(mnt, m.target);
        if (source) await copyIn(source);
      } finally {
        unmount(mnt);
      }
    } finally {
      fs.rmSync(mnt, { recursive: true, force: true });
      fs.rmSync(empty, { recursive: true, force: true });
    }
  };
}

/**
 * `root` + `path` when every component of it exists in `root`, none is a symlink and the
 * last is a directory; undefined otherwise (then nothing is copied).
 */
function lookupInside(root: string, path: string): string | undefined {
  let at = root;
  for (const part of path.split('/').filter(Boolean)) {
    at = join(at, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      return undefined;
    }
    if (!st.isDirectory()) return undefined;
  }
  return at;
}
