/**
 * `@tsbox/overlay`: root file systems for tsbox — a content-addressed image layer store,
 * import of rootfs tars, `docker save` archives and OCI image layouts with overlay
 * whiteouts, pull from and push to registries (OCI distribution API), image configs, and
 * overlay mounts.
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
export {
  DockerfileError,
  type DockerfileInstruction,
  type DockerfileOptions,
  type ParsedDockerfile,
  parseDockerfile,
  splitInstructions,
} from './dockerfile.js';
export { OverlayError, type OverlayErrorCode, type OverlayErrorContext } from './errors.js';
export {
  type BuildOptions,
  type BuildRunner,
  type BuildStep,
  buildImage,
  type CopyOptions,
  ImageBuilder,
  mergeEnv,
  type RunStepOptions,
  SCRATCH,
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
export type { RegistryCredentials } from './registry/auth.js';
export type { RegistryOptions } from './registry/client.js';
export { DEFAULT_PLATFORM, type ManifestFormat, type Platform } from './registry/manifest.js';
export type { PullOptions } from './registry/pull.js';
export type { PushedLayer, PushOptions, PushProgress, PushResult } from './registry/push.js';
export { type ImageReference, parseReference } from './registry/reference.js';
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
