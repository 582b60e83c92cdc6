import type { CgroupStats } from '@tsbox/cgroups';

/** How a container run ended. Flat, with explicit flags: nobody decodes exit code 137. */
export interface RunResult {
  /** The container's id (also its default hostname and the name of its `/run/tsbox/<id>.json` record). */
  id: string;
  /**
   * The workload's exit status as a shell reports it: its exit code, or 128 + n when
   * signal n ended it.
   */
  exitCode: number;
  /** The signal that ended the workload (`'SIGKILL'` after a timeout), or null. */
  signal: NodeJS.Signals | null;
  /** Standard output, decoded as UTF-8, at most `maxOutput` bytes. */
  stdout: string;
  /** Standard error, decoded as UTF-8, at most `maxOutput` bytes. */
  stderr: string;
  /** The wall-clock timeout fired and the whole container was killed. */
  timedOut: boolean;
  /** `stop()` ended the run (SIGTERM, then SIGKILL after the grace period). */
  stopped: boolean;
  /** stdout or stderr produced more than `maxOutput` bytes; the first bytes are kept. */
  outputTruncated: boolean;
  /** Bytes the workload wrote, including those beyond `maxOutput`. */
  stdoutBytes: number;
  stderrBytes: number;
  /** From the call to `run()`/`start()` until the container was gone, in ms. */
  durationMs: number;
  /** The container's IPv4 address on its network; absent without a network. */
  ip?: string;
  /**
   * The kernel's OOM killer killed a process in this container (read from its
   * cgroup's counter, not guessed from exit code 137). False without a memory limit.
   */
  oomKilled: boolean;
  /**
   * The container's cgroup counters at its end (CPU user/system ms, memory RSS, peak
   * and cache, pids, throttling, OOM kills, io, PSI on v2). Present when the container
   * had a cgroup, i.e. when any resource limit was set.
   */
  stats?: CgroupStats;
  /** Where the time went, from the host's view (see {@link RunTimings}). */
  timings?: RunTimings;
}

/**
 * The run pipeline's phases in ms, as seen from the calling process. They add up to
 * about `durationMs`; `setupMs` overlaps the host-side steps between clone and "go".
 */
export interface RunTimings {
  /** Resources (cgroup ...) and the wire config, before spawning tsbox-init. */
  prepareMs: number;
  /** Spawning tsbox-init until PID 1's pid arrives: exec, config, cgroup join, clone. */
  cloneMs: number;
  /** PID 1 building the root (mounts, pivot_root, masks) until it reports ready. */
  setupMs: number;
  /** From ready (and go) until the workload's execve succeeded. */
  execMs: number;
  /** The workload running, until PID 1 reports its exit. */
  runMs: number;
  /** The exit report until everything is released (namespaces, cgroup, record). */
  teardownMs: number;
}
