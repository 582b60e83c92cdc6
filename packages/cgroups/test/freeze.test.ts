import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, sleep } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

describe('freeze and thaw', () => {
  it('freeze stops a counting process, thaw resumes it', async () => {
    const cg = await f.cgroup('freeze');
    const counter = f.spawn(cg, '/bin/sh', [
      '-c',
      'i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done',
    ]);
    let count = 0;
    counter.stdout?.setEncoding('utf8').on('data', (d: string) => {
      count += d.split('\n').filter(Boolean).length;
    });
    await sleep(500);
    expect(count).toBeGreaterThan(0);
    await cg.freeze();
    await sleep(100); // output already in the pipe drains
    const frozenAt = count;
    await sleep(700);
    expect(count).toBe(frozenAt);
    await cg.thaw();
    await sleep(500);
    expect(count).toBeGreaterThan(frozenAt);
  });

  it('freezes reliably a shell that keeps forking (40 cycles)', async () => {
    // dash vforks its commands; on v1 a vfork-waiting parent can hold the freezer in
    // FREEZING, which freeze() must get past.
    const cg = await f.cgroup('freeze-fork');
    await f.spawnJoined(cg, '/bin/sh', ['-c', 'while :; do /bin/true; done']);
    for (let i = 0; i < 40; i++) {
      await cg.freeze();
      await cg.thaw();
    }
  });
});
