import { readCgroupFile, readOptionalCgroupFile, readPids } from '../cgroup-fs.js';
import { USER_HZ } from '../host.js';
import { countRunnable } from '../load.js';
import { parseFlatKeyed, sumBlkioOp } from '../parse.js';
import type { CgroupEvents, CgroupStats } from '../stats.js';
import type { V1Controller, V1Hierarchies } from './hierarchies.js';

const STAGE = 'cgroup.stats';
const num = (text: string | undefined) => (text === undefined ? undefined : Number(text));

/** Reads the v1 counters; `dirOf` maps a controller to this cgroup's directory in it. */
export function readV1Stats(
  h: V1Hierarchies,
  dirOf: (c: V1Controller) => string | undefined,
): Omit<CgroupStats, 'memoryRssPeakBytes'> {
  const sampledAtMs = performance.now();
  const cpuacct = dirOf('cpuacct');
  const cpu = dirOf('cpu');
  const memory = dirOf('memory');
  const pids = dirOf('pids');
  const blkio = dirOf('blkio');

  let cpuUsageUs = 0;
  let cpuUserMs = 0;
  let cpuSystemMs = 0;
  if (cpuacct) {
    cpuUsageUs = Number(readCgroupFile(`${cpuacct}/cpuacct.usage`, STAGE)) / 1000;
    if (h.hasFile('cpuacct', 'cpuacct.usage_user')) {
      cpuUserMs = Number(readCgroupFile(`${cpuacct}/cpuacct.usage_user`, STAGE)) / 1e6;
      cpuSystemMs = Number(readCgroupFile(`${cpuacct}/cpuacct.usage_sys`, STAGE)) / 1e6;
    } else {
      const ticks = parseFlatKeyed(readCgroupFile(`${cpuacct}/cpuacct.stat`, STAGE));
      cpuUserMs = ((ticks.get('user') ?? 0) * 1000) / USER_HZ;
      cpuSystemMs = ((ticks.get('system') ?? 0) * 1000) / USER_HZ;
    }
  }
  const cpuStat = cpu
    ? parseFlatKeyed(readCgroupFile(`${cpu}/cpu.stat`, STAGE))
    : new Map<string, number>();

  const mem = memory
    ? parseFlatKeyed(readCgroupFile(`${memory}/memory.stat`, STAGE))
    : new Map<string, number>();
  const oom = memory
    ? parseFlatKeyed(readCgroupFile(`${memory}/memory.oom_control`, STAGE))
    : undefined;
  const memoryPeakBytes = memory
    ? Number(readCgroupFile(`${memory}/memory.max_usage_in_bytes`, STAGE))
    : undefined;

  const pidsEvents = pids
    ? parseFlatKeyed(readOptionalCgroupFile(`${pids}/pids.events`) ?? '')
    : undefined;
  const ioBytes = blkio
    ? readOptionalCgroupFile(`${blkio}/blkio.throttle.io_service_bytes_recursive`)
    : undefined;
  const ioOps = blkio
    ? readOptionalCgroupFile(`${blkio}/blkio.throttle.io_serviced_recursive`)
    : undefined;

  // Threads, not processes: load counts schedulable tasks. Any hierarchy lists them all.
  const tasksDir = cpu ?? memory ?? pids ?? (dirOf('freezer') as string);

  return {
    sampledAtMs,
    cpuUsageUs,
    cpuUserMs,
    cpuSystemMs,
    cpuThrottledMs: (cpuStat.get('throttled_time') ?? 0) / 1e6,
    cpuPeriods: cpuStat.get('nr_periods') ?? 0,
    cpuThrottledPeriods: cpuStat.get('nr_throttled') ?? 0,
    memoryRssBytes: mem.get('total_rss') ?? 0,
    memoryCacheBytes: mem.get('total_cache') ?? 0,
    memorySwapBytes: mem.get('total_swap'),
    memoryPeakBytes,
    oomKills: oom?.get('oom_kill') ?? 0,
    pidsCurrent: pids ? Number(readCgroupFile(`${pids}/pids.current`, STAGE)) : 0,
    pidsPeak:
      pids && h.hasFile('pids', 'pids.peak')
        ? num(readCgroupFile(`${pids}/pids.peak`, STAGE))
        : undefined,
    pidsLimitHits: pidsEvents?.get('max') ?? 0,
    ioReadBytes: ioBytes ? sumBlkioOp(ioBytes, 'Read') : 0,
    ioWriteBytes: ioBytes ? sumBlkioOp(ioBytes, 'Write') : 0,
    ioReadOps: ioOps ? sumBlkioOp(ioOps, 'Read') : 0,
    ioWriteOps: ioOps ? sumBlkioOp(ioOps, 'Write') : 0,
    pressure: undefined,
    load: countRunnable(readPids(`${tasksDir}/tasks`)),
  };
}

/** Reads only the OOM-kill and pids-limit counters. */
export function readV1Events(dirOf: (c: V1Controller) => string | undefined): CgroupEvents {
  const memory = dirOf('memory');
  const pids = dirOf('pids');
  const oom = memory
    ? parseFlatKeyed(readCgroupFile(`${memory}/memory.oom_control`, 'cgroup.events'))
    : undefined;
  const pidsEvents = pids
    ? parseFlatKeyed(readOptionalCgroupFile(`${pids}/pids.events`) ?? '')
    : undefined;
  return { oomKills: oom?.get('oom_kill') ?? 0, pidsLimitHits: pidsEvents?.get('max') ?? 0 };
}
