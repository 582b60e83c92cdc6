import { afterEach, describe, expect, it } from 'vitest';
import { Fixture, outputOf } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

describe('cpuset', () => {
  it("cpuset '0': nproc in the cgroup prints 1", async () => {
    const cg = await f.cgroup('cpuset', { cpusetCpus: '0' });
    const result = await outputOf(f.spawn(cg, 'nproc'));
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('1');
  });

  it('without a cpuset the cgroup gets every host CPU', async () => {
    const cg = await f.cgroup('cpuset-all');
    const inside = await outputOf(f.spawn(cg, 'nproc'));
    const outside = await outputOf(f.spawn(undefined, 'nproc'));
    expect(inside.stdout).toBe(outside.stdout);
  });
});
