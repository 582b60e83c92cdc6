import { existsSync } from 'node:fs';
import { mkdirIfMissing, readCgroupFile, writeCgroupFile } from '../cgroup-fs.js';
import { CGROUP_PARENT } from '../manager.js';

/** The v2 controllers tsbox enables for its cgroups (those the kernel offers). */
export const V2_CONTROLLERS = ['cpu', 'cpuset', 'io', 'memory', 'pids'] as const;

/** The `tsbox/` parent of a v2 host, prepared once per process. */
export interface V2Parent {
  readonly dir: string;
  /** Controllers enabled for tsbox cgroups. */
  readonly controllers: ReadonlySet<string>;
  /** Whether `tsbox/<child>/<file>` interfaces exist, probed once per file on the parent (same set). */
  hasFile(file: string): boolean;
}

const cache = new Map<string, V2Parent>();

/** Forgets the prepared parent, so the next call makes and enables it again. */
export function forgetV2Parent(mountRoot: string): void {
  cache.delete(mountRoot);
}

function enable(dir: string, wanted: readonly string[]): void {
  const offered = new Set(
    readCgroupFile(`${dir}/cgroup.controllers`, 'cgroup.create').trim().split(' '),
  );
  const enabled = new Set(
    readCgroupFile(`${dir}/cgroup.subtree_control`, 'cgroup.create').trim().split(' '),
  );
  const missing = wanted.filter((c) => offered.has(c) && !enabled.has(c));
  if (missing.length > 0) {
    writeCgroupFile(
      `${dir}/cgroup.subtree_control`,
      missing.map((c) => `+${c}`).join(' '),
      'cgroup.create',
    );
  }
}

/**
 * Makes `<mountRoot>/tsbox` with the controllers tsbox uses enabled for its children:
 * in the root's `cgroup.subtree_control` (which a systemd host usually has already) and
 * in the parent's. The parent itself holds no processes, as v2's "no internal
 * processes" rule requires of a cgroup that distributes controllers.
 */
export function v2Parent(mountRoot: string): V2Parent {
  const cached = cache.get(mountRoot);
  if (cached) return cached;
  const dir = `${mountRoot}/${CGROUP_PARENT}`;
  enable(mountRoot, V2_CONTROLLERS);
  mkdirIfMissing(dir, 'cgroup.create');
  enable(dir, V2_CONTROLLERS);
  const controllers = new Set(
    readCgroupFile(`${dir}/cgroup.subtree_control`, 'cgroup.create').trim().split(' '),
  );
  const known = new Map<string, boolean>();
  // Interface files of a controller appear in a cgroup when its *parent* enables it, so
  // the parent (enabled by the root) shows the same files a child will.
  const parent: V2Parent = {
    dir,
    controllers,
    hasFile(file) {
      let found = known.get(file);
      if (found === undefined) {
        found = existsSync(`${dir}/${file}`);
        known.set(file, found);
      }
      return found;
    },
  };
  cache.set(mountRoot, parent);
  return parent;
}
