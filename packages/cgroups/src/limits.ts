/**
 * Per-device block io throttle. Rates are per second; an omitted rate is unlimited.
 */
export interface IoDeviceLimit {
  /** The block device as `"major:minor"` (see `/proc/partitions`, `lsblk`), e.g. `"254:0"`. */
  device: string;
  readBps?: number;
  writeBps?: number;
  readIops?: number;
  writeIops?: number;
}

/**
 * Resource limits of one cgroup, in base units already parsed at the API edge (bytes,
 * fractions of CPUs, microseconds). Every field is optional; an omitted field leaves the
 * kernel default (unlimited), except swap, which defaults to none once `memoryBytes`
 * is set, because swap silently defeats a memory limit.
 *
 * Scales follow cgroup v1 / Docker (`cpuShares` 2–262144, `ioWeight` 10–1000); the v2
 * driver converts them (see {@link sharesToWeight}, {@link blkioWeightToIoWeight}).
 */
export interface CgroupLimits {
  /**
   * CPU bandwidth as a fraction of CPUs: `0.2` is 20 % of one CPU, `1.5` one and a half.
   * v1: `cpu.cfs_quota_us` = cpus × period, `cpu.cfs_period_us`; v2: `cpu.max` "quota period".
   */
  cpus?: number;
  /** CFS period in microseconds, 1000–1000000; default 100000. */
  cpuPeriodUs?: number;
  /** Relative CPU weight on the v1 scale, 2–262144 (default 1024). v2: `cpu.weight`. */
  cpuShares?: number;
  /** CPUs the cgroup may run on, a list like `"0"`, `"0-1,3"`; must be a subset of the host's. */
  cpusetCpus?: string;
  /** Memory nodes the cgroup may allocate from, same list syntax; subset of the host's. */
  cpusetMems?: string;
  /** Hard memory limit in bytes (≥ 6 MiB). v1 `memory.limit_in_bytes`, v2 `memory.max`. */
  memoryBytes?: number;
  /**
   * Soft limit / protection in bytes (≤ `memoryBytes`). v1 `memory.soft_limit_in_bytes`
   * (reclaimed down to this under host pressure), v2 `memory.low` (protected from reclaim).
   */
  memoryReservationBytes?: number;
  /**
   * Swap allowed *in addition to* `memoryBytes`, in bytes; `Infinity` for unlimited.
   * Default with a memory limit: 0. v1: `memory.memsw.limit_in_bytes` = memory + swap
   * (where swap accounting exists) and `memory.swappiness` 0 when swap is 0;
   * v2: `memory.swap.max`. Requires `memoryBytes`.
   */
  memorySwapBytes?: number;
  /** Maximum number of tasks (processes and threads), ≥ 1. `pids.max`. */
  pidsMax?: number;
  /** Relative io weight on the v1 scale, 10–1000. v1 `blkio.weight`/`blkio.bfq.weight`, v2 `io.weight`/`io.bfq.weight`. */
  ioWeight?: number;
  /** Per-device bandwidth/iops throttles. v1 `blkio.throttle.*_device`, v2 `io.max`. */
  ioDeviceLimits?: IoDeviceLimit[];
}

/** The CFS period tsbox uses when none is given (the kernel's default). */
export const DEFAULT_CPU_PERIOD_US = 100_000;

/**
 * Converts v1 `cpu.shares` (2–262144) to v2 `cpu.weight` (1–10000) with the conversion
 * runc, crun and systemd use: `1 + ((shares - 2) * 9999) / 262142`, rounded down.
 */
export function sharesToWeight(shares: number): number {
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

/** Converts v1 `blkio.weight` (10–1000) to v2 `io.weight` (1–10000), as runc does. */
export function blkioWeightToIoWeight(weight: number): number {
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/** CFS quota in microseconds for a fraction of CPUs over `periodUs`. */
export function cpuQuotaUs(cpus: number, periodUs = DEFAULT_CPU_PERIOD_US): number {
  return Math.round(cpus * periodUs);
}

/** Parses `"major:minor"`; undefined when malformed. */
export function parseDevice(device: string): { major: number; minor: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(device);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}
