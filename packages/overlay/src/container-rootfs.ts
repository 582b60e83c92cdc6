import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { ioError, OverlayError } from './errors.js';
import { mountsAtOrUnder } from './mountinfo.js';
import { mountOverlay, mountTmpfs, unmount } from './overlay-mount.js';
import { overlayMountOptions } from './overlay-options.js';
import type { ImageRecord, ImageStore } from './store.js';
import { libcSyscalls, type Syscalls } from './syscalls.js';
import { parseSize } from './units.js';

/** Options of {@link prepareContainerRootfs}. */
export interface ContainerRootfsOptions {
  /**
   * Cap on what the container may write (`'100M'`, or bytes): upper and work dirs go on a
   * tmpfs of this size, so a runaway writer gets ENOSPC and the host disk is safe.
   * Unset: they live on the state dir's file system, unbounded.
   */
  writableLayerSize?: string | number;
  /** The root is to be mounted read-only (`MS_RDONLY`); upper/work still exist, unused. */
  readonly?: boolean;
  syscalls?: Syscalls;
}

/**
 * Everything needed to mount one container's root, prepared but not mounted. Plain data
 * (serialisable), so `@tsbox/core` can hand it to tsbox-init, which mounts the overlay
 * inside the container's own mount namespace, or call {@link mountContainerRootfs} to
 * mount it on the host.
 */
export interface ContainerRootfs {
  /** `<stateDir>/rootfs`: everything below is owned by this rootfs and removed on teardown. */
  dir: string;
  /** Image layer dirs, top first. */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /** Where the merged root goes (the directory tsbox-init pivots into). */
  mergedDir: string;
  /** overlayfs option string for mount(2) with type `overlay`, source `overlay`. */
  options: string;
  /** Mount flags to use: `MS_RDONLY` (1) when read-only, else 0. */
  flags: number;
  readonly: boolean;
  /** The tmpfs holding upper/work when a size limit was asked for (already mounted). */
  tmpfs?: { mountPoint: string; sizeBytes: number };
}

/** The directory a container's rootfs uses under its state dir. */
export function rootfsDir(stateDir: string): string {
  return join(resolve(stateDir), 'rootfs');
}

/**
 * Prepares a container root from an image: creates `<stateDir>/rootfs/{rw/upper,rw/work,
 * merged}`, mounts the size-limited tmpfs on `rw` when `writableLayerSize` is set, and
 * computes the overlay options. Does not mount the overlay (see {@link mountContainerRootfs}).
 * On failure it undoes what it did. Undo with {@link teardownContainerRootfs}.
 *
 * A tmpfs mounted here is visible to a container cloned afterwards, since a new mount
 * namespace starts as a copy of the host's.
 */
export async function prepareContainerRootfs(
  store: ImageStore,
  image: ImageRecord | string,
  stateDir: string,
  options: ContainerRootfsOptions = {},
): Promise<ContainerRootfs> {
  // Validate everything before creating anything.
  const sizeBytes =
    options.writableLayerSize === undefined
      ? undefined
      : parseSize(options.writableLayerSize, 'writableLayerSize');
  const record = await store.get(image);
  const lowerdirs = store.layerPaths(record);
  const dir = rootfsDir(stateDir);
  const rw = join(dir, 'rw');
  const plan: ContainerRootfs = {
    dir,
    lowerdirs,
    upperdir: join(rw, 'upper'),
    workdir: join(rw, 'work'),
    mergedDir: join(dir, 'merged'),
    options: '',
    flags: options.readonly ? 1 : 0,
    readonly: options.readonly ?? false,
  };
  try {
    plan.options = overlayMountOptions(plan);
  } catch (err) {
    if ((err as OverlayError).field !== 'lowerdirs' || lowerdirs.length < 2) throw err;
    // Too long for one page: go through the store's short links instead.
    plan.lowerdirs = store.shortLayerPaths(record);
    plan.options = overlayMountOptions(plan);
  }
  if (fs.existsSync(dir)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'rootfs.prepare',
      `${dir} already exists`,
      {
        path: dir,
        field: 'stateDir',
      },
    );
  }
  const sys = options.syscalls ?? libcSyscalls();
  try {
    fs.mkdirSync(rw, { recursive: true, mode: 0o700 });
    fs.mkdirSync(plan.mergedDir, { mode: 0o755 });
    if (sizeBytes !== undefined) {
      mountTmpfs(rw, sizeBytes, sys);
      plan.tmpfs = { mountPoint: rw, sizeBytes };
    }
    fs.mkdirSync(plan.upperdir, { mode: 0o755 });
    fs.mkdirSync(plan.workdir, { mode: 0o700 });
  } catch (err) {
    teardownContainerRootfs(stateDir, { syscalls: sys });
    throw err instanceof OverlayError ? err : ioError('rootfs.prepare', err, dir);
  }
  return plan;
}

/** Mounts a prepared rootfs' overlay on its `mergedDir`, host side. */
export function mountContainerRootfs(plan: ContainerRootfs, syscalls?: Syscalls): void {
  mountOverlay(plan.mergedDir, plan.options, {
    readonly: plan.readonly,
    ...(syscalls ? { syscalls } : {}),
  });
}

/**
 * Unmounts everything under `<stateDir>/rootfs` (overlay, then tmpfs) and deletes it.
 * Idempotent, and needs only the state dir, so `tsbox gc` can call it after a crash.
 * Refuses to delete while something is still mounted there, so it never deletes through
 * a live overlay into a layer.
 */
export function teardownContainerRootfs(
  stateDir: string,
  opts: { syscalls?: Syscalls } = {},
): void {
  const dir = rootfsDir(stateDir);
  unmount(dir, opts.syscalls ? { syscalls: opts.syscalls } : {});
  const left = mountsAtOrUnder(dir);
  if (left.length > 0) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_SYSCALL',
      'rootfs.teardown',
      `${left[0]} is still mounted`,
      {
        path: left[0],
      },
    );
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    throw ioError('rootfs.teardown', err, dir);
  }
}
