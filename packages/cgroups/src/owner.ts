import { readFileSync } from 'node:fs';
import { CgroupError } from './errors.js';

// A tsbox cgroup directory is named `<id>@<ownerPid>.<ownerStartTime>`, where the owner
// is the process responsible for removing it (by default the Node process that created
// it) and the start time is field 22 of /proc/<pid>/stat (clock ticks since boot).
// cgroupfs cannot hold extra files, so the name is the only place to record the owner
// that survives with the directory itself. The start time makes a recycled pid look
// dead, as it should: a leftover is a directory whose owner (pid + start time) no
// longer runs, and `sweepCgroups` removes exactly those.

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const NAME_PATTERN = /^(.+)@(\d+)\.(\d+)$/;

/** The process that owns a cgroup: its pid and its start time (so pid reuse is detected). */
export interface CgroupOwner {
  pid: number;
  startTime: number;
}

/** Throws `ERR_TSBOX_INVALID_NAME` unless `id` is 1–128 of `[A-Za-z0-9_.-]`, starting alphanumeric. */
export function assertCgroupId(id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new CgroupError(
      'ERR_TSBOX_INVALID_NAME',
      'cgroup.validate',
      `invalid cgroup id ${JSON.stringify(id)}: use 1-128 of [A-Za-z0-9_.-], starting with a letter or digit`,
      { field: 'id', value: id },
    );
  }
}

/** Start time of `pid` in clock ticks since boot, or undefined if it does not run. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = rest[19]; // field 22 is the 20th after the comm
  return start === undefined ? undefined : Number(start);
}

let self: CgroupOwner | undefined;

/** The owner record for `pid` (default: this process, cached). */
export function ownerOf(pid = process.pid): CgroupOwner {
  if (pid === process.pid && self) return self;
  const startTime = processStartTime(pid);
  if (startTime === undefined) {
    throw new CgroupError(
      'ERR_TSBOX_INVALID_OPTION',
      'cgroup.validate',
      `owner pid ${pid} does not run`,
      {
        field: 'ownerPid',
        value: pid,
      },
    );
  }
  const owner = { pid, startTime };
  if (pid === process.pid) self = owner;
  return owner;
}

/** The directory name of cgroup `id` owned by `owner`. */
export function cgroupDirName(id: string, owner: CgroupOwner): string {
  return `${id}@${owner.pid}.${owner.startTime}`;
}

/** Splits a directory name made by {@link cgroupDirName}; undefined for any other name. */
export function parseCgroupDirName(name: string): { id: string; owner: CgroupOwner } | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m || !ID_PATTERN.test(m[1] as string)) return undefined;
  return { id: m[1] as string, owner: { pid: Number(m[2]), startTime: Number(m[3]) } };
}

/** Whether the owner still runs: same pid and same start time. */
export function ownerAlive(owner: CgroupOwner): boolean {
  return processStartTime(owner.pid) === owner.startTime;
}
