import { readdirSync, rmdirSync } from 'node:fs';

// After the whole suite: remove the shared, empty infrastructure the tests made
// (each hierarchy's `tsbox/` parent cgroup, the network state root). rmdir refuses
// a non-empty directory, so a real leak (a cgroup or network left behind) stays
// visible instead of being swept away here.
export function teardown(): void {
  const candidates = [
    '/sys/fs/cgroup/tsbox',
    `${process.env.TSBOX_STATE_DIR ?? '/run/tsbox'}/.networks`,
  ];
  try {
    for (const c of readdirSync('/sys/fs/cgroup')) candidates.push(`/sys/fs/cgroup/${c}/tsbox`);
  } catch {
    // no cgroup filesystem
  }
  for (const dir of candidates) {
    try {
      rmdirSync(dir);
    } catch {
      // in use, not empty, or absent
    }
  }
}
