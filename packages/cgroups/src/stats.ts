import { hostCpuFacts } from './host.js';
import { detectCgroupLayout } from './layout.js';
import type { Pressure } from './parse.js';

/**
 * One sample of a cgroup's counters. Times are milliseconds, sizes bytes. A field the
 * host's kernel does not provide is `undefined`, never a made-up 0.
 */
export interface CgroupStats {
  /** When the sample was taken, `performance.now()` (monotonic ms); pairs with `cpuUsageUs`. */
  sampledAtMs: number;
  /** Total CPU time of all tasks, µs. v1 `cpuacct.usage` (ns), v2 `cpu.stat` usage_usec. */
  cpuUsageUs: number;
  /**
   * CPU time in user / kernel mode, ms. v1 `cpuacct.usage_user`/`usage_sys` (ns) where the
   * kernel has them, else `cpuacct.stat` in USER_HZ ticks (10 ms resolution); v2 `cpu.stat`.
   */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Time tasks were throttled by the CPU quota, ms (v1 `cpu.stat` throttled_time, v2 throttled_usec). */
  cpuThrottledMs: number;
  /** CFS periods elapsed / periods in which the cgroup was throttled. */
  cpuPeriods: number;
  cpuThrottledPeriods: number;
  /**
   * Anonymous memory (the seed's RSS: not page cache), bytes. v1 `memory.stat` total_rss,
   * v2 `memory.stat` anon. `usage_in_bytes`/`memory.current` include cache and are not used.
   */
  memoryRssBytes: number;
  /** Page cache charged to the cgroup (v1 total_cache, v2 file). */
  memoryCacheBytes: number;
  /** Swap in use (v1 total_swap, v2 `memory.swap.current`); undefined without swap accounting. */
  memorySwapBytes: number | undefined;
  /**
   * Peak memory usage including cache, bytes: v1 `memory.max_usage_in_bytes`, v2
   * `memory.peak` (kernel ≥ 5.19; undefined before).
   */
  memoryPeakBytes: number | undefined;
  /**
   * Highest `memoryRssBytes` seen by this manager's `stats()` calls, this one included.
   * The kernel keeps no RSS peak, so this is sampled: call `stats()` periodically.
   */
  memoryRssPeakBytes: number;
  /** Processes killed by the kernel OOM killer inside this cgroup. */
  oomKills: number;
  /** Tasks now. */
  pidsCurrent: number;
  /** Highest task count (`pids.peak`, kernel ≥ 6.12 on v2 / where present); undefined otherwise. */
  pidsPeak: number | undefined;
  /** fork/clone calls refused because `pids.max` was reached (`pids.events` max). */
  pidsLimitHits: number;
  /** Block io totals across devices (v1 `blkio.throttle.io_service*_recursive`, v2 `io.stat`). */
  ioReadBytes: number;
  ioWriteBytes: number;
  ioReadOps: number;
  ioWriteOps: number;
  /** Pressure stall information (v2 only; undefined on v1). */
  pressure: { cpu: Pressure; memory: Pressure; io: Pressure | undefined } | undefined;
  /**
   * Load: the number of the cgroup's tasks running or in uninterruptible sleep (state R
   * or D in /proc/<tid>/stat) at sampling time, the per-container analogue of the load
   * average's instantaneous count.
   */
  load: number;
}

/** Event counters, cheap enough to read after every run. */
export interface CgroupEvents {
  /** OOM kills inside the cgroup (v1 `memory.oom_control` oom_kill, v2 `memory.events` oom_kill). */
  oomKills: number;
  /** fork/clone refused at `pids.max` (`pids.events` max). */
  pidsLimitHits: number;
}

/**
 * CPU use between two samples as a percentage: delta(usage) / (delta(wall) × CPUs) × 100.
 * With `cpus` the host's CPU count (the default) 100 means the whole machine; pass
 * `cpus = 1` for "percent of one CPU" (a busy single thread reads 100).
 */
export function cpuPercent(
  prev: CgroupStats,
  next: CgroupStats,
  cpus: number = hostCpuFacts(detectCgroupLayout()).cpus.length,
): number {
  const wallUs = (next.sampledAtMs - prev.sampledAtMs) * 1000;
  if (wallUs <= 0 || cpus <= 0) return 0;
  return ((next.cpuUsageUs - prev.cpuUsageUs) / (wallUs * cpus)) * 100;
}
