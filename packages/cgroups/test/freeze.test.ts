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
});
