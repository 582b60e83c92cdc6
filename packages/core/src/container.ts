import type { Capability, RlimitName } from '@tsbox/init';
import { InvalidSpecError } from './errors.js';
import type { Network } from './network.js';
import type { RunResult } from './result.js';
import { type RunOptions, startContainer } from './run.js';
import type { RunningContainer } from './running-container.js';
import { type ContainerSpec, DEFAULT_CAPABILITIES, defaultSpec } from './spec.js';
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
    return this.#with({ cwd: checkContainerPath('cwd', path, true) });
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
    return this.#with({ mounts: [...this.#spec.mounts, m] });
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
   * A command that does not exist rejects with `ExecNotFoundError`.
   */
  start(
    command: string,
    args: readonly string[] = [],
    options?: RunOptions,
  ): Promise<RunningContainer> {
    return startContainer(this.#spec, checkArgv(command, args), options);
  }

  /** Runs the workload to the end: `start()` then `wait()`. */
  async run(
    command: string,
    args: readonly string[] = [],
    options?: RunOptions,
  ): Promise<RunResult> {
    const running = await this.start(command, args, options);
    return running.wait();
  }
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
