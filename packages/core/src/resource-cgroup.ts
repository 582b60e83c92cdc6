import { type CgroupLimits, type CgroupManager, createCgroup } from '@tsbox/cgroups';
import type { ContainerResource, ResourceContext } from './resources.js';

/** How often a running container's memory is sampled: the kernel keeps no RSS peak. */
const RSS_SAMPLE_MS = 100;

export function hasLimits(limits: CgroupLimits): boolean {
  return Object.keys(limits).length > 0;
}

/**
 * The container's cgroup: created with its limits before tsbox-init is spawned,
 * joined by the keeper before it clones (so the workload is limited from its first
 * instruction), read for stats and OOM kills when the container is gone, destroyed
 * on every path. Only made when the spec sets a limit.
 */
export async function cgroupResource({
  id,
  spec,
}: ResourceContext): Promise<ContainerResource | undefined> {
  if (!hasLimits(spec.limits)) return undefined;
  const cg: CgroupManager = await createCgroup(id, spec.limits);
  let sampler: NodeJS.Timeout | undefined;
  return {
    cgroupProcs: cg.procsPaths(),
    cgroup: cg,
    afterClone() {
      sampler = setInterval(() => {
        try {
          cg.stats();
        } catch {
          // the cgroup is being torn down
        }
      }, RSS_SAMPLE_MS);
      sampler.unref();
    },
    finish(result) {
      clearInterval(sampler);
      const stats = cg.stats();
      result.stats = stats;
      // Read from the kernel's counter for this cgroup, never guessed from exit code 137.
      result.oomKilled = stats.oomKills > 0;
    },
    async release() {
      clearInterval(sampler);
      await cg.destroy();
    },
  };
}
