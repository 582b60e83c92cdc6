import {
  type CgroupLimits,
  detectCgroupLayout,
  hostCpuFacts,
  type IoDeviceLimit,
  validateCgroupLimits,
} from '@tsbox/cgroups';
import type { Capability, RlimitName } from '@tsbox/init';
import {
  checkVolumeName,
  DEFAULT_STORE_ROOT,
  DEFAULT_VOLUME_ROOT,
  type ImageRecord,
  type ImageStore,
  type Volume,
  type VolumeStore,
} from '@tsbox/overlay';
import { InvalidSpecError } from './errors.js';
import { resolveImageStart } from './image-defaults.js';
import type { Network } from './network.js';
import type { RunResult } from './result.js';
import { type RunOptions, startContainer } from './run.js';
import type { RunningContainer } from './running-container.js';
import {
  type ContainerSpec,
  DEFAULT_CAPABILITIES,
  defaultSpec,
  type ImageRootfsSpec,
} from './spec.js';
import { type Duration, parseDuration, parseSize, type Size } from './units.js';
import {
  checkCapabilities,
  checkContainerPath,
  checkEnv,
  checkHostname,
  checkHostPath,
  checkId,
  checkRlimitName,
  checkRlimitValue,
} from './validate.js';
import { checkAliases, checkDns, checkNetworkRef, checkPublish } from './validate-network.js';

/** A bind mount request for {@link Container.mount}. */
export interface MountOptions {
  /** Absolute host path (file or directory). */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  /** Default true: the container cannot write through the mount. */
  readonly?: boolean;
}

/** Options of {@link Container.volume}. */
export interface VolumeOptions {
  /** Default false: the container may write to the volume (as in Docker). */
  readonly?: boolean;
  /**
   * Where a volume given by name lives (default: a `VolumeStore` at
   * `/var/lib/tsbox/volumes`). A `Volume` record carries its own store.
   */
  store?: VolumeStore;
}

/**
 * A container description. Immutable: every setter validates its input at once
 * (throwing `InvalidSpecError` before anything is created) and returns a new
 * `Container`, so one can be a template for many runs.
 *
 * ```ts
 * const r = await new Container().hostname('box').env({ GREETING: 'hi' }).timeout('2s')
 *   .run('sh', ['-c', 'echo $GREETING from $(hostname), pid $$']);
 * // r.stdout === 'hi from box, pid 2\n'
 * ```
 *
 * By default the root filesystem mirrors the host's system directories read-only
 * (`/usr`, `/bin`, `/sbin`, `/lib`, `/lib64`, a minimal `/etc`) with a fresh tmpfs
 * `/tmp`; the container has new PID, mount, UTS, IPC, network (loopback only) and
 * cgroup namespaces; the workload runs as root with Docker's default capabilities
 * and `no_new_privs`.
 */
export class Container {
  readonly #spec: ContainerSpec;

  constructor(spec?: ContainerSpec) {
    this.#spec = spec ?? defaultSpec();
  }

  #with(patch: Partial<ContainerSpec>): Container {
    return new Container({ ...this.#spec, ...patch });
  }

  /** The validated plain description this builder holds. */
  spec(): ContainerSpec {
    return this.#spec;
  }

  /** Hostname inside the container (default: the container id). */
  hostname(name: string): Container {
    return this.#with({ hostname: checkHostname(name) });
  }

  /** Adds environment variables (merged over earlier calls and the defaults PATH, HOME, HOSTNAME). */
  env(vars: Record<string, string>): Container {
    return this.#with({ env: { ...this.#spec.env, ...checkEnv(vars) } });
  }

  /** Working directory of the workload, an absolute path in the container. */
  cwd(path: string): Container {
    return this.#with({
      cwd: checkContainerPath('cwd', path, true),
      explicit: { ...this.#spec.explicit, cwd: true },
    });
  }

  /** Runs the workload as `uid:gid` (numeric) with these supplementary groups. */
  user(uid: number, gid: number = uid, groups: readonly number[] = []): Container {
    if (!Array.isArray(groups) || groups.length > 64) {
      throw new InvalidSpecError('groups', groups, 'expected at most 64 group ids');
    }
    return this.#with({
      uid: checkId('uid', uid),
      gid: checkId('gid', gid),
      groups: groups.map((g) => checkId('groups', g)),
      explicit: { ...this.#spec.explicit, user: true },
    });
  }

  /**
   * Uses a host directory (for example a busybox-static tree) as `/` instead of the
   * host mirror. Read-only unless `{ readonly: false }`; mount points that it lacks
   * (`/proc`, `/dev`, `/sys`, `/tmp`) are created in it.
   */
  rootfs(path: string, options: { readonly?: boolean } = {}): Container {
    return this.#with({
      rootfs: {
        kind: 'directory',
        path: checkHostPath('rootfs', path, 'directory'),
        readonly: options.readonly ?? true,
      },
    });
  }

  /** Bind-mounts a host path into the container (read-only unless `readonly: false`). */
  mount(options: MountOptions): Container {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidSpecError('mount', options, 'expected { source, target, readonly? }');
    }
    const m = {
      source: checkHostPath('mount.source', options.source),
      target: checkContainerPath('mount.target', options.target),
      readonly: options.readonly ?? true,
    };
    if (this.#spec.volumes?.some((v) => v.target === m.target))
      throw new InvalidSpecError('mount.target', m.target, 'a volume is mounted there already');
    return this.#with({ mounts: [...this.#spec.mounts, m] });
  }

  /**
   * Mounts a named volume at `target` (`docker run -v name:/target`): a directory kept in
   * a `VolumeStore` after the container ends, which any number of containers may mount
   * at once (they see each other's writes). A volume given by name is created when the
   * container starts if it does not exist yet. When an image root has content at
   * `target` and the volume is empty, that content is copied into the volume first, as
   * Docker does. Writable unless `{ readonly: true }` (writes then fail with EROFS).
   *
   * While the container runs it holds a lease on the volume, so
   * `VolumeStore.remove()` refuses to delete it; the lease goes with the container (on
   * every path; `tsbox gc` drops those of a crashed process).
   *
   * ```ts
   * const data = await new VolumeStore().create('pgdata');
   * await new Container().image(img).volume(data, '/var/lib/postgresql/data').run();
   * await new Container().volume('cache', '/cache', { readonly: true }).run('ls', ['/cache']);
   * ```
   */
  volume(volume: Volume | string, target: string, options: VolumeOptions = {}): Container {
    if (typeof options !== 'object' || options === null)
      throw new InvalidSpecError('volume', options, 'expected { readonly?, store? }');
    const name = typeof volume === 'string' ? volume : volume?.name;
    try {
      checkVolumeName(name);
    } catch {
      throw new InvalidSpecError(
        'volume.name',
        volume,
        "expected a Volume or a name of letters, digits, '_', '.' and '-' starting with a letter or digit",
      );
    }
    const storeRoot =
      typeof volume === 'string' ? (options.store?.root ?? DEFAULT_VOLUME_ROOT) : volume.storeRoot;
    if (typeof storeRoot !== 'string' || !storeRoot.startsWith('/') || storeRoot.includes('\0'))
      throw new InvalidSpecError('volume.store', storeRoot, 'expected an absolute store root');
    if (options.readonly !== undefined && typeof options.readonly !== 'boolean')
      throw new InvalidSpecError('volume.readonly', options.readonly, 'expected a boolean');
    const v = {
      name: name as string,
      storeRoot,
      target: checkContainerPath('volume.target', target),
      readonly: options.readonly ?? false,
    };
    const volumes = this.#spec.volumes ?? [];
    if (
      volumes.some((x) => x.target === v.target) ||
      this.#spec.mounts.some((x) => x.target === v.target)
    )
      throw new InvalidSpecError('volume.target', v.target, 'something is mounted there already');
    return this.#with({ volumes: [...volumes, v] });
  }

  /** A fresh tmpfs of at most `size` at `target` (`.tmpfs('/tmp', '1G')` replaces the default `/tmp`). */
  tmpfs(target: string, size: Size, mode = 0o1777): Container {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
      throw new InvalidSpecError('tmpfs.mode', mode, 'expected permission bits');
    const t = {
      target: checkContainerPath('tmpfs.target', target),
      sizeBytes: parseSize(size, 'tmpfs.size'),
      mode,
    };
    return this.#with({ tmpfs: [...this.#spec.tmpfs.filter((x) => x.target !== t.target), t] });
  }

  /** Wall-clock limit from the workload's start; when it fires the whole container is killed. */
  timeout(duration: Duration): Container {
    return this.#with({ timeoutMs: parseDuration(duration, 'timeout') });
  }

  /** Bytes of stdout and of stderr kept in the result (default 64 MiB each); the rest is dropped and flagged. */
  maxOutput(size: Size): Container {
    return this.#with({ maxOutputBytes: parseSize(size, 'maxOutput', true) });
  }

  /** Adds to or drops from the workload's capabilities (default: Docker's 14). `drop: ['ALL']` drops all. */
  capabilities(change: { add?: readonly string[]; drop?: readonly string[] }): Container {
    const dropAll = change.drop?.some((c) => c.toUpperCase() === 'ALL') ?? false;
    const drop = new Set<Capability>(
      dropAll ? [] : checkCapabilities('capabilities.drop', change.drop ?? []),
    );
    const add = checkCapabilities('capabilities.add', change.add ?? []);
    const kept = (dropAll ? [] : this.#spec.capabilities).filter((c) => !drop.has(c));
    return this.#with({ capabilities: [...new Set([...kept, ...add])] });
  }

  /** Whether the workload may gain privileges through setuid binaries (default: it may not). */
  noNewPrivileges(enabled = true): Container {
    return this.#with({ noNewPrivileges: Boolean(enabled) });
  }

  /** Sets a resource limit (`setrlimit`) for the workload, e.g. `.rlimit('nofile', 1024)`. */
  rlimit(name: RlimitName, soft: number | 'infinity', hard: number | 'infinity' = soft): Container {
    const r = {
      name: checkRlimitName(name),
      soft: checkRlimitValue('rlimit.soft', soft),
      hard: checkRlimitValue('rlimit.hard', hard),
    };
    if (r.soft !== 'infinity' && r.hard !== 'infinity' && r.soft > r.hard) {
      throw new InvalidSpecError('rlimit', { soft, hard }, 'soft limit is above the hard limit');
    }
    return this.#with({ rlimits: [...this.#spec.rlimits.filter((x) => x.name !== r.name), r] });
  }

  // ---- resource limits (a cgroup is made for the container when any is set) ----

  #limit(patch: CgroupLimits): Container {
    // Each setter's value is checked alone here; cross-field rules (reservation ≤
    // memory) are checked again at start, before the cgroup is created.
    validateCgroupLimits(patch, hostCpuFacts(detectCgroupLayout()));
    return this.#with({ limits: { ...this.#spec.limits, ...patch } });
  }

  /**
   * CPU bandwidth as a fraction of CPUs: `0.2` is 20 % of one CPU (cfs quota 20000 per
   * 100000 µs period on v1, `cpu.max` "20000 100000" on v2), `1.5` one and a half CPUs.
   */
  cpu(cpus: number): Container {
    return this.#limit({ cpus });
  }

  /** Relative CPU weight on the v1 scale, 2–262144 (default 1024); converted to `cpu.weight` on v2. */
  cpuShares(shares: number): Container {
    return this.#limit({ cpuShares: shares });
  }

  /** CPUs (and memory nodes) the container may use: `'0'`, `'0-1,3'`. `nproc` inside reports them. */
  cpuset(cpus: string, mems?: string): Container {
    return this.#limit(
      mems === undefined ? { cpusetCpus: cpus } : { cpusetCpus: cpus, cpusetMems: mems },
    );
  }

  /**
   * Hard memory limit. Swap is limited too (none by default: swap silently defeats a
   * memory limit); allow some with {@link memorySwap}. Past the limit the kernel's
   * OOM killer acts inside the container and the result says `oomKilled: true`.
   */
  memory(size: Size): Container {
    return this.#limit({ memoryBytes: parseSize(size, 'memory') });
  }

  /** Swap allowed in addition to {@link memory}, or `'unlimited'`. Default with a memory limit: none. */
  memorySwap(size: Size | 'unlimited'): Container {
    return this.#limit({
      memorySwapBytes:
        size === 'unlimited' ? Number.POSITIVE_INFINITY : parseSize(size, 'memorySwap', true),
    });
  }

  /** Soft memory limit (v1) / protection (v2 `memory.low`), at most the hard limit. */
  memoryReservation(size: Size): Container {
    return this.#limit({ memoryReservationBytes: parseSize(size, 'memoryReservation') });
  }

  /** Maximum number of processes and threads: a fork bomb gets EAGAIN here. */
  pids(max: number): Container {
    return this.#limit({ pidsMax: max });
  }

  /**
   * Block io: a relative `weight` (10–1000) and per-device throttles
   * (`{ device: '254:0', readBps, writeBps, readIops, writeIops }`).
   */
  io(options: { weight?: number; devices?: IoDeviceLimit[] }): Container {
    const patch: CgroupLimits = {};
    if (options.weight !== undefined) patch.ioWeight = options.weight;
    if (options.devices !== undefined) patch.ioDeviceLimits = options.devices;
    return this.#limit(patch);
  }

  /**
   * Attaches the container to a bridge network: `'bridge'` (the default network,
   * created on first use), a {@link Network}, or `'none'` (the default: loopback
   * only). `alias` adds names the other containers on the network resolve to this
   * one (besides its hostname).
   */
  network(
    network: Network | 'bridge' | 'none',
    options: { alias?: string | readonly string[] } = {},
  ): Container {
    const name = checkNetworkRef(network);
    if (name === 'none') return this.#with({ network: undefined });
    return this.#with({ network: { name, aliases: checkAliases(options.alias) } });
  }

  /**
   * Forwards `hostPort` on every local address of the host (127.0.0.1 included) to
   * `containerPort` of the container. Needs a bridge network (`.network(...)`):
   * without one `start()` throws `InvalidSpecError` before anything is created.
   */
  publish(hostPort: number, containerPort: number, protocol: 'tcp' | 'udp' = 'tcp'): Container {
    const p = checkPublish(hostPort, containerPort, protocol);
    const taken = this.#spec.publish ?? [];
    if (taken.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol)) {
      throw new InvalidSpecError('publish.hostPort', hostPort, `already published (${protocol})`);
    }
    return this.#with({ publish: [...taken, p] });
  }

  /** Nameservers for the container's `/etc/resolv.conf` (default: the host's, minus loopback ones). */
  dns(servers: readonly string[]): Container {
    return this.#with({ dns: checkDns(servers) });
  }

  /**
   * Starts the workload and resolves once it is executing (its `execve` succeeded).
   * A command that does not exist rejects with `ExecNotFoundError`. On an
   * {@link Container.image | image} the command may be omitted (`start()`): the image's
   * entrypoint + cmd run, as with `docker run <image>`.
   */
  start(
    command?: string,
    args: readonly string[] = [],
    options?: RunOptions,
  ): Promise<RunningContainer> {
    if (this.#spec.rootfs.kind === 'image') return startOnImage(this.#spec, command, args, options);
    return startContainer(this.#spec, checkArgv(command, args), options);
  }

  /** Runs the workload to the end: `start()` then `wait()`. */
  async run(
    command?: string,
    args: readonly string[] = [],
    options?: RunOptions,
  ): Promise<RunResult> {
    const running = await this.start(command, args, options);
    return running.wait();
  }

  /**
   * Uses an image as the root filesystem: its layers read-only, under a fresh writable
   * layer that is discarded when the container is gone (copy-on-write, overlayfs).
   * `image` is an `ImageRecord` or a name/id in `store` (default: an `ImageStore` at
   * `/var/lib/tsbox`), resolved when the container starts.
   *
   * The image's Env, Entrypoint, Cmd, WorkingDir and User are defaults: `.env()`
   * entries override same-named ones, `.cwd()` overrides WorkingDir, `.user()`
   * overrides User (`.user(0)` runs as root whatever the image says), a command given to `run()`/`start()`
   * replaces Cmd (the entrypoint stays, as in Docker; see {@link Container.entrypoint}).
   *
   * ```ts
   * const img = await new ImageStore().import('./alpine.tar');
   * const r = await new Container().image(img).run('cat', ['/etc/os-release']);
   * const d = await new Container().image(img).run(); // the image's entrypoint + cmd
   * ```
   */
  image(image: ImageRecord | string, store?: ImageStore): Container {
    const ref = typeof image === 'string' ? image : image?.id;
    if (typeof ref !== 'string' || ref.length === 0 || ref.includes('\0'))
      throw new InvalidSpecError('image', image, 'expected an ImageRecord or an image name or id');
    const prev = this.#spec.rootfs.kind === 'image' ? this.#spec.rootfs : undefined;
    return this.#with({
      rootfs: {
        kind: 'image',
        image: ref,
        storeRoot: store?.root ?? DEFAULT_STORE_ROOT,
        writableLayerSizeBytes: prev?.writableLayerSizeBytes,
        readonly: prev?.readonly ?? false,
        entrypoint: prev?.entrypoint,
      },
    });
  }

  /**
   * Caps what the container may write to its root (`'100M'`): the writable layer goes on
   * a tmpfs of that size, so a runaway writer gets ENOSPC and the host disk is safe.
   * Needs {@link Container.image}.
   */
  writableLayerSize(size: Size): Container {
    const rootfs = this.#imageRootfs('writableLayerSize');
    return this.#with({
      rootfs: { ...rootfs, writableLayerSizeBytes: parseSize(size, 'writableLayerSize') },
    });
  }

  /** Mounts the root read-only: writes outside mounts and tmpfs fail with EROFS. */
  readonlyRootfs(): Container {
    const rootfs = this.#spec.rootfs;
    // The host mirror is read-only already.
    if (rootfs.kind === 'host') return this;
    return this.#with({ rootfs: { ...rootfs, readonly: true } });
  }

  /**
   * Replaces the image's entrypoint (`[]` clears it); as in Docker this also drops the
   * image's cmd. Needs {@link Container.image}.
   */
  entrypoint(argv: readonly string[]): Container {
    const rootfs = this.#imageRootfs('entrypoint');
    if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string' || a.includes('\0')))
      throw new InvalidSpecError(
        'entrypoint',
        argv,
        'expected an array of strings without NUL bytes',
      );
    return this.#with({ rootfs: { ...rootfs, entrypoint: [...argv] } });
  }

  #imageRootfs(field: string): ImageRootfsSpec {
    if (this.#spec.rootfs.kind !== 'image')
      throw new InvalidSpecError(
        field,
        undefined,
        'call .image() first: it applies to an image root',
      );
    return this.#spec.rootfs;
  }
}

async function startOnImage(
  spec: ContainerSpec,
  command: string | undefined,
  args: readonly string[],
  options: RunOptions | undefined,
): Promise<RunningContainer> {
  const explicit =
    command === undefined && args.length === 0 ? undefined : checkArgv(command, args);
  const resolved = await resolveImageStart(spec, explicit);
  return startContainer(resolved.spec, resolved.argv, options);
}

function checkArgv(command: unknown, args: unknown): string[] {
  if (typeof command !== 'string' || command.length === 0 || command.includes('\0')) {
    throw new InvalidSpecError('command', command, 'expected a non-empty string');
  }
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new InvalidSpecError('args', args, 'expected an array of strings without NUL bytes');
  }
  return [command, ...args];
}

export { DEFAULT_CAPABILITIES };
