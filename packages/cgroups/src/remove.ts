import { readdirSync } from 'node:fs';
import { readPids, tryRmdir } from './cgroup-fs.js';
import { CgroupError, errnoOf } from './errors.js';
import { sleep } from './wait.js';

/** How long destroy keeps retrying while the kernel still counts exiting members. */
export const DESTROY_TIMEOUT_MS = 2000;

function childDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `${dir}/${e.name}`);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Pids in `dir` and in every cgroup below it (a container may have made sub-cgroups). */
export function collectPids(dir: string): number[] {
  const pids = readPids(`${dir}/cgroup.procs`);
  for (const child of childDirs(dir)) pids.push(...collectPids(child));
  return pids;
}

/** SIGKILLs each pid; one that is already gone is not an error. */
export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if (errnoOf(err) !== 'ESRCH') throw err;
    }
  }
}

/** rmdir of `dir`, and on EBUSY of its child cgroups first (depth first), then again. */
export function removeTree(dir: string, stage: string): 'gone' | 'busy' {
  if (tryRmdir(dir, stage) === 'gone') return 'gone';
  let childBusy = false;
  for (const child of childDirs(dir)) if (removeTree(child, stage) === 'busy') childBusy = true;
  return childBusy ? 'busy' : tryRmdir(dir, stage);
}

/**
 * Removes `dirs` in order, the last one only once all others are gone (v1 keeps the
 * freezer until the end so remaining members can still be frozen and killed). While a
 * directory is busy, calls `kill` and retries with backoff for up to
 * {@link DESTROY_TIMEOUT_MS}; then throws `ERR_TSBOX_CGROUP_BUSY`, having removed
 * everything it could.
 */
export async function removeDirs(
  dirs: readonly string[],
  kill: () => Promise<void>,
  stage: string,
): Promise<void> {
  let remaining = [...dirs];
  const deadline = performance.now() + DESTROY_TIMEOUT_MS;
  let delay = 1;
  for (;;) {
    const busy: string[] = [];
    remaining.forEach((dir, i) => {
      const guard = i === remaining.length - 1 && busy.length > 0;
      if (guard || removeTree(dir, stage) === 'busy') busy.push(dir);
    });
    remaining = busy;
    if (remaining.length === 0) return;
    if (performance.now() >= deadline) {
      throw new CgroupError(
        'ERR_TSBOX_CGROUP_BUSY',
        stage,
        `cgroup ${remaining[0]} still has members after ${DESTROY_TIMEOUT_MS} ms of killing them`,
        { path: remaining[0], errno: 'EBUSY', syscall: 'rmdir' },
      );
    }
    await kill();
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}
