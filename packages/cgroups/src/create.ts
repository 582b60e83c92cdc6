import { hostCpuFacts } from './host.js';
import { detectCgroupLayout } from './layout.js';
import type { CgroupLimits } from './limits.js';
import type { CgroupManager, CgroupOptions } from './manager.js';
import { assertCgroupId, cgroupDirName, ownerOf } from './owner.js';
import { CgroupV1Manager } from './v1/driver.js';
import { CgroupV2Manager } from './v2/driver.js';
import { validateCgroupLimits } from './validate.js';

const DEFAULT_MOUNT_ROOT = '/sys/fs/cgroup';

/**
 * A manager for the existing (or to-be-created) cgroup directory `name` under `tsbox/`
 * (as found in {@link CgroupManager.name}), with the driver the host's layout needs.
 * Creates nothing but the shared `tsbox/` parent. For reattaching (`tsbox gc`, `exec`).
 */
export function openCgroup(
  name: string,
  opts: Pick<CgroupOptions, 'layout' | 'mountRoot'> = {},
): CgroupManager {
  const mountRoot = opts.mountRoot ?? DEFAULT_MOUNT_ROOT;
  const layout = opts.layout ?? detectCgroupLayout(mountRoot);
  const id = name.includes('@') ? name.slice(0, name.lastIndexOf('@')) : name;
  return layout === 'v2'
    ? new CgroupV2Manager(id, name, mountRoot)
    : new CgroupV1Manager(id, name, mountRoot);
}

/**
 * Validates `limits`, then creates the cgroup for container `id` and applies them,
 * picking the v1 driver on v1 and hybrid hosts and the v2 driver on v2 hosts. Nothing is
 * created when validation fails; if applying fails the cgroup is destroyed again.
 *
 * @param id container id: 1–128 of `[A-Za-z0-9_.-]`; the directory is
 *   `tsbox/<id>@<ownerPid>.<ownerStartTime>` (see {@link sweepCgroups}).
 * @throws CgroupError `ERR_TSBOX_INVALID_NAME`, `ERR_TSBOX_INVALID_LIMIT` (before
 *   anything is created), `ERR_TSBOX_CGROUP_EXISTS`, `ERR_TSBOX_CGROUP_UNSUPPORTED`,
 *   `ERR_TSBOX_CGROUP`.
 */
export async function createCgroup(
  id: string,
  limits: CgroupLimits = {},
  opts: CgroupOptions = {},
): Promise<CgroupManager> {
  assertCgroupId(id);
  const mountRoot = opts.mountRoot ?? DEFAULT_MOUNT_ROOT;
  const layout = opts.layout ?? detectCgroupLayout(mountRoot);
  validateCgroupLimits(limits, hostCpuFacts(layout, mountRoot));
  const cg = openCgroup(cgroupDirName(id, ownerOf(opts.ownerPid)), { layout, mountRoot });
  await cg.create();
  try {
    await cg.apply(limits);
  } catch (err) {
    await cg.destroy().catch(() => undefined); // the apply error is the one to report
    throw err;
  }
  return cg;
}
