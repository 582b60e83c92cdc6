import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOf, Fixture, leftovers, members, sleep } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

describe('kill and destroy', () => {
  it('killAll kills every member, forked children included', async () => {
    const cg = await f.cgroup('killall');
    const parent = await f.spawnJoined(cg, '/bin/sh', ['-c', 'sleep 30 & sleep 30 & sleep 30']);
    await sleep(200);
    expect(cg.stats().pidsCurrent).toBe(4);
    await cg.killAll();
    expect((await exitOf(parent)).signal).toBe('SIGKILL');
    for (const procs of cg.procsPaths()) expect(members(procs)).toEqual([]);
    expect(cg.events().oomKills).toBe(0);
  });

  it('destroy kills remaining members, removes every directory, and is idempotent', async () => {
    const cg = await f.cgroup('destroy', { pidsMax: 10 });
    const child = await f.spawnJoined(cg, '/bin/sh', ['-c', 'sleep 30 & exec sleep 30']);
    await sleep(100);
    await cg.destroy();
    expect((await exitOf(child)).signal).toBe('SIGKILL');
    expect(cg.paths.some((p) => existsSync(p))).toBe(false);
    expect(leftovers(cg.name)).toEqual([]);
    await cg.destroy();
  });

  it('a sampled load counts running tasks', async () => {
    const cg = await f.cgroup('load');
    await f.spawnJoined(cg, '/bin/sh', ['-c', 'while :; do :; done']);
    const sleeper = await f.spawnJoined(cg, '/bin/sleep', ['30']);
    // Wait until the sleeper really sleeps: on a slow (emulated) machine it may still be
    // starting, which is rightly counted as running.
    const sleeping = () =>
      readFileSync(`/proc/${sleeper.pid}/stat`, 'latin1').includes('(sleep) S ');
    for (let i = 0; i < 500 && !sleeping(); i++) await sleep(10);
    expect(sleeping()).toBe(true);
    let max = 0;
    for (let i = 0; i < 20; i++) {
      max = Math.max(max, cg.stats().load);
      await sleep(10);
    }
    expect(max).toBe(1);
  });
});
