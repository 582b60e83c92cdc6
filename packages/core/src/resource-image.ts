import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  rmSync,
  type Stats,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { MountOp } from '@tsbox/init';
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
const prepared = new Map<
  string,
  { rootfs: ContainerRootfs; image: string; storeRoot: string; generated?: string }
>();

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
  // The generated layer: an empty directory now, on top of the image's layers, that
  // placeGeneratedFiles fills (/etc/hosts ...) before init mounts the overlay.
  const generated = join(rootfs.dir, 'generated');
  let options = rootfs.options;
  const withGenerated = `lowerdir=${escapeLowerdir(generated)}:${options.slice('lowerdir='.length)}`;
  if (
    options.startsWith('lowerdir=') &&
    !generated.includes(',') &&
    Buffer.byteLength(withGenerated) <= MOUNT_DATA_MAX
  ) {
    try {
      mkdirSync(generated, { mode: 0o755 });
    } catch (err) {
      removeImageState(stateDir);
      throw err;
    }
    options = withGenerated;
  }
  if (prepared.size === 0) process.once('exit', releaseAllOnExit);
  prepared.set(ctx.id, {
    rootfs,
    image: spec.image,
    storeRoot: spec.storeRoot,
    ...(options === rootfs.options ? {} : { generated }),
  });
  return {
    // Read-only is applied by init's `root-readonly` remount after the mount points
    // (/proc, /dev, /sys) are made, so the overlay itself is mounted writable.
    mounts: [{ op: 'root-overlay', options: withVolatile(options) }],
    release() {
      if (prepared.delete(ctx.id) && prepared.size === 0) process.off('exit', releaseAllOnExit);
      removeImageState(stateDir);
    },
  };
}

/** overlayfs splits lowerdir on ':' and honours '\\' as an escape. */
function escapeLowerdir(path: string): string {
  return path.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/**
 * For an image root: takes the `file` records out of `ops` and puts the files in the
 * container's generated layer instead — a directory under its state dir, mounted as the
 * top read-only layer of its overlay. The container sees them as part of its root (it may
 * change them: copy-up into its writable layer, as with any image file), the image's
 * layers are not touched, and `commit()` does not pick them up unless they were changed.
 * Writing them through the image's tree instead (init's `file` record) would follow
 * whatever the image has at that path: an absolute symlink there resolves against the
 * host's root before `pivot_root`.
 *
 * Each parent directory takes the owner, mode and times of the image's own (the topmost
 * layer's), since overlayfs shows a merged directory with the attributes of its topmost
 * layer. A file whose parent is not a directory in the image (a symlinked `/etc`) is
 * left out: the container sees the image's own.
 */
export function placeGeneratedFiles(id: string, ops: readonly MountOp[]): MountOp[] {
  const files = ops.filter((op): op is Extract<MountOp, { op: 'file' }> => op.op === 'file');
  if (files.length === 0) return [...ops];
  const held = prepared.get(id);
  if (held?.generated) {
    for (const f of files) writeInLayer(held.generated, held.rootfs.lowerdirs, f);
  }
  return ops.filter((op) => op.op !== 'file');
}

function writeInLayer(
  layer: string,
  lowerdirs: readonly string[],
  file: { path: string; mode: number; content: string },
): void {
  const parts = file.path.split('/').filter(Boolean);
  let rel = '';
  for (const part of parts.slice(0, -1)) {
    rel = rel ? `${rel}/${part}` : part;
    const dir = join(layer, rel);
    if (existsSync(dir)) continue;
    const image = topmostEntry(lowerdirs, rel);
    if (image && !image.isDirectory()) return;
    mkdirSync(dir, { mode: 0o755 });
    if (image) {
      chownSync(dir, image.uid, image.gid);
      chmodSync(dir, image.mode & 0o7777);
      utimesSync(dir, image.atime, image.mtime);
    }
  }
  writeFileSync(join(layer, rel, parts[parts.length - 1] as string), file.content, {
    mode: file.mode,
  });
}

/** `rel`'s entry in the topmost layer that has one; undefined when absent or whited out. */
function topmostEntry(lowerdirs: readonly string[], rel: string): Stats | undefined {
  for (const layer of lowerdirs) {
    let st: Stats;
    try {
      st = lstatSync(join(layer, rel));
    } catch {
      continue;
    }
    // An overlay whiteout (char device 0/0) hides the lower layers' entry.
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    return st;
  }
  return undefined;
}
