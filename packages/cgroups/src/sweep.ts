import { readdirSync, rmdirSync } from 'node:fs';
import { openCgroup } from './create.js';
import { errnoOf } from './errors.js';
import { detectCgroupLayout } from './layout.js';
import { CGROUP_PARENT, type CgroupOptions } from './manager.js';
import { ownerAlive, parseCgroupDirName } from './owner.js';
import { forgetV1Hierarchies, v1Hierarchies } from './v1/hierarchies.js';
import { forgetV2Parent } from './v2/parent.js';

/** What {@link sweepCgroups} did. Names are directory names under `tsbox/`. */
export interface SweepResult {
  /** Leftovers removed (their members killed first). */
  removed: string[];
  /** Cgroups whose owner still runs, left alone. */
  kept: string[];
  /** Leftovers that could not be removed, with the error. */
  failed: Array<{ name: string; error: unknown }>;
}

function childNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Finds and removes cgroups left behind by crashed owners. Every tsbox cgroup is named
 * `<id>@<ownerPid>.<ownerStartTime>` under `tsbox/` in each hierarchy; a leftover is one
 * whose owner no longer runs (no such pid, or the pid was reused: different start time).
 * A leftover's remaining members are killed, then its directories removed in every
 * hierarchy (on v1 a crash mid-create may have left only some). Directories with other
 * names are not tsbox's and are never touched. Safe to run concurrently with live
 * containers: their owners run.
 */
export async function sweepCgroups(
  opts: Pick<CgroupOptions, 'layout' | 'mountRoot'> = {},
): Promise<SweepResult> {
  const mountRoot = opts.mountRoot ?? '/sys/fs/cgroup';
  const layout = opts.layout ?? detectCgroupLayout(mountRoot);
  const parents =
    layout === 'v2'
      ? [`${mountRoot}/${CGROUP_PARENT}`]
      : v1Hierarchies(mountRoot).mounts.map((m) => `${m}/${CGROUP_PARENT}`);
  const names = new Set(parents.flatMap(childNames));
  const result: SweepResult = { removed: [], kept: [], failed: [] };
  for (const name of [...names].sort()) {
    const parsed = parseCgroupDirName(name);
    if (!parsed) continue;
    if (ownerAlive(parsed.owner)) {
      result.kept.push(name);
      continue;
    }
    try {
      await openCgroup(name, { layout, mountRoot }).destroy();
      result.removed.push(name);
    } catch (error) {
      result.failed.push({ name, error });
    }
  }
  return result;
}

/**
 * Removes the shared `tsbox/` parent in each hierarchy when it holds no cgroup, so a
 * host that no longer runs containers keeps nothing of tsbox's. Safe while other
 * processes use tsbox: a parent with children is left (rmdir refuses it), and a
 * process that prepared a parent removed since makes it again on its next create.
 * Returns the parents removed.
 */
export function removeEmptyParents(
  opts: Pick<CgroupOptions, 'layout' | 'mountRoot'> = {},
): string[] {
  const mountRoot = opts.mountRoot ?? '/sys/fs/cgroup';
  const layout = opts.layout ?? detectCgroupLayout(mountRoot);
  const parents =
    layout === 'v2'
      ? [`${mountRoot}/${CGROUP_PARENT}`]
      : v1Hierarchies(mountRoot).mounts.map((m) => `${m}/${CGROUP_PARENT}`);
  const removed: string[] = [];
  for (const parent of parents) {
    try {
      rmdirSync(parent);
      removed.push(parent);
    } catch {
      // busy (children: in use) or already gone
    }
  }
  if (layout === 'v2') forgetV2Parent(mountRoot);
  else forgetV1Hierarchies(mountRoot);
  return removed;
}
