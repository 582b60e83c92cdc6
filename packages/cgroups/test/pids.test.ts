import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, firstLine, members, outputOf, PYTHON, sleep } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

// A fork bomb with a safety net: every process forks until fork fails, but at most 6
// times and 3 generations deep (≤ 259 processes even if the limit did not hold), then
// sleeps. Under pids.max 32 the forks hit EAGAIN long before that.
const BOMB = `
import os, sys, time
depth, refused = 0, 0
for _ in range(6):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        depth += 1
        if depth >= 3: break
if depth == 0:
    print(f'refused {refused}', flush=True)
time.sleep(30)
`;

describe('pids limit', () => {
  it('pids 32 contains a fork bomb, reports the limit hits, and the host still spawns', async () => {
    const cg = await f.cgroup('bomb', { pidsMax: 32 });
    const bomb = f.spawn(cg, PYTHON, ['-c', BOMB]);
    const line = await firstLine(bomb);
    expect(line).toMatch(/^refused \d+/);
    const during = await outputOf(f.spawn(undefined, '/bin/echo', ['alive']));
    expect(during).toEqual({ stdout: 'alive\n', code: 0, signal: null });
    // The first generation may finish forking before its children reach the limit.
    for (let i = 0; i < 500 && cg.events().pidsLimitHits === 0; i++) await sleep(20);
    const stats = cg.stats();
    expect(stats.pidsCurrent).toBeLessThanOrEqual(32);
    expect(stats.pidsLimitHits).toBeGreaterThan(0);
    expect(cg.events().pidsLimitHits).toBeGreaterThanOrEqual(stats.pidsLimitHits);
    if (stats.pidsPeak !== undefined) expect(stats.pidsPeak).toBeLessThanOrEqual(32);
    await cg.killAll();
    // pids.current still counts killed tasks until their reaper collects them; the
    // membership list does not.
    expect(members(cg.procsPaths()[0] as string)).toEqual([]);
    const after = await outputOf(f.spawn(undefined, '/bin/echo', ['alive']));
    expect(after).toEqual({ stdout: 'alive\n', code: 0, signal: null });
  });
});
