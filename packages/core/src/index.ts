/**
 * `@tsbox/core`: Linux sandboxes with a fluent API.
 *
 * ```ts
 * import { Container } from '@tsbox/core';
 * const r = await new Container().timeout('5s').run('python3', ['-c', 'print(6*7)']);
 * ```
 *
 * @packageDocumentation
 */

export {
  CgroupError,
  type CgroupLimits,
  type CgroupStats,
  cpuPercent,
  type IoDeviceLimit,
} from '@tsbox/cgroups';
export { type Capability, InitNotBuiltError, type RlimitName } from '@tsbox/init';
export {
  type BuildOptions,
  type BuildRunner,
  type BuildStep,
  buildImage,
  type CopyOptions,
  DEFAULT_STORE_ROOT,
  DEFAULT_VOLUME_ROOT,
  DockerfileError,
  type DockerfileOptions,
  ImageBuilder,
  type ImageConfig,
  type ImageRecord,
  type ImageStoreOptions,
  type ImportOptions,
  type ImportProgress,
  OverlayError,
  type Platform,
  type PullOptions,
  type PushOptions,
  type PushProgress,
  type PushResult,
  parseDockerfile,
  probeOverlay,
  type RegistryCredentials,
  type RegistryOptions,
  type RunStepOptions,
  SCRATCH,
  type Volume,
  VolumeInUseError,
  type VolumeLease,
  VolumeStore,
  type VolumeStoreOptions,
} from '@tsbox/overlay';
export { BuildStepError, containerBuildRunner } from './build-runner.js';
export { Container, type MountOptions, type VolumeOptions } from './container.js';
export {
  ContainerStateError,
  ExecNotFoundError,
  ExecPermissionError,
  InitError,
  InitProtocolError,
  InvalidSpecError,
  TsboxError,
} from './errors.js';
export { type GcOptions, type GcReport, gc } from './gc.js';
export { ImageStore } from './image-store.js';
export {
  DEFAULT_NETWORK_BRIDGE,
  DEFAULT_NETWORK_NAME,
  DEFAULT_NETWORK_SUBNET,
  Network,
  NetworkError,
  type NetworkMember,
  type NetworkOptions,
} from './network.js';
export type { RunResult, RunTimings } from './result.js';
export type { RunOptions } from './run.js';
export { type ContainerEvents, RunningContainer, type StopOptions } from './running-container.js';
export type {
  ImageRootfsSpec,
  NetworkAttachmentSpec,
  PublishSpec,
  VolumeMountSpec,
} from './spec.js';
export {
  type BindMountSpec,
  type ContainerSpec,
  DEFAULT_CAPABILITIES,
  type RlimitSpec,
  type RootfsSpec,
  type TmpfsSpec,
} from './spec.js';
export { STATE_ROOT } from './state.js';
export { type Duration, parseDuration, parseSize, type Size } from './units.js';
