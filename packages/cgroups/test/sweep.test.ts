import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCgroup,
  parseCgroupDirName,
  removeEmptyParents,
  sweepCgroups,
} from '../src/index.js';
import { exitOf, Fixture, leftovers, testId } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

describe('sweep', () => {
  it('removes a cgroup whose owner died, killing its members, and keeps live ones', async () => {
    // The "owner" is a process we start and then kill: a crashed tsbox host process.
    const owner = f.spawn(undefined, '/bin/sleep', ['30']);
    const leftover = f.adopt(
      await createCgroup(testId('leftover'), { pidsMax: 8 }, { ownerPid: owner.pid }),
    );
    expect(parseCgroupDirName(leftover.name)?.owner.pid).toBe(owner.pid);
    const member = await f.spawnJoined(leftover, '/bin/sleep', ['30']);
    const live = await f.cgroup('live');

    owner.kill('SIGKILL');
    await exitOf(owner);
    const result = await sweepCgroups();

    expect(result.removed).toContain(leftover.name);
    expect(result.kept).toContain(live.name);
    expect(result.failed).toEqual([]);
    expect((await exitOf(member)).signal).toBe('SIGKILL');
    expect(leftovers(leftover.name)).toEqual([]);
    expect(live.paths.every((p) => existsSync(p))).toBe(true);
  });

  it('a recycled owner pid (same pid, other start time) counts as dead', () => {
    const parsed = parseCgroupDirName(`job@${process.pid}.1`);
    expect(parsed).toEqual({ id: 'job', owner: { pid: process.pid, startTime: 1 } });
    expect(parseCgroupDirName('not-ours')).toBeUndefined();
  });

  it('removeEmptyParents keeps a parent in use, removes an empty one, and creation still works after', async () => {
    const held = await f.cgroup('held');
    const parents = held.paths.map((p) => p.slice(0, p.lastIndexOf('/')));
    // In use: a parent with a child is left alone.
    expect(removeEmptyParents()).toEqual([]);
    expect(parents.every((p) => existsSync(p))).toBe(true);
    await held.destroy();
    // Now empty, the parents go — unless another process on the machine (another
    // test run, say) holds cgroups there: a parent that stays must have children.
    const removed = removeEmptyParents();
    for (const p of parents) {
      if (removed.includes(p) || !existsSync(p)) continue;
      const children = readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory());
      expect(children.length, `${p} was kept though empty`).toBeGreaterThan(0);
    }
    // This process had them prepared (cached); its next create makes them again.
    const again = f.adopt(await createCgroup(testId('again'), { pidsMax: 8 }));
    expect(again.paths.every((p) => existsSync(p))).toBe(true);
    await again.destroy();
  });
});
