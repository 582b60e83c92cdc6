import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { CgroupManager, CgroupStats } from '@tsbox/cgroups';
import type { CommitOptions, ImageRecord } from '@tsbox/overlay';
import { EventEmitter } from 'eventemitter3';
import { ContainerStateError, InvalidSpecError } from './errors.js';
import type { Keeper } from './launcher.js';
import { ChunkQueue } from './output.js';
import { commitContainer } from './resource-image.js';
import { containerAddress } from './resource-network.js';
import type { RunResult } from './result.js';
import { type Duration, parseDuration } from './units.js';

/** Events of a started container. */
export interface ContainerEvents {
  /** A chunk the workload wrote to stdout (all of it, also beyond `maxOutput`). */
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  /** The container is gone and every resource it held is released. */
  exit: (result: RunResult) => void;
}

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL; default `'10s'`. */
  grace?: Duration;
}

/** What the run pipeline hands to a `RunningContainer`. */
export interface ContainerHandle {
  id: string;
  pid: number;
  cgroup: CgroupManager | undefined;
  keeper: Keeper;
  sync: Socket;
  result: Promise<RunResult>;
  markStopped(): void;
}

/**
 * A container whose workload is running. Returned by `Container.start()`.
 *
 * ```ts
 * await using c = await new Container().start('sleep', ['60']);
 * c.on('stdout', (chunk) => process.stdout.write(chunk));
 * const result = await c.stop({ grace: '2s' });
 * ```
 *
 * Disposing it (`await using`) kills the container if it still runs and waits
 * until everything it held is released.
 */
export class RunningContainer extends EventEmitter<ContainerEvents> implements AsyncDisposable {
  /** The container's id. */
  readonly id: string;
  /** Host pid of the container's PID 1. */
  readonly pid: number;
  /** The container's IPv4 address on its network; `undefined` without a network. */
  readonly ip: string | undefined;
  readonly #handle: ContainerHandle;
  #exited = false;

  /** @internal Created by `Container.start()`. */
  constructor(handle: ContainerHandle) {
    super();
    this.id = handle.id;
    this.pid = handle.pid;
    this.ip = containerAddress(handle.id);
    this.#handle = handle;
    handle.result.then(
      (r) => {
        this.#exited = true;
        this.emit('exit', r);
      },
      () => {
        this.#exited = true;
      },
    );
  }

  /** True until the container is gone. */
  get running(): boolean {
    return !this.#exited;
  }

  /** Resolves when the container is gone, with how it ended. */
  wait(): Promise<RunResult> {
    return this.#handle.result;
  }

  /**
   * Sends `signal` to the container: PID 1 forwards it to the workload's process
   * group; `SIGKILL` ends the whole container at once. Returns false when the
   * container has already exited.
   */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): boolean {
    const n = typeof signal === 'number' ? signal : constants.signals[signal];
    if (!Number.isInteger(n) || n <= 0 || n >= 65)
      throw new InvalidSpecError('signal', signal, 'unknown signal');
    if (this.#exited || this.#handle.sync.destroyed) return false;
    this.#handle.sync.write(`signal ${n}\n`);
    return true;
  }

  /**
   * Graceful shutdown: SIGTERM to PID 1, which forwards it to the workload; when
   * the grace period ends, SIGKILL to everything. Resolves with the result.
   */
  async stop(options: StopOptions = {}): Promise<RunResult> {
    const grace = options.grace === undefined ? 10_000 : parseDuration(options.grace, 'grace');
    if (this.#exited) return this.#handle.result;
    this.#handle.markStopped();
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), grace);
    try {
      return await this.#handle.result;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The workload's stdout (or stderr) as an async iterator of chunks from now until
   * the container exits. Subscribe right after `start()` resolves to miss nothing.
   */
  output(stream: 'stdout' | 'stderr' = 'stdout'): AsyncIterableIterator<Buffer> {
    if (this.#exited)
      throw new ContainerStateError('output', `container ${this.id} has already exited`);
    const q = new ChunkQueue();
    const onChunk = (c: Buffer) => q.push(c);
    const onExit = () => {
      this.off(stream, onChunk);
      q.end();
    };
    this.on(stream, onChunk);
    this.once('exit', onExit);
    this.#handle.result.catch(onExit);
    return q;
  }

  /**
   * The container's cgroup counters now (CPU time, memory, pids, throttling, OOM
   * kills, io; PSI on v2). Undefined when the container has no cgroup (no limit set).
   * For CPU % over an interval pass two samples to `cpuPercent` from `@tsbox/cgroups`.
   */
  stats(): CgroupStats | undefined {
    if (this.#exited || !this.#handle.cgroup) return undefined;
    return this.#handle.cgroup.stats();
  }

  /**
   * Freezes every process of the container (cgroup freezer): they stop getting CPU
   * time until {@link resume}. Needs a cgroup: set any resource limit.
   */
  async pause(): Promise<void> {
    await this.#needCgroup('pause').freeze();
  }

  /** Thaws a paused container. */
  async resume(): Promise<void> {
    await this.#needCgroup('resume').thaw();
  }

  #needCgroup(stage: string): CgroupManager {
    if (this.#exited)
      throw new ContainerStateError(stage, `container ${this.id} has already exited`);
    if (!this.#handle.cgroup) {
      throw new ContainerStateError(
        stage,
        `container ${this.id} has no cgroup: set a resource limit (e.g. .pids(1024)) to ${stage} it`,
      );
    }
    return this.#handle.cgroup;
  }

  /**
   * Saves the container's writable layer as a new image on top of its image, in the
   * same store, named `name` if given (`docker commit`). Only while the container runs
   * on an image (its writable layer is removed when it is gone). A container with a
   * cgroup (any resource limit) is paused for the copy, as Docker does; one without
   * keeps running, so commit a quiet container for a consistent snapshot.
   *
   * ```ts
   * const c = await new Container().image(img).start('sh', ['-c', 'echo hi > /f; sleep 30']);
   * const snap = await c.commit('my/snapshot:1');
   * ```
   */
  async commit(
    name?: string,
    options?: Omit<CommitOptions, 'parent' | 'name'>,
  ): Promise<ImageRecord> {
    const cgroup = this.#exited ? undefined : this.#handle.cgroup;
    if (!cgroup) return commitContainer(this.id, name, options);
    await cgroup.freeze();
    try {
      return await commitContainer(this.id, name, options);
    } finally {
      await cgroup.thaw();
    }
  }

  /** Kills the container if it still runs and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) this.kill('SIGKILL');
    await this.#handle.result.catch(() => undefined);
  }
}
