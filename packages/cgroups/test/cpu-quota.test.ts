import { afterEach, describe, expect, it } from 'vitest';
import { cpuPercent } from '../src/index.js';
import { Fixture, sleep } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

const BUSY = 'while :; do :; done';

describe('cpu quota', () => {
  it('cpus 0.2 holds a busy loop to 15-25 % of one CPU over 2 s', async () => {
    const cg = await f.cgroup('cpu02', { cpus: 0.2 });
    await f.spawnJoined(cg, '/bin/sh', ['-c', BUSY]);
    await sleep(300); // let the loop start and the first period settle
    const before = cg.stats();
    await sleep(2000);
    const after = cg.stats();
    const percent = cpuPercent(before, after, 1);
    expect(percent).toBeGreaterThanOrEqual(15);
    expect(percent).toBeLessThanOrEqual(25);
    expect(after.cpuThrottledMs).toBeGreaterThan(before.cpuThrottledMs);
    expect(after.cpuThrottledPeriods).toBeGreaterThan(0);
    expect(after.cpuUserMs + after.cpuSystemMs).toBeGreaterThan(0);
    expect(after.load).toBeGreaterThanOrEqual(0); // sampled: running or throttled
  });

  it('cpus 1 holds two busy processes to at most 110 % of one CPU', async () => {
    const cg = await f.cgroup('cpu1', { cpus: 1 });
    await f.spawnJoined(cg, '/bin/sh', ['-c', `${BUSY} & ${BUSY}`]);
    await sleep(300);
    const before = cg.stats();
    await sleep(2000);
    const after = cg.stats();
    const percent = cpuPercent(before, after, 1);
    expect(percent).toBeLessThanOrEqual(110);
    expect(percent).toBeGreaterThan(0); // it runs (the lower bound is not the point, and CI shares the cores)
  });
});
