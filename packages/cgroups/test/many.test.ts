import { afterEach, describe, expect, it } from 'vitest';
import { createCgroup } from '../src/index.js';
import { exitOf, Fixture, leftovers, testId } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

const MiB = 2 ** 20;

describe('many cgroups', () => {
  it('100 cgroups with limits, 8 at a time: none left in any controller', async () => {
    const prefix = testId('many');
    const limits = { cpus: 0.5, memoryBytes: 128 * MiB, pidsMax: 64, cpuShares: 512 };
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < 100; i = next++) {
        const cg = f.adopt(await createCgroup(`${prefix}-${i}`, limits));
        // Every fourth one is still running at destroy time, so destroy must kill it.
        if (i % 4 === 0) {
          const child = await f.spawnJoined(cg, '/bin/sleep', ['30']);
          await cg.destroy();
          expect((await exitOf(child)).signal).toBe('SIGKILL');
        } else {
          // Exit code 0 also proves the wrapper joined every hierarchy (sh -e).
          expect(await exitOf(f.spawn(cg, '/bin/true'))).toEqual({ code: 0, signal: null });
          await cg.destroy();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(next).toBeGreaterThanOrEqual(100);
    expect(leftovers(prefix)).toEqual([]);
  });
});
