import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { CgroupLayout } from './layout.js';
import { parseIdList } from './parse.js';

/** The CPUs and memory nodes a cgroup on this host may use. */
export interface HostCpuFacts {
  /** Effective CPUs of the hierarchy root (what a cpuset may name). */
  cpus: readonly number[];
  /** Effective memory nodes of the hierarchy root. */
  mems: readonly number[];
}

const cpuFacts = new Map<string, HostCpuFacts>();

function readIds(paths: string[]): number[] | undefined {
  for (const path of paths) {
    try {
      const ids = parseIdList(readFileSync(path, 'latin1'));
      if (ids && ids.length > 0) return ids;
    } catch {
      // try the next source
    }
  }
  return undefined;
}

/**
 * The host's effective CPUs and memory nodes, read once per process: from the cpuset
 * root of the hierarchy (which is what a nested/containerised host may really use),
 * else from sysfs, else `availableParallelism()` CPUs and node 0.
 */
export function hostCpuFacts(layout: CgroupLayout, mountRoot = '/sys/fs/cgroup'): HostCpuFacts {
  const key = `${layout}:${mountRoot}`;
  const cached = cpuFacts.get(key);
  if (cached) return cached;
  const v2 = layout === 'v2';
  const cpus =
    readIds([
      v2 ? `${mountRoot}/cpuset.cpus.effective` : `${mountRoot}/cpuset/cpuset.effective_cpus`,
      '/sys/devices/system/cpu/online',
    ]) ?? Array.from({ length: availableParallelism() }, (_, i) => i);
  const mems = readIds([
    v2 ? `${mountRoot}/cpuset.mems.effective` : `${mountRoot}/cpuset/cpuset.effective_mems`,
    '/sys/devices/system/node/online',
  ]) ?? [0];
  const facts = { cpus, mems };
  cpuFacts.set(key, facts);
  return facts;
}

/** Whether `major:minor` names a block device the kernel knows (what io throttles need). */
export function blockDeviceExists(major: number, minor: number): boolean {
  return existsSync(`/sys/dev/block/${major}:${minor}`);
}

/**
 * USER_HZ, the unit of v1 `cpuacct.stat`. It is 100 on every Linux architecture Node
 * supports (the kernel fixes it for the ABI, whatever CONFIG_HZ is).
 */
export const USER_HZ = 100;
