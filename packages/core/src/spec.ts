import type { CgroupLimits } from '@tsbox/cgroups';
import { CAPABILITIES, type Capability, RLIMITS, type RlimitName } from '@tsbox/init';

/** A bind mount of a host path into the container. */
export interface BindMountSpec {
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readonly: boolean;
}

/** A named volume of a `VolumeStore` mounted into the container. */
export interface VolumeMountSpec {
  /** The volume's name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`). */
  name: string;
  /** Root of the `VolumeStore` holding it. */
  storeRoot: string;
  /** Absolute path inside the container. */
  target: string;
  readonly: boolean;
}

/** A fresh tmpfs inside the container. */
export interface TmpfsSpec {
  target: string;
  sizeBytes: number;
  /** Permission bits of the mount's root directory. */
  mode: number;
}

/** Where the container's root filesystem comes from. */
export type RootfsSpec =
  /** The host's system directories read-only (`/usr`, `/bin`, ..., a minimal `/etc`). */
  | { kind: 'host' }
  /** A directory of the host used as `/` (for example a busybox-static tree). */
  | { kind: 'directory'; path: string; readonly: boolean }
  /** An image of an `ImageStore`, under a per-container copy-on-write overlay layer. */
  | ImageRootfsSpec
  /**
   * An overlay whose directories the caller prepared and owns (an image build step):
   * `options` is the overlayfs option string (`lowerdir=...,upperdir=...,workdir=...`).
   */
  | { kind: 'overlay'; options: string; readonly: boolean };

/** The root filesystem is an image: its layers read-only, a fresh writable layer on top. */
export interface ImageRootfsSpec {
  kind: 'image';
  /** Image id (`sha256:...`) or name (`busybox:latest`), resolved when the container starts. */
  image: string;
  /** Root of the `ImageStore` holding it. */
  storeRoot: string;
  /** Cap on the writable layer in bytes (a tmpfs); unbounded on `/run/tsbox` when undefined. */
  writableLayerSizeBytes: number | undefined;
  /** Mount the root read-only: writes fail with EROFS. */
  readonly: boolean;
  /** Replaces the image's entrypoint (and, as in Docker, drops its cmd); undefined keeps it. */
  entrypoint: readonly string[] | undefined;
}

export interface RlimitSpec {
  name: RlimitName;
  soft: number | 'infinity';
  hard: number | 'infinity';
}

/**
 * The plain, validated, serialisable description of a container. `Container`
 * builds it; the run pipeline reads nothing else.
 */
export interface ContainerSpec {
  hostname: string | undefined;
  env: Readonly<Record<string, string>>;
  cwd: string;
  uid: number;
  gid: number;
  groups: readonly number[];
  rootfs: RootfsSpec;
  mounts: readonly BindMountSpec[];
  tmpfs: readonly TmpfsSpec[];
  /** Named volumes (created on first use, kept after the container). */
  volumes?: readonly VolumeMountSpec[];
  /** Wall-clock limit in ms from the workload's execve; none when undefined. */
  timeoutMs: number | undefined;
  /** Bytes of stdout and of stderr each kept in the result; the rest is counted and dropped. */
  maxOutputBytes: number;
  capabilities: readonly Capability[];
  noNewPrivileges: boolean;
  rlimits: readonly RlimitSpec[];
  /** cgroup limits in base units; empty means no cgroup is made for the container. */
  limits: Readonly<CgroupLimits>;
  /** Settings given explicitly, which an image's defaults (WorkingDir, User) must not replace. */
  explicit?: { readonly cwd?: boolean; readonly user?: boolean };
  /** The network to attach to; none (loopback only) when undefined. */
  network?: NetworkAttachmentSpec | undefined;
  /** Host ports forwarded to the container (needs a bridge network). */
  publish?: readonly PublishSpec[];
  /** Nameservers for the container's `/etc/resolv.conf`. */
  dns?: readonly string[];
}

/** Which network a container joins, and under which extra names. */
export interface NetworkAttachmentSpec {
  /** A network's name (`'bridge'` is the default network). */
  name: string;
  /** More host names the other containers on the network resolve to this one. */
  aliases: readonly string[];
}

/** A host port forwarded to a port of the container. */
export interface PublishSpec {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Docker's default capability set: what a root workload keeps unless told otherwise. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_TMP_SIZE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function defaultSpec(): ContainerSpec {
  return {
    hostname: undefined,
    env: {},
    cwd: '/',
    uid: 0,
    gid: 0,
    groups: [],
    rootfs: { kind: 'host' },
    mounts: [],
    tmpfs: [],
    timeoutMs: undefined,
    maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
    capabilities: DEFAULT_CAPABILITIES,
    noNewPrivileges: true,
    rlimits: [],
    limits: {},
  };
}

export function capabilityMask(caps: readonly Capability[]): bigint {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(CAPABILITIES[c]);
  return mask;
}

export const rlimitNumber = (name: RlimitName): number => RLIMITS[name];
