import { readCgroupFile, readOptionalCgroupFile, readPids } from '../cgroup-fs.js';
import { countRunnable } from '../load.js';
import { parseFlatKeyed, parsePressure, sumNestedKeyed } from '../parse.js';
import type { CgroupEvents, CgroupStats } from '../stats.js';
import type { V2Parent } from './parent.js';

const STAGE = 'cgroup.stats';

/** Reads the v2 counters of the cgroup at `dir`. */
export function readV2Stats(p: V2Parent, dir: string): Omit<CgroupStats, 'memoryRssPeakBytes'> {
  const sampledAtMs = performance.now();
  const cpu = parseFlatKeyed(readCgroupFile(`${dir}/cpu.stat`, STAGE));
  const hasMemory = p.controllers.has('memory');
  const mem = hasMemory
    ? parseFlatKeyed(readCgroupFile(`${dir}/memory.stat`, STAGE))
    : new Map<string, number>();
  const memEvents = hasMemory
    ? parseFlatKeyed(readCgroupFile(`${dir}/memory.events`, STAGE))
    : undefined;
  const hasPids = p.controllers.has('pids');
  const pidsEvents = hasPids
    ? parseFlatKeyed(readCgroupFile(`${dir}/pids.events`, STAGE))
    : undefined;
  const io = p.controllers.has('io') ? readOptionalCgroupFile(`${dir}/io.stat`) : undefined;
  const num = (file: string) =>
    p.hasFile(file) ? Number(readCgroupFile(`${dir}/${file}`, STAGE)) : undefined;
  const pressure = (file: string) => {
    const text = p.hasFile(file) ? readOptionalCgroupFile(`${dir}/${file}`) : undefined;
    return text === undefined ? undefined : parsePressure(text);
  };
  const cpuPressure = pressure('cpu.pressure');
  const memoryPressure = pressure('memory.pressure');

  return {
    sampledAtMs,
    cpuUsageUs: cpu.get('usage_usec') ?? 0,
    cpuUserMs: (cpu.get('user_usec') ?? 0) / 1000,
    cpuSystemMs: (cpu.get('system_usec') ?? 0) / 1000,
    cpuThrottledMs: (cpu.get('throttled_usec') ?? 0) / 1000,
    cpuPeriods: cpu.get('nr_periods') ?? 0,
    cpuThrottledPeriods: cpu.get('nr_throttled') ?? 0,
    memoryRssBytes: mem.get('anon') ?? 0,
    memoryCacheBytes: mem.get('file') ?? 0,
    memorySwapBytes: num('memory.swap.current'),
    memoryPeakBytes: num('memory.peak'),
    oomKills: memEvents?.get('oom_kill') ?? 0,
    pidsCurrent: hasPids ? Number(readCgroupFile(`${dir}/pids.current`, STAGE)) : 0,
    pidsPeak: num('pids.peak'),
    pidsLimitHits: pidsEvents?.get('max') ?? 0,
    ioReadBytes: io ? sumNestedKeyed(io, 'rbytes') : 0,
    ioWriteBytes: io ? sumNestedKeyed(io, 'wbytes') : 0,
    ioReadOps: io ? sumNestedKeyed(io, 'rios') : 0,
    ioWriteOps: io ? sumNestedKeyed(io, 'wios') : 0,
    pressure:
      cpuPressure && memoryPressure
        ? { cpu: cpuPressure, memory: memoryPressure, io: pressure('io.pressure') }
        : undefined,
    load: countRunnable(readPids(`${dir}/cgroup.threads`)),
  };
}

/** Reads only the OOM-kill and pids-limit counters. */
export function readV2Events(p: V2Parent, dir: string): CgroupEvents {
  const mem = p.controllers.has('memory')
    ? parseFlatKeyed(readCgroupFile(`${dir}/memory.events`, 'cgroup.events'))
    : undefined;
  const pids = p.controllers.has('pids')
    ? parseFlatKeyed(readCgroupFile(`${dir}/pids.events`, 'cgroup.events'))
    : undefined;
  return { oomKills: mem?.get('oom_kill') ?? 0, pidsLimitHits: pids?.get('max') ?? 0 };
}
