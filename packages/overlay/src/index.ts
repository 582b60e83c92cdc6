/**
 * `@tsbox/overlay`: root file systems for tsbox — a content-addressed image layer store,
 * import of rootfs tars, `docker save` archives and OCI image layouts with overlay
 * whiteouts, image configs, and overlay mounts.
 *
 * @packageDocumentation
 */

export {
  type ContainerRootfs,
  type ContainerRootfsOptions,
  mountContainerRootfs,
  prepareContainerRootfs,
  rootfsDir,
  teardownContainerRootfs,
} from './container-rootfs.js';
export { type Digest, isDigest, sha256 } from './digest.js';
export { OverlayError, type OverlayErrorCode, type OverlayErrorContext } from './errors.js';
export {
  type BuildOptions,
  type BuildRunner,
  type BuildStep,
  buildImage,
  ImageBuilder,
  mergeEnv,
} from './image-builder.js';
export {
  defaultArgv,
  type ImageConfig,
  parseImageConfigBlob,
  toImageConfig,
} from './image-config.js';
export type { ImportFormat } from './image-source.js';
export { type ExtractLayerOptions, extractLayer } from './layer-extract.js';
export type { LayerRecord } from './layer-import.js';
export {
  type MountOverlayOptions,
  mountOverlay,
  mountTmpfs,
  type UnmountOptions,
  unmount,
} from './overlay-mount.js';
export { MOUNT_DATA_MAX, type OverlayDirs, overlayMountOptions } from './overlay-options.js';
export { type ProbeCheck, type ProbeResult, probeOverlay } from './probe.js';
export {
  type CommitOptions,
  DEFAULT_STORE_ROOT,
  type ImageRecord,
  ImageStore,
  type ImageStoreOptions,
  type ImportOptions,
  type ImportProgress,
  type RemoveResult,
} from './store.js';
export { libcSyscalls, type Syscalls } from './syscalls.js';
export { parseSize } from './units.js';
export { writeUpperAsLayerTar } from './upper-to-tar.js';
export {
  type AcquireOptions,
  checkVolumeName,
  DEFAULT_VOLUME_ROOT,
  type Volume,
  VolumeInUseError,
  type VolumeLease,
  VolumeStore,
  type VolumeStoreOptions,
  volumeDataPath,
} from './volumes.js';
export { classifyWhiteout, OPAQUE_XATTR, type WhiteoutAction } from './whiteout.js';
