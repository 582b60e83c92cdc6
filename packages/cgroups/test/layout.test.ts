import { existsSync, statfsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CGROUP_SUPER_MAGIC,
  CGROUP2_SUPER_MAGIC,
  classifyCgroupLayout,
  detectCgroupLayout,
} from '../src/index.js';

const TMPFS_MAGIC = 0x01021994;

describe('cgroup layout detection', () => {
  it('classifies statfs magic numbers', () => {
    expect(classifyCgroupLayout(CGROUP2_SUPER_MAGIC)).toBe('v2');
    expect(classifyCgroupLayout(TMPFS_MAGIC, CGROUP2_SUPER_MAGIC)).toBe('hybrid');
    expect(classifyCgroupLayout(TMPFS_MAGIC, undefined)).toBe('v1');
    expect(classifyCgroupLayout(TMPFS_MAGIC, CGROUP_SUPER_MAGIC)).toBe('v1');
  });

  it('detects this host as the mounts say', () => {
    const rootIsV2 = Number(statfsSync('/sys/fs/cgroup').type) === CGROUP2_SUPER_MAGIC;
    const unifiedIsV2 =
      existsSync('/sys/fs/cgroup/unified') &&
      Number(statfsSync('/sys/fs/cgroup/unified').type) === CGROUP2_SUPER_MAGIC;
    const expected = rootIsV2 ? 'v2' : unifiedIsV2 ? 'hybrid' : 'v1';
    expect(detectCgroupLayout()).toBe(expected);
    expect(existsSync('/sys/fs/cgroup/cgroup.controllers')).toBe(expected === 'v2');
  });
});
