import { afterEach, describe, expect, it } from 'vitest';
import {
  CgroupError,
  type CgroupLimits,
  createCgroup,
  detectCgroupLayout,
  hostCpuFacts,
} from '../src/index.js';
import { Fixture, leftovers, testId } from './helpers.js';

const f = new Fixture();
afterEach(() => f.cleanup());

const host = hostCpuFacts(detectCgroupLayout());
const missingCpu = Math.max(...host.cpus) + 1;

const BAD: Array<[string, CgroupLimits, string]> = [
  ['cpu 0', { cpus: 0 }, 'cpus'],
  ['negative cpu', { cpus: -1 }, 'cpus'],
  ['cpu NaN', { cpus: Number.NaN }, 'cpus'],
  ['more cpus than the host', { cpus: host.cpus.length + 1 }, 'cpus'],
  ['cpu quota under 1 ms', { cpus: 0.001 }, 'cpus'],
  ['cpu period out of range', { cpus: 1, cpuPeriodUs: 10 }, 'cpuPeriodUs'],
  ['shares out of range', { cpuShares: 1 }, 'cpuShares'],
  ['negative memory', { memoryBytes: -1 * 2 ** 20 }, 'memoryBytes'],
  ['fractional memory', { memoryBytes: 1.5 }, 'memoryBytes'],
  ['tiny memory', { memoryBytes: 4096 }, 'memoryBytes'],
  [
    'reservation above limit',
    { memoryBytes: 64 * 2 ** 20, memoryReservationBytes: 128 * 2 ** 20 },
    'memoryReservationBytes',
  ],
  ['swap without memory', { memorySwapBytes: 0 }, 'memorySwapBytes'],
  ['pids 0', { pidsMax: 0 }, 'pidsMax'],
  ['cpuset the host lacks', { cpusetCpus: String(missingCpu) }, 'cpusetCpus'],
  ['malformed cpuset', { cpusetCpus: '0-' }, 'cpusetCpus'],
  ['memory node the host lacks', { cpusetMems: '63' }, 'cpusetMems'],
  ['io weight out of range', { ioWeight: 5 }, 'ioWeight'],
  [
    'io device that does not exist',
    { ioDeviceLimits: [{ device: '250:250', readBps: 1 }] },
    'ioDeviceLimits[0].device',
  ],
  ['io device without a rate', { ioDeviceLimits: [{ device: '1:3' }] }, 'ioDeviceLimits[0]'],
  ['unknown field', { memory: 5 } as unknown as CgroupLimits, 'memory'],
];

describe('limit validation', () => {
  it.each(BAD)(
    '%s throws ERR_TSBOX_INVALID_LIMIT and creates nothing',
    async (_label, limits, field) => {
      const id = testId('bad');
      const err = await createCgroup(id, limits).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CgroupError);
      expect(err).toMatchObject({
        code: 'ERR_TSBOX_INVALID_LIMIT',
        stage: 'cgroup.validate',
        field,
      });
      expect((err as Error).message).toContain(field.replace(/\[.*$/, ''));
      expect(leftovers(id)).toEqual([]);
    },
  );

  it('an invalid id throws ERR_TSBOX_INVALID_NAME and creates nothing', async () => {
    for (const id of ['', '../escape', 'a/b', '-x', 'x'.repeat(200)]) {
      await expect(createCgroup(id, {})).rejects.toMatchObject({ code: 'ERR_TSBOX_INVALID_NAME' });
    }
  });

  it('an owner pid that does not run throws ERR_TSBOX_INVALID_OPTION and creates nothing', async () => {
    const id = testId('owner');
    await expect(createCgroup(id, {}, { ownerPid: 2 ** 22 + 1 })).rejects.toMatchObject({
      code: 'ERR_TSBOX_INVALID_OPTION',
      field: 'ownerPid',
    });
    expect(leftovers(id)).toEqual([]);
  });

  it('the same id twice throws ERR_TSBOX_CGROUP_EXISTS', async () => {
    const id = testId('twice');
    f.adopt(await createCgroup(id, {}));
    await expect(createCgroup(id, {})).rejects.toMatchObject({ code: 'ERR_TSBOX_CGROUP_EXISTS' });
  });

  it('accepts every limit at once', async () => {
    const cg = await f.cgroup('all', {
      cpus: 0.5,
      cpuPeriodUs: 50_000,
      cpuShares: 512,
      cpusetCpus: String(host.cpus[0]),
      cpusetMems: String(host.mems[0]),
      memoryBytes: 64 * 2 ** 20,
      memoryReservationBytes: 32 * 2 ** 20,
      pidsMax: 16,
    });
    expect(cg.paths.length).toBeGreaterThan(0);
  });
});
