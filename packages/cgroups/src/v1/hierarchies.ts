import { existsSync, statfsSync, statSync } from 'node:fs';
import { mkdirIfMissing, readCgroupFile, writeCgroupFile } from '../cgroup-fs.js';
import { CgroupError } from '../errors.js';
import { CGROUP_SUPER_MAGIC } from '../layout.js';
import { CGROUP_PARENT } from '../manager.js';

/** The v1 controllers tsbox uses. `devices` is left to the init (it builds /dev itself). */
export const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'pids',
  'blkio',
  'freezer',
] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** The v1 hierarchies of a host, found once per process. */
export interface V1Hierarchies {
  /** Mount directory of each available controller (co-mounted ones share a directory). */
  readonly mountOf: ReadonlyMap<V1Controller, string>;
  /** Distinct hierarchy mount directories, freezer's last (it must be removed last). */
  readonly mounts: readonly string[];
  /** Whether `<controller mount>/tsbox/<file>` exists, answered once per file. */
  hasFile(controller: V1Controller, file: string): boolean;
}

const cache = new Map<string, V1Hierarchies>();

/**
 * Forgets what was found under `mountRoot`, so the next call prepares the `tsbox/`
 * parents again (after an empty parent was removed, e.g. by `removeEmptyParents`).
 */
export function forgetV1Hierarchies(mountRoot: string): void {
  cache.delete(mountRoot);
}

/**
 * Finds the v1 hierarchies under `mountRoot` and makes sure each has a `tsbox/` parent
 * ready for children (cpuset: CPUs and memory nodes set, `cgroup.clone_children` on).
 * Hierarchies are told apart by device number: co-mounted controllers (`cpu,cpuacct`)
 * reached through symlinks share one superblock and are one hierarchy.
 */
export function v1Hierarchies(mountRoot: string): V1Hierarchies {
  const cached = cache.get(mountRoot);
  if (cached) return cached;
  const mountOf = new Map<V1Controller, string>();
  const byDev = new Map<number, string>();
  for (const controller of V1_CONTROLLERS) {
    const dir = `${mountRoot}/${controller}`;
    let dev: number;
    try {
      if (Number(statfsSync(dir).type) !== CGROUP_SUPER_MAGIC) continue;
      dev = statSync(dir).dev;
    } catch {
      continue; // controller not mounted: limits needing it fail as unsupported
    }
    const first = byDev.get(dev);
    if (first === undefined) byDev.set(dev, dir);
    mountOf.set(controller, first ?? dir);
  }
  if (!mountOf.has('freezer')) {
    throw new CgroupError(
      'ERR_TSBOX_CGROUP_UNSUPPORTED',
      'cgroup.create',
      `no cgroup v1 freezer hierarchy under ${mountRoot}: tsbox needs it to kill a cgroup's tasks reliably`,
      { path: `${mountRoot}/freezer` },
    );
  }
  const freezer = mountOf.get('freezer') as string;
  const mounts = [...byDev.values()].filter((d) => d !== freezer).concat(freezer);
  for (const mount of mounts) prepareParent(mount, mountOf);
  const known = new Map<string, boolean>();
  const h: V1Hierarchies = {
    mountOf,
    mounts,
    hasFile(controller, file) {
      const key = `${controller}/${file}`;
      let found = known.get(key);
      if (found === undefined) {
        const mount = mountOf.get(controller);
        found = mount !== undefined && existsSync(`${mount}/${CGROUP_PARENT}/${file}`);
        known.set(key, found);
      }
      return found;
    },
  };
  cache.set(mountRoot, h);
  return h;
}

function prepareParent(mount: string, mountOf: ReadonlyMap<V1Controller, string>): void {
  const parent = `${mount}/${CGROUP_PARENT}`;
  mkdirIfMissing(parent, 'cgroup.create');
  if (mountOf.get('cpuset') !== mount) return;
  // A new v1 cpuset has no CPUs and refuses tasks (ENOSPC) until given some. Give the
  // parent the root's, and let every child copy them at mkdir (clone_children), which
  // saves two writes per container.
  if (readCgroupFile(`${parent}/cpuset.cpus`, 'cgroup.create').trim() === '') {
    const cpus = readCgroupFile(`${mount}/cpuset.effective_cpus`, 'cgroup.create').trim();
    const mems = readCgroupFile(`${mount}/cpuset.effective_mems`, 'cgroup.create').trim();
    writeCgroupFile(`${parent}/cpuset.cpus`, cpus, 'cgroup.create');
    writeCgroupFile(`${parent}/cpuset.mems`, mems, 'cgroup.create');
  }
  if (readCgroupFile(`${parent}/cgroup.clone_children`, 'cgroup.create').trim() !== '1') {
    writeCgroupFile(`${parent}/cgroup.clone_children`, '1', 'cgroup.create');
  }
}
