import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CommitOptions,
  type ContainerRootfs,
  type ImageRecord,
  MOUNT_DATA_MAX,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from '@tsbox/overlay';
import { ContainerStateError } from './errors.js';
import { storeAt } from './image-defaults.js';
import type { ContainerResource, ResourceContext } from './resources.js';
import { STATE_ROOT } from './state.js';

// A container's image root, host side: its upper/work dirs under /run/tsbox/<id>/
// (on a size-limited tmpfs mounted there when asked), prepared before tsbox-init is
// spawned and removed after the container is gone. The overlay itself is mounted by
// init inside the container's mount namespace (the `root-overlay` record), so the
// host's mount table only ever holds the tmpfs, and only with a size limit.

/** The per-container directory beside the `<id>.json` record. */
export function imageStateDir(id: string): string {
  return join(STATE_ROOT, id);
}

/** Prepared image roots of live containers, for `RunningContainer.commit()`. */
const prepared = new Map<string, { rootfs: ContainerRootfs; image: string; storeRoot: string }>();

/** The prepared (not yet mounted) image root of container `id` of this process, if any. */
export function preparedRootfs(id: string): ContainerRootfs | undefined {
  return prepared.get(id)?.rootfs;
}

/**
 * `RunningContainer.commit()`: the container's writable layer as a new image on top of
 * its image (`docker commit`), in the same store. The upper dir is read while the
 * container runs, without pausing it (there is no freezer without a cgroup): a file
 * being written during the commit may be caught half-way.
 */
export async function commitContainer(
  id: string,
  name: string | undefined,
  options: Omit<CommitOptions, 'parent' | 'name'> = {},
): Promise<ImageRecord> {
  const held = prepared.get(id);
  if (!held) {
    throw new ContainerStateError(
      'commit',
      `container ${id} has no writable image layer to commit: it does not run on an image or has exited`,
    );
  }
  return storeAt(held.storeRoot).commit(held.rootfs.upperdir, {
    ...options,
    parent: held.image,
    ...(name === undefined ? {} : { name }),
  });
}

/**
 * Removes `/run/tsbox/<id>/`: unmounts the rootfs' tmpfs (teardown refuses to delete
 * while anything is still mounted there), then deletes the rest. Idempotent.
 */
export function removeImageState(stateDir: string): void {
  teardownContainerRootfs(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
}

/**
 * A process that exits with image containers alive loses them (their keepers die with
 * it), and async release never runs: remove their writable layers now, synchronously,
 * unmounting the tmpfs lazily if the dying container still holds it.
 */
function releaseAllOnExit(): void {
  for (const id of prepared.keys()) {
    try {
      removeImageState(imageStateDir(id));
    } catch {
      // Exiting: what is left is for `tsbox gc`.
    }
  }
  prepared.clear();
}

/**
 * `volatile` (Linux 5.10+): overlayfs skips every sync of the upper file system, also
 * the one at unmount, which on an ext4 `/run` is a journal commit per container. The
 * writable layer is thrown away with the container, so surviving a host crash is
 * worth nothing; a commit reads it through the page cache, which is consistent.
 */
function withVolatile(options: string): string {
  const v = `${options},volatile`;
  return Buffer.byteLength(v) <= MOUNT_DATA_MAX ? v : options;
}

/**
 * The resource factory for `spec.rootfs.kind === 'image'`; `undefined` at once for any
 * other root, so host-mirror containers pay nothing for it.
 */
export async function imageResource(ctx: ResourceContext): Promise<ContainerResource | undefined> {
  const spec = ctx.spec.rootfs;
  if (spec.kind !== 'image') return undefined;
  const store = storeAt(spec.storeRoot);
  const stateDir = imageStateDir(ctx.id);
  let rootfs: ContainerRootfs;
  try {
    rootfs = await prepareContainerRootfs(store, spec.image, stateDir, {
      ...(spec.writableLayerSizeBytes === undefined
        ? {}
        : { writableLayerSize: spec.writableLayerSizeBytes }),
      readonly: spec.readonly,
    });
  } catch (err) {
    // prepareContainerRootfs undoes its own work; the directory above it is ours.
    removeImageState(stateDir);
    throw err;
  }
  if (prepared.size === 0) process.once('exit', releaseAllOnExit);
  prepared.set(ctx.id, { rootfs, image: spec.image, storeRoot: spec.storeRoot });
  return {
    // Read-only is applied by init's `root-readonly` remount after the mount points
    // (/proc, /dev, /sys) are made, so the overlay itself is mounted writable.
    mounts: [{ op: 'root-overlay', options: withVolatile(rootfs.options) }],
    release() {
      if (prepared.delete(ctx.id) && prepared.size === 0) process.off('exit', releaseAllOnExit);
      removeImageState(stateDir);
    },
  };
}
