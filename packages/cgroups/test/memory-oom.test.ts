import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, outputOf, PYTHON, sleep } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

const MiB = 2 ** 20;
// Touch every page, so the memory is really charged (a zeroed allocation may not be).
const ALLOCATE = (mib: number) =>
  `b = bytearray(${mib} * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n`;

describe('memory limit and OOM', () => {
  it('memory 64M allocating 200 MB: OOM-killed by SIGKILL, counted, host unaffected', async () => {
    const bystander = f.spawn(undefined, '/bin/sleep', ['30']);
    const cg = await f.cgroup('oom', { memoryBytes: 64 * MiB });
    const hog = f.spawn(cg, PYTHON, ['-c', `${ALLOCATE(200)}print('survived')`]);
    const result = await outputOf(hog);
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).not.toContain('survived');
    expect(cg.events().oomKills).toBeGreaterThanOrEqual(1);
    const stats = cg.stats();
    expect(stats.oomKills).toBeGreaterThanOrEqual(1);
    expect(stats.memoryPeakBytes ?? 0).toBeLessThanOrEqual(64 * MiB + MiB);
    // The host and others: a process outside the cgroup still runs, new ones start.
    expect(bystander.exitCode).toBeNull();
    const probe = await outputOf(f.spawn(undefined, '/bin/echo', ['ok']));
    expect(probe.stdout).toBe('ok\n');
  });

  it('a process under the limit killed by SIGKILL from outside: oom count 0', async () => {
    const cg = await f.cgroup('nooom', { memoryBytes: 64 * MiB });
    const proc = f.spawn(cg, PYTHON, [
      '-c',
      `${ALLOCATE(16)}import sys, time\nprint('ready', flush=True)\ntime.sleep(60)`,
    ]);
    await new Promise<void>((resolve) => proc.stdout?.once('data', () => resolve()));
    const stats = cg.stats();
    expect(stats.memoryRssBytes).toBeGreaterThanOrEqual(16 * MiB); // RSS from memory.stat, not cache
    expect(stats.memoryRssPeakBytes).toBe(stats.memoryRssBytes);
    proc.kill('SIGKILL');
    const exit = await outputOf(proc);
    expect(exit.signal).toBe('SIGKILL');
    expect(cg.events().oomKills).toBe(0);
  });

  it('swap is limited to none by default', async () => {
    const cg = await f.cgroup('noswap', { memoryBytes: 64 * MiB });
    const dir = cg.paths.find(
      (p) => existsSync(`${p}/memory.max`) || existsSync(`${p}/memory.limit_in_bytes`),
    );
    expect(dir).toBeDefined();
    if (cg.version === 2) {
      if (existsSync(`${dir}/memory.swap.max`))
        expect(readFileSync(`${dir}/memory.swap.max`, 'utf8').trim()).toBe('0');
    } else {
      expect(readFileSync(`${dir}/memory.swappiness`, 'utf8').trim()).toBe('0');
      if (existsSync(`${dir}/memory.memsw.limit_in_bytes`)) {
        expect(Number(readFileSync(`${dir}/memory.memsw.limit_in_bytes`, 'utf8'))).toBe(64 * MiB);
      }
    }
    await sleep(0);
  });
});
