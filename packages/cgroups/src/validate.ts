import { CgroupError } from './errors.js';
import { blockDeviceExists, type HostCpuFacts, hostCpuFacts } from './host.js';
import { detectCgroupLayout } from './layout.js';
import {
  type CgroupLimits,
  cpuQuotaUs,
  DEFAULT_CPU_PERIOD_US,
  type IoDeviceLimit,
  parseDevice,
} from './limits.js';
import { parseIdList } from './parse.js';

const MIN_MEMORY_BYTES = 6 * 1024 * 1024; // Docker's floor: below it the init itself cannot start.
const MIN_QUOTA_US = 1000; // the kernel rejects a CFS quota under 1 ms.
const KNOWN_FIELDS = new Set<string>([
  'cpus',
  'cpuPeriodUs',
  'cpuShares',
  'cpusetCpus',
  'cpusetMems',
  'memoryBytes',
  'memoryReservationBytes',
  'memorySwapBytes',
  'pidsMax',
  'ioWeight',
  'ioDeviceLimits',
]);

function invalid(field: string, value: unknown, why: string): CgroupError {
  return new CgroupError(
    'ERR_TSBOX_INVALID_LIMIT',
    'cgroup.validate',
    `invalid ${field} ${JSON.stringify(value) ?? String(value)}: ${why}`,
    { field, value },
  );
}

function integerIn(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, value, `must be an integer from ${min} to ${max}`);
  }
}

function bytes(field: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(field, value, `must be a whole number of bytes, at least ${min}`);
  }
}

function idSubset(field: string, value: unknown, host: readonly number[], what: string): void {
  const ids = typeof value === 'string' ? parseIdList(value) : undefined;
  if (!ids || ids.length === 0)
    throw invalid(field, value, `must be a non-empty list like "0-1,3"`);
  const missing = ids.filter((id) => !host.includes(id));
  if (missing.length > 0) {
    throw invalid(
      field,
      value,
      `the host has no ${what} ${missing.join(',')} (it has ${host.join(',')})`,
    );
  }
}

function ioDevice(entry: IoDeviceLimit, index: number): void {
  const field = `ioDeviceLimits[${index}]`;
  const dev = typeof entry?.device === 'string' ? parseDevice(entry.device) : undefined;
  if (!dev) throw invalid(`${field}.device`, entry?.device, 'must be "major:minor"');
  const rates = ['readBps', 'writeBps', 'readIops', 'writeIops'] as const;
  if (!rates.some((r) => entry[r] !== undefined)) throw invalid(field, entry, 'sets no rate');
  for (const r of rates) {
    if (entry[r] !== undefined) integerIn(`${field}.${r}`, entry[r], 1, Number.MAX_SAFE_INTEGER);
  }
  if (!blockDeviceExists(dev.major, dev.minor)) {
    throw invalid(`${field}.device`, entry.device, 'no such block device on the host');
  }
}

/**
 * Checks every field of `limits` against its range and against the host (CPU count,
 * cpuset CPUs and memory nodes, block devices) and returns it unchanged. Call before
 * creating anything: `createCgroup` does. `host` defaults to this host's facts.
 * @throws CgroupError `ERR_TSBOX_INVALID_LIMIT` naming the first bad `field` and `value`.
 */
export function validateCgroupLimits(
  limits: CgroupLimits,
  host: HostCpuFacts = hostCpuFacts(detectCgroupLayout()),
): CgroupLimits {
  if (typeof limits !== 'object' || limits === null)
    throw invalid('limits', limits, 'must be an object');
  for (const key of Object.keys(limits)) {
    if (!KNOWN_FIELDS.has(key))
      throw invalid(key, (limits as Record<string, unknown>)[key], 'unknown limit');
  }
  const l = limits;
  const period = l.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US;
  if (l.cpuPeriodUs !== undefined) integerIn('cpuPeriodUs', l.cpuPeriodUs, 1000, 1_000_000);
  if (l.cpus !== undefined) {
    if (typeof l.cpus !== 'number' || !Number.isFinite(l.cpus) || l.cpus <= 0) {
      throw invalid('cpus', l.cpus, 'must be a positive fraction of CPUs, like 0.5');
    }
    if (l.cpus > host.cpus.length)
      throw invalid('cpus', l.cpus, `the host has ${host.cpus.length} CPUs`);
    if (cpuQuotaUs(l.cpus, period) < MIN_QUOTA_US) {
      throw invalid('cpus', l.cpus, `quota below ${MIN_QUOTA_US} µs per ${period} µs period`);
    }
  }
  if (l.cpuShares !== undefined) integerIn('cpuShares', l.cpuShares, 2, 262_144);
  if (l.cpusetCpus !== undefined) idSubset('cpusetCpus', l.cpusetCpus, host.cpus, 'CPU');
  if (l.cpusetMems !== undefined) idSubset('cpusetMems', l.cpusetMems, host.mems, 'memory node');
  if (l.memoryBytes !== undefined) bytes('memoryBytes', l.memoryBytes, MIN_MEMORY_BYTES);
  if (l.memoryReservationBytes !== undefined) {
    bytes('memoryReservationBytes', l.memoryReservationBytes, 0);
    if (l.memoryBytes !== undefined && l.memoryReservationBytes > l.memoryBytes) {
      throw invalid('memoryReservationBytes', l.memoryReservationBytes, 'exceeds memoryBytes');
    }
  }
  if (l.memorySwapBytes !== undefined) {
    if (l.memoryBytes === undefined)
      throw invalid('memorySwapBytes', l.memorySwapBytes, 'needs memoryBytes');
    if (l.memorySwapBytes !== Number.POSITIVE_INFINITY)
      bytes('memorySwapBytes', l.memorySwapBytes, 0);
  }
  if (l.pidsMax !== undefined) integerIn('pidsMax', l.pidsMax, 1, 4_194_304);
  if (l.ioWeight !== undefined) integerIn('ioWeight', l.ioWeight, 10, 1000);
  if (l.ioDeviceLimits !== undefined) {
    if (!Array.isArray(l.ioDeviceLimits))
      throw invalid('ioDeviceLimits', l.ioDeviceLimits, 'must be an array');
    l.ioDeviceLimits.forEach(ioDevice);
  }
  return limits;
}
