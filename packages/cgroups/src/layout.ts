import { statfsSync } from 'node:fs';
import { CgroupError, errnoOf } from './errors.js';

/**
 * How the host mounts cgroups:
 * - `'v2'`: `/sys/fs/cgroup` is a cgroup2 mount (unified hierarchy only).
 * - `'v1'`: `/sys/fs/cgroup` is a tmpfs holding one cgroup v1 mount per controller.
 * - `'hybrid'`: v1 controllers plus a cgroup2 mount at `/sys/fs/cgroup/unified` that
 *   has no controllers of use (systemd's hybrid mode). Treated as v1 for controllers.
 */
export type CgroupLayout = 'v1' | 'v2' | 'hybrid';

/** `statfs` f_type of a cgroup2 mount (linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** `statfs` f_type of a cgroup v1 mount (linux/magic.h). */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;

/**
 * Classifies the layout from the filesystem magic of `/sys/fs/cgroup` and of
 * `/sys/fs/cgroup/unified` (undefined when that path does not exist). Pure.
 */
export function classifyCgroupLayout(rootMagic: number, unifiedMagic?: number): CgroupLayout {
  if (rootMagic === CGROUP2_SUPER_MAGIC) return 'v2';
  if (unifiedMagic === CGROUP2_SUPER_MAGIC) return 'hybrid';
  return 'v1';
}

const detected = new Map<string, CgroupLayout>();

/**
 * Detects the host's cgroup layout with two `statfs` calls, once per process per
 * mount root (the answer cannot change while the process runs).
 * @throws CgroupError `ERR_TSBOX_CGROUP_UNSUPPORTED` when `mountRoot` does not exist.
 */
export function detectCgroupLayout(mountRoot = '/sys/fs/cgroup'): CgroupLayout {
  const cached = detected.get(mountRoot);
  if (cached) return cached;
  let rootMagic: number;
  try {
    rootMagic = Number(statfsSync(mountRoot).type);
  } catch (err) {
    throw new CgroupError(
      'ERR_TSBOX_CGROUP_UNSUPPORTED',
      'cgroup.detect',
      `no cgroup filesystem at ${mountRoot}`,
      {
        path: mountRoot,
        errno: errnoOf(err),
        syscall: 'statfs',
        cause: err,
      },
    );
  }
  let unifiedMagic: number | undefined;
  if (rootMagic !== CGROUP2_SUPER_MAGIC) {
    try {
      unifiedMagic = Number(statfsSync(`${mountRoot}/unified`).type);
    } catch {
      unifiedMagic = undefined;
    }
  }
  const layout = classifyCgroupLayout(rootMagic, unifiedMagic);
  detected.set(mountRoot, layout);
  return layout;
}
