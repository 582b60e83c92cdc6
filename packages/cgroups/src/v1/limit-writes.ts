import { CgroupError } from '../errors.js';
import {
  type CgroupLimits,
  cpuQuotaUs,
  DEFAULT_CPU_PERIOD_US,
  type IoDeviceLimit,
} from '../limits.js';
import type { V1Controller } from './hierarchies.js';

/** One write of a v1 limit: `value` into `<controller hierarchy>/<cgroup>/<file>`. */
export interface V1Write {
  controller: V1Controller;
  file: string;
  value: string;
}

/** The optional v1 interface files whose presence changes what is written. */
export interface V1Features {
  /** `memory.memsw.limit_in_bytes` (swap accounting on). */
  memsw: boolean;
  /** The weight file: `blkio.weight` (cfq, old kernels), `blkio.bfq.weight` (bfq), or none. */
  blkioWeightFile: 'blkio.weight' | 'blkio.bfq.weight' | undefined;
}

function unsupported(field: string, what: string): CgroupError {
  return new CgroupError(
    'ERR_TSBOX_CGROUP_UNSUPPORTED',
    'cgroup.apply',
    `${field}: this host has no ${what}`,
    {
      field,
    },
  );
}

const THROTTLE_FILES: ReadonlyArray<[keyof IoDeviceLimit, string]> = [
  ['readBps', 'blkio.throttle.read_bps_device'],
  ['writeBps', 'blkio.throttle.write_bps_device'],
  ['readIops', 'blkio.throttle.read_iops_device'],
  ['writeIops', 'blkio.throttle.write_iops_device'],
];

/**
 * The v1 writes for `limits`, in the order they must happen. Pure (tested without a
 * kernel). Swap: `memory.memsw.limit_in_bytes` counts memory + swap, so "no swap" is
 * memsw = limit, written after the limit (memsw may never be below it); where swap
 * accounting is off, `memory.swappiness` 0 keeps the cgroup from swapping instead.
 */
export function v1LimitWrites(limits: CgroupLimits, features: V1Features): V1Write[] {
  const w: V1Write[] = [];
  const add = (controller: V1Controller, file: string, value: string | number) =>
    w.push({ controller, file, value: String(value) });

  if (limits.cpus !== undefined) {
    const period = limits.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US;
    if (period !== DEFAULT_CPU_PERIOD_US) add('cpu', 'cpu.cfs_period_us', period);
    add('cpu', 'cpu.cfs_quota_us', cpuQuotaUs(limits.cpus, period));
  }
  if (limits.cpuShares !== undefined) add('cpu', 'cpu.shares', limits.cpuShares);
  if (limits.cpusetCpus !== undefined) add('cpuset', 'cpuset.cpus', limits.cpusetCpus);
  if (limits.cpusetMems !== undefined) add('cpuset', 'cpuset.mems', limits.cpusetMems);
  if (limits.memoryBytes !== undefined) {
    const swap = limits.memorySwapBytes ?? 0;
    add('memory', 'memory.limit_in_bytes', limits.memoryBytes);
    if (features.memsw) {
      add(
        'memory',
        'memory.memsw.limit_in_bytes',
        swap === Number.POSITIVE_INFINITY ? -1 : limits.memoryBytes + swap,
      );
    } else if (swap !== 0 && swap !== Number.POSITIVE_INFINITY) {
      throw unsupported(
        'memorySwapBytes',
        'swap accounting (memory.memsw.*): boot with swapaccount=1',
      );
    }
    if (swap === 0) add('memory', 'memory.swappiness', 0);
  }
  if (limits.memoryReservationBytes !== undefined) {
    add('memory', 'memory.soft_limit_in_bytes', limits.memoryReservationBytes);
  }
  if (limits.pidsMax !== undefined) add('pids', 'pids.max', limits.pidsMax);
  if (limits.ioWeight !== undefined) {
    if (!features.blkioWeightFile)
      throw unsupported('ioWeight', 'blkio weight file (needs the bfq io scheduler)');
    add('blkio', features.blkioWeightFile, limits.ioWeight);
  }
  for (const dev of limits.ioDeviceLimits ?? []) {
    for (const [key, file] of THROTTLE_FILES) {
      if (dev[key] !== undefined) add('blkio', file, `${dev.device} ${dev[key]}`);
    }
  }
  return w;
}
