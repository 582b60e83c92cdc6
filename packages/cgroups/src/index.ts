/**
 * `@tsbox/cgroups`: cgroup v1 and v2 drivers behind one {@link CgroupManager} interface —
 * limits, stats, OOM and pids events, freeze/thaw, kill-all, removal, and a sweep of
 * leftovers. Policy-free and usable on its own:
 *
 * ```ts
 * import { createCgroup } from '@tsbox/cgroups';
 * await using cg = await createCgroup('job-1', { cpus: 0.5, memoryBytes: 256 * 2 ** 20, pidsMax: 64 });
 * // have the workload write "0" into every path of cg.procsPaths() before it execs
 * ```
 * @packageDocumentation
 */
export { createCgroup, openCgroup } from './create.js';
export { CgroupError, type CgroupErrorCode, type CgroupErrorContext } from './errors.js';
export { type HostCpuFacts, hostCpuFacts, USER_HZ } from './host.js';
export {
  CGROUP_SUPER_MAGIC,
  CGROUP2_SUPER_MAGIC,
  type CgroupLayout,
  classifyCgroupLayout,
  detectCgroupLayout,
} from './layout.js';
export {
  blkioWeightToIoWeight,
  type CgroupLimits,
  cpuQuotaUs,
  DEFAULT_CPU_PERIOD_US,
  type IoDeviceLimit,
  sharesToWeight,
} from './limits.js';
export { CGROUP_PARENT, type CgroupManager, type CgroupOptions } from './manager.js';
export { type CgroupOwner, cgroupDirName, ownerAlive, parseCgroupDirName } from './owner.js';
export type { Pressure, PressureLine } from './parse.js';
export { type CgroupEvents, type CgroupStats, cpuPercent } from './stats.js';
export { removeEmptyParents, type SweepResult, sweepCgroups } from './sweep.js';
export { CgroupV1Manager } from './v1/driver.js';
export { type V1Features, type V1Write, v1LimitWrites } from './v1/limit-writes.js';
export { CgroupV2Manager } from './v2/driver.js';
export { type V2Features, type V2Write, v2LimitWrites } from './v2/limit-writes.js';
export { validateCgroupLimits } from './validate.js';
