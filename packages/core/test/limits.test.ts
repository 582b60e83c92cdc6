import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import PQueue from 'p-queue';
import { describe, expect, it } from 'vitest';
import { CgroupError, Container, cpuPercent, InvalidSpecError } from '../src/index.js';
import { printed, stateEntries, tsboxInitPids } from './helpers.js';

// These run the real kernel's cgroup controllers (v1 on the development machines;
// the v2 driver's own suite runs in a v2-only VM, scripts/cgroup2-vm.sh).

function tsboxCgroups(): string[] {
  const found: string[] = [];
  for (const root of [
    '/sys/fs/cgroup',
    ...readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`),
  ]) {
    try {
      for (const name of readdirSync(`${root}/tsbox`, { withFileTypes: true })) {
        // Only this process's cgroups: the name carries the owner pid (`<id>@<pid>.<start>`).
        if (name.isDirectory() && name.name.includes(`@${process.pid}.`))
          found.push(`${root}/tsbox/${name.name}`);
      }
    } catch {
      // no tsbox parent in this hierarchy
    }
  }
  return found;
}

const box = new Container().timeout('30s');

describe('resource limits', () => {
  it('.cpu(0.2) holds a busy loop to about 20 % of one CPU', async () => {
    const c = await box.cpu(0.2).start('sh', ['-c', 'while :; do :; done']);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const a = c.stats();
      await new Promise((r) => setTimeout(r, 2000));
      const b = c.stats();
      if (!a || !b) throw new Error('no stats');
      const pct = cpuPercent(a, b, 1);
      expect(pct).toBeGreaterThan(15);
      expect(pct).toBeLessThan(25);
      expect(b.cpuThrottledMs).toBeGreaterThan(0);
    } finally {
      await c.stop({ grace: 1 });
    }
  });

  it('.cpu(1) holds two busy threads to one CPU on the two-core machine', async () => {
    const c = await box.cpu(1).start('sh', ['-c', '(while :; do :; done) & while :; do :; done']);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const a = c.stats();
      await new Promise((r) => setTimeout(r, 2000));
      const b = c.stats();
      if (!a || !b) throw new Error('no stats');
      expect(cpuPercent(a, b, 1)).toBeLessThanOrEqual(110);
    } finally {
      await c.stop({ grace: 1 });
    }
  });

  it(".memory('64M') allocating 200 MB is OOM-killed, and says so", async () => {
    const r = await box
      .memory('64M')
      .run('python3', ['-c', 'x = bytearray(200 * 2**20); print("survived")']);
    expect(r.oomKilled).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('');
    expect(r.stats?.oomKills).toBeGreaterThanOrEqual(1);
    // The host and another container are untouched.
    const other = await box
      .memory('64M')
      .run('python3', ['-c', 'x = bytearray(16 * 2**20); print("fine")']);
    expect(other).toMatchObject({ exitCode: 0, oomKilled: false, stdout: 'fine\n' });
  });

  it('a workload under its memory limit killed by SIGKILL is not oomKilled', async () => {
    const c = await box.memory('64M').start('sh', ['-c', 'echo ready; sleep 30']);
    await printed(c, 'ready');
    c.kill('SIGKILL');
    const r = await c.wait();
    expect(r.exitCode).toBe(137);
    expect(r.oomKilled).toBe(false);
    expect(r.stats?.memoryRssBytes).toBeGreaterThanOrEqual(0);
  });

  it('.pids(32) contains a fork bomb, reports the limit hit, and the host still spawns', async () => {
    const bomb = 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived';
    const c = await box.pids(32).timeout('4s').start('sh', ['-c', bomb]);
    await new Promise((r) => setTimeout(r, 500));
    const during = spawnSync('/bin/true');
    expect(during.status).toBe(0);
    const r = await c.wait();
    expect(r.stats?.pidsLimitHits).toBeGreaterThan(0);
    expect(r.stats?.pidsPeak ?? 32).toBeLessThanOrEqual(32);
    expect(spawnSync('/bin/true').status).toBe(0);
    expect(tsboxInitPids()).toEqual([]);
  });

  it(".cpuset('0'): nproc inside prints 1", async () => {
    const r = await box.cpuset('0').run('nproc');
    expect(r.stdout).toBe('1\n');
  });

  it('pause freezes a counting workload and resume continues it', async () => {
    const c = await box
      .pids(64)
      .start('sh', ['-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done']);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await c.pause();
      const cpuA = c.stats()?.cpuUsageUs ?? 0;
      await new Promise((r) => setTimeout(r, 500));
      const cpuB = c.stats()?.cpuUsageUs ?? 0;
      expect(cpuB - cpuA).toBeLessThan(5_000); // frozen: (almost) no CPU time in half a second
      await c.resume();
      await new Promise((r) => setTimeout(r, 300));
      const cpuC = c.stats()?.cpuUsageUs ?? 0;
      expect(cpuC - cpuB).toBeGreaterThan(50_000); // thawed: counting again
    } finally {
      await c.stop({ grace: 1 });
    }
  });

  it('100 containers with limits, 8 at a time, leave no cgroup directory behind', async () => {
    const before = tsboxCgroups();
    const queue = new PQueue({ concurrency: 8 });
    const limited = box.cpu(0.5).memory('128M').pids(64);
    const results = await Promise.all(
      Array.from({ length: 100 }, () => queue.add(() => limited.run('true'))),
    );
    expect(results.every((r) => r?.exitCode === 0)).toBe(true);
    expect(tsboxCgroups()).toEqual(before);
    expect(stateEntries()).toEqual([]);
  });

  it('bad limit values throw typed errors and create nothing', () => {
    const before = tsboxCgroups();
    expect(() => new Container().memory('-1M')).toThrow(InvalidSpecError);
    expect(() => new Container().cpu(0)).toThrow(CgroupError);
    expect(() => new Container().cpu(64)).toThrow(/CPUs/);
    expect(() => new Container().cpuset('7-9')).toThrow(CgroupError);
    expect(() => new Container().pids(0)).toThrow(CgroupError);
    try {
      new Container().cpu(0);
    } catch (e) {
      expect(e).toMatchObject({ code: 'ERR_TSBOX_INVALID_LIMIT', field: 'cpus' });
    }
    expect(tsboxCgroups()).toEqual(before);
  });

  it('a cross-field error found at start creates nothing', async () => {
    const before = tsboxCgroups();
    const err = await box
      .memoryReservation('128M')
      .memory('64M')
      .run('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupError);
    expect(tsboxCgroups()).toEqual(before);
    expect(tsboxInitPids()).toEqual([]);
    expect(stateEntries()).toEqual([]);
  });

  it('a container without limits has no cgroup and no stats', async () => {
    const r = await box.run('true');
    expect(r.stats).toBeUndefined();
    expect(r.oomKilled).toBe(false);
  });
});
