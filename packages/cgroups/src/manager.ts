import type { CgroupLimits } from './limits.js';
import type { CgroupEvents, CgroupStats } from './stats.js';

/**
 * One cgroup of one container, on either cgroup version.
 *
 * **Where it lives.** Every tsbox cgroup sits under a `tsbox/` parent, named
 * `<id>@<ownerPid>.<ownerStartTime>`: on v2 one directory
 * `/sys/fs/cgroup/tsbox/<name>`; on v1 one directory per controller hierarchy
 * (`/sys/fs/cgroup/{cpu,cpuacct,cpuset,memory,pids,blkio,freezer}/tsbox/<name>`, co-mounted
 * hierarchies such as `cpu,cpuacct` counted once). A process must be added to *each* v1
 * hierarchy to be limited by all of them; on v2 one write suffices.
 *
 * **Lifecycle.** {@link createCgroup} validates limits, then `create()` + `apply()`; the
 * workload joins through {@link CgroupManager.procsPaths} before its first instruction;
 * `stats()`/`events()` while and after it runs; `destroy()` always, also on failure
 * (it is idempotent). A crashed owner's cgroups are found by `sweepCgroups()`.
 *
 * Methods that write return promises (the kernel completes freezes, kills and exits
 * asynchronously, and a future systemd driver would talk D-Bus); the readers are
 * synchronous because the kernel answers them at once.
 */
export interface CgroupManager extends AsyncDisposable {
  /** 1 for the v1 driver (also used on hybrid hosts), 2 for the v2 driver. */
  readonly version: 1 | 2;
  /** The container id given to {@link createCgroup}. */
  readonly id: string;
  /** The directory name under `tsbox/`: `<id>@<ownerPid>.<ownerStartTime>`. */
  readonly name: string;
  /** Absolute cgroup directories: one per v1 hierarchy, exactly one on v2. */
  readonly paths: readonly string[];

  /**
   * Creates the directories. v1: one `mkdir` per hierarchy; the cpuset copy starts with
   * the parent's CPUs and memory nodes (the `tsbox/` parent has `cgroup.clone_children`
   * set), without which v1 refuses to admit tasks. v2: one `mkdir`; the `tsbox/` parent
   * has cpu, cpuset, io, memory and pids enabled in `cgroup.subtree_control`.
   * Rolls back what it made if it fails.
   * @throws CgroupError `ERR_TSBOX_CGROUP_EXISTS` if the directory exists already.
   */
  create(): Promise<void>;

  /**
   * Writes limits. A patch: fields absent from `limits` are left as they are, except that
   * setting `memoryBytes` without `memorySwapBytes` sets swap to none. Values are not
   * re-validated here beyond what the kernel checks; {@link validateCgroupLimits} is.
   * v1 and v2 differ in files and scales (see {@link CgroupLimits}).
   * @throws CgroupError `ERR_TSBOX_CGROUP_UNSUPPORTED` when the host lacks the interface
   *   (io weight without a weight-aware io scheduler, swap limit without swap accounting).
   */
  apply(limits: CgroupLimits): Promise<void>;

  /**
   * The `cgroup.procs` files to write `"0"` into (meaning "the writing process") so that a
   * process joins this cgroup: one per v1 hierarchy, one on v2. `tsbox-init` writes them
   * before it clones, so the workload and everything it forks is limited from its first
   * instruction. Order is irrelevant; every path must be written for the v1 limits to hold.
   */
  procsPaths(): readonly string[];

  /** Moves an existing process (all its threads) into the cgroup, in every hierarchy. */
  addProcess(pid: number): Promise<void>;

  /** Reads the counters (see {@link CgroupStats} for where each comes from on v1 and v2). */
  stats(): CgroupStats;

  /** Reads only the OOM-kill and pids-limit counters: the cheap post-run check. */
  events(): CgroupEvents;

  /**
   * Stops every task and resolves once the kernel reports the cgroup frozen. v1 writes
   * `FROZEN` to `freezer.state` and waits for it to read `FROZEN`, thawing and retrying
   * when it sticks in `FREEZING` (a vfork-waiting parent of a frozen child can hold it
   * there); v2 writes `1` to `cgroup.freeze` and waits for `frozen 1` in `cgroup.events`.
   * On timeout the cgroup is left thawed, never half-frozen.
   * @throws CgroupError `ERR_TSBOX_CGROUP_TIMEOUT` if freezing does not complete in 5 s.
   */
  freeze(): Promise<void>;

  /** Resumes the tasks (v1 `THAWED`, v2 `cgroup.freeze` 0). */
  thaw(): Promise<void>;

  /**
   * SIGKILLs every task, descendants included, and resolves once the cgroup has no
   * members. v2: one write to `cgroup.kill` (kernel ≥ 5.14; older kernels fall back to
   * the v1 way). v1: freeze, SIGKILL each pid in `cgroup.procs` (frozen, so none can fork
   * or exit and free its pid for reuse between the read and the kill), thaw.
   */
  killAll(): Promise<void>;

  /**
   * Removes the cgroup: kills remaining members as {@link CgroupManager.killAll} does,
   * then `rmdir` in every hierarchy (children first, freezer last on v1) with a bounded
   * retry (2 s) while the kernel still counts exiting members. Idempotent, also after a
   * partial create. The fast path (no members left) is one read and one `rmdir` per
   * hierarchy: no read first.
   * @throws CgroupError `ERR_TSBOX_CGROUP_BUSY` if a directory is still there after the retry.
   */
  destroy(): Promise<void>;
}

/** Where and for whom a cgroup is made. */
export interface CgroupOptions {
  /** Force a layout instead of detecting it (tests, unusual mounts). */
  layout?: 'v1' | 'v2' | 'hybrid';
  /** Mount root of the cgroup filesystems. Default `/sys/fs/cgroup`. */
  mountRoot?: string;
  /**
   * The process responsible for removing the cgroup; `sweepCgroups` removes the cgroup
   * once it no longer runs. Default: this process. A detached container whose creator
   * exits (OCI `create`) must name a process that lives as long as the container.
   */
  ownerPid?: number;
}

/** The parent directory name of every tsbox cgroup in every hierarchy. */
export const CGROUP_PARENT = 'tsbox';
