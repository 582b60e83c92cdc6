import { describe, expect, it } from 'vitest';
import {
  blkioWeightToIoWeight,
  sharesToWeight,
  v1LimitWrites,
  v2LimitWrites,
} from '../src/index.js';

// The mapping from limits to interface files, without a kernel: the real-kernel tests
// check the effects; these pin the exact values each version gets.

const MiB = 2 ** 20;

describe('limits to cgroup files', () => {
  it('cpu 0.2 is quota 20000 per period 100000 on both versions', () => {
    expect(v1LimitWrites({ cpus: 0.2 }, { memsw: true, blkioWeightFile: undefined })).toEqual([
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '20000' },
    ]);
    expect(v2LimitWrites({ cpus: 0.2 }, { swapMax: true, ioWeightFile: undefined })).toEqual([
      { file: 'cpu.max', value: '20000 100000' },
    ]);
    expect(
      v2LimitWrites({ cpus: 1.5, cpuPeriodUs: 50_000 }, { swapMax: true, ioWeightFile: undefined }),
    ).toEqual([{ file: 'cpu.max', value: '75000 50000' }]);
  });

  it('converts shares and io weights with the standard formulas', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262_144)).toBe(10_000);
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(1000)).toBe(10_000);
  });

  it('memory without a swap setting means no swap', () => {
    expect(
      v1LimitWrites({ memoryBytes: 64 * MiB }, { memsw: true, blkioWeightFile: undefined }),
    ).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 * MiB) },
      { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(64 * MiB) },
      { controller: 'memory', file: 'memory.swappiness', value: '0' },
    ]);
    expect(
      v1LimitWrites({ memoryBytes: 64 * MiB }, { memsw: false, blkioWeightFile: undefined }),
    ).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 * MiB) },
      { controller: 'memory', file: 'memory.swappiness', value: '0' },
    ]);
    expect(
      v2LimitWrites({ memoryBytes: 64 * MiB }, { swapMax: true, ioWeightFile: undefined }),
    ).toEqual([
      { file: 'memory.max', value: String(64 * MiB) },
      { file: 'memory.swap.max', value: '0' },
    ]);
  });

  it('maps io throttles per device', () => {
    const io = { ioDeviceLimits: [{ device: '8:0', readBps: 1000, writeIops: 20 }] };
    expect(v1LimitWrites(io, { memsw: true, blkioWeightFile: undefined })).toEqual([
      { controller: 'blkio', file: 'blkio.throttle.read_bps_device', value: '8:0 1000' },
      { controller: 'blkio', file: 'blkio.throttle.write_iops_device', value: '8:0 20' },
    ]);
    expect(v2LimitWrites(io, { swapMax: true, ioWeightFile: undefined })).toEqual([
      { file: 'io.max', value: '8:0 rbps=1000 wiops=20' },
    ]);
  });

  it('refuses what the host cannot do with a typed error', () => {
    expect(() =>
      v2LimitWrites({ ioWeight: 100 }, { swapMax: true, ioWeightFile: undefined }),
    ).toThrow(expect.objectContaining({ code: 'ERR_TSBOX_CGROUP_UNSUPPORTED', field: 'ioWeight' }));
  });
});
