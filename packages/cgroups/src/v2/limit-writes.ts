import { CgroupError } from '../errors.js';
import {
  blkioWeightToIoWeight,
  type CgroupLimits,
  cpuQuotaUs,
  DEFAULT_CPU_PERIOD_US,
  sharesToWeight,
} from '../limits.js';

/** One write of a v2 limit: `value` into `<cgroup>/<file>`. */
export interface V2Write {
  file: string;
  value: string;
}

/** The optional v2 interface files whose presence changes what is written. */
export interface V2Features {
  /** `memory.swap.max` (swap accounting on). */
  swapMax: boolean;
  /** `io.weight` (iocost), `io.bfq.weight` (bfq), or none. */
  ioWeightFile: 'io.weight' | 'io.bfq.weight' | undefined;
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

/**
 * The v2 writes for `limits`. Pure. Scales: `cpuShares` → `cpu.weight` and `ioWeight`
 * (10–1000) → `io.weight` (1–10000) with the runc conversions; `io.bfq.weight` takes
 * the v1 scale unchanged (1–1000). Swap: `memory.swap.max` is swap alone.
 */
export function v2LimitWrites(limits: CgroupLimits, features: V2Features): V2Write[] {
  const w: V2Write[] = [];
  const add = (file: string, value: string | number) => w.push({ file, value: String(value) });

  if (limits.cpus !== undefined) {
    const period = limits.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US;
    add('cpu.max', `${cpuQuotaUs(limits.cpus, period)} ${period}`);
  }
  if (limits.cpuShares !== undefined) add('cpu.weight', sharesToWeight(limits.cpuShares));
  if (limits.cpusetCpus !== undefined) add('cpuset.cpus', limits.cpusetCpus);
  if (limits.cpusetMems !== undefined) add('cpuset.mems', limits.cpusetMems);
  if (limits.memoryBytes !== undefined) {
    const swap = limits.memorySwapBytes ?? 0;
    add('memory.max', limits.memoryBytes);
    if (features.swapMax) add('memory.swap.max', swap === Number.POSITIVE_INFINITY ? 'max' : swap);
    else if (swap !== 0 && swap !== Number.POSITIVE_INFINITY) {
      throw unsupported('memorySwapBytes', 'swap accounting (memory.swap.max)');
    }
  }
  if (limits.memoryReservationBytes !== undefined) add('memory.low', limits.memoryReservationBytes);
  if (limits.pidsMax !== undefined) add('pids.max', limits.pidsMax);
  if (limits.ioWeight !== undefined) {
    if (features.ioWeightFile === 'io.weight')
      add('io.weight', blkioWeightToIoWeight(limits.ioWeight));
    else if (features.ioWeightFile === 'io.bfq.weight') add('io.bfq.weight', limits.ioWeight);
    else throw unsupported('ioWeight', 'io weight file (needs iocost or the bfq io scheduler)');
  }
  for (const dev of limits.ioDeviceLimits ?? []) {
    const parts = [
      dev.readBps !== undefined ? `rbps=${dev.readBps}` : '',
      dev.writeBps !== undefined ? `wbps=${dev.writeBps}` : '',
      dev.readIops !== undefined ? `riops=${dev.readIops}` : '',
      dev.writeIops !== undefined ? `wiops=${dev.writeIops}` : '',
    ].filter(Boolean);
    add('io.max', `${dev.device} ${parts.join(' ')}`);
  }
  return w;
}
