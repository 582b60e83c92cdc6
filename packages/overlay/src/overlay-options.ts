import { OverlayError } from './errors.js';

/** The directories of one overlay mount. */
export interface OverlayDirs {
  /** Read-only layers, top (highest priority) first: the overlayfs `lowerdir` order. */
  lowerdirs: string[];
  /** The writable layer, where copy-up and whiteouts go. */
  upperdir: string;
  /** overlayfs' scratch directory; must be empty and on the same file system as upperdir. */
  workdir: string;
}

/**
 * mount(2) copies at most one page of option data; longer strings are cut and the mount
 * fails confusingly, so we refuse them with a clear message instead.
 */
export const MOUNT_DATA_MAX = 4095;

function checkPath(p: string, field: string): string {
  // ',' separates mount options and cannot be escaped in mount(2) data.
  if (!p.startsWith('/') || p.includes(',') || p.includes('\n')) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'overlay.options',
      `${field} must be an absolute path without ',' or newlines, got ${JSON.stringify(p)}`,
      { field, value: p },
    );
  }
  // overlayfs splits lowerdir on ':' and honours '\' as an escape.
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/**
 * Builds the overlayfs option string (`lowerdir=...,upperdir=...,workdir=...`) for mount(2)
 * or for tsbox-init to use inside the container's mount namespace. Pure: mounts nothing.
 *
 * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` for no layers, unusable paths, or
 *   an option string longer than one page.
 */
export function overlayMountOptions(dirs: OverlayDirs, extra: string[] = []): string {
  if (dirs.lowerdirs.length === 0) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'overlay.options',
      'an overlay needs at least one lower layer',
      {
        field: 'lowerdirs',
      },
    );
  }
  const lower = dirs.lowerdirs.map((d, i) => checkPath(d, `lowerdirs[${i}]`)).join(':');
  const parts = [
    `lowerdir=${lower}`,
    `upperdir=${checkPath(dirs.upperdir, 'upperdir')}`,
    `workdir=${checkPath(dirs.workdir, 'workdir')}`,
    ...extra,
  ];
  const options = parts.join(',');
  if (Buffer.byteLength(options) > MOUNT_DATA_MAX) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'overlay.options',
      `overlay options are ${Buffer.byteLength(options)} bytes, over the ${MOUNT_DATA_MAX}-byte limit of mount(2); use a shorter store root or fewer layers`,
      { field: 'lowerdirs', value: String(dirs.lowerdirs.length) },
    );
  }
  return options;
}
