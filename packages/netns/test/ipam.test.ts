import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ipam, IpamError } from '../src/index.js';
import { Cleanup } from './helpers.js';
import { transpileForChildren } from './transpile.js';

describe('IPAM lease store', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  function leaseDirectory(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tsbox-ipam-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'leases');
  }

  it('leases the lowest free address, skips the gateway, releases idempotently', () => {
    const ipam = new Ipam({ directory: leaseDirectory(), subnet: '10.89.1.0/29' });
    const a = ipam.allocate('c1');
    const b = ipam.allocate('c2');
    expect([a.address, b.address]).toEqual(['10.89.1.2', '10.89.1.3']);
    expect(a).toMatchObject({ owner: 'c1', prefixLength: 29, pid: process.pid });
    expect(ipam.list().map((l) => [l.address, l.owner])).toEqual([
      ['10.89.1.2', 'c1'],
      ['10.89.1.3', 'c2'],
    ]);
    // Only the owner's release counts; a second release is a no-op.
    expect(ipam.release('10.89.1.2', 'someone-else')).toBe(false);
    expect(ipam.release('10.89.1.2', 'c1')).toBe(true);
    expect(ipam.release('10.89.1.2', 'c1')).toBe(false);
    expect(ipam.allocate('c3').address).toBe('10.89.1.2');
  });

  it('exhaustion and taken requested addresses are IpamErrors', () => {
    const ipam = new Ipam({ directory: leaseDirectory(), subnet: '10.89.1.0/30' });
    // /30: .0 network, .1 gateway, .3 broadcast: one leasable address.
    expect(ipam.allocate('c1').address).toBe('10.89.1.2');
    expect(() => ipam.allocate('c2')).toThrow(IpamError);
    expect(() => ipam.allocate('c2')).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_IPAM', stage: 'ipam.allocate' }),
    );
    const other = new Ipam({ directory: leaseDirectory(), subnet: '10.89.2.0/24' });
    expect(other.allocate('x', { address: '10.89.2.77' }).address).toBe('10.89.2.77');
    expect(() => other.allocate('y', { address: '10.89.2.77' })).toThrow(
      expect.objectContaining({ errno: 'EEXIST' }),
    );
    expect(() => other.allocate('y', { address: '10.89.2.1' })).toThrow(/not a leasable/);
    expect(() => new Ipam({ directory: leaseDirectory(), subnet: '10.89.2.1/24' })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC' }),
    );
  });

  it('reclaims leases of dead holders and of a given owner', () => {
    const directory = leaseDirectory();
    const ipam = new Ipam({ directory, subnet: '10.89.3.0/24' });
    const mine = ipam.allocate('alive');
    ipam.allocate('gone');
    // A lease written by a process that no longer exists (pid far above pid_max).
    writeFileSync(
      join(directory, '10.89.3.50'),
      JSON.stringify({ owner: 'crashed', pid: 99999999, pidStart: 1, createdAt: 1 }),
    );
    writeFileSync(join(directory, 'README'), 'not a lease');
    writeFileSync(join(directory, '10.89.30.9'), 'another subnet, not ours');
    // Half-written just now: taken, and too young for reclaimDeadHolders.
    writeFileSync(join(directory, '10.89.3.51'), '');
    expect(ipam.reclaimDeadHolders()).toEqual(['10.89.3.50']);
    expect(ipam.releaseOwner('gone')).toEqual(['10.89.3.3']);
    expect(ipam.list().map((l) => l.address)).toEqual([mine.address, '10.89.3.51']);
    expect(ipam.reclaim((lease) => lease.owner === '')).toEqual(['10.89.3.51']);
  });

  it('50 allocations from 10 concurrent processes get 50 distinct addresses', async () => {
    const built = transpileForChildren(['constants', 'errors', 'ip', 'ipam']);
    cleanup.add(() => built.remove());
    const directory = leaseDirectory();
    const script = `
      const { Ipam } = await import(${JSON.stringify(join(built.dir, 'ipam.js'))});
      const ipam = new Ipam({ directory: process.argv[1], subnet: '10.89.4.0/24' });
      const out = [];
      for (let i = 0; i < 5; i++) out.push(ipam.allocate('worker-' + process.pid + '-' + i).address);
      console.log(JSON.stringify(out));
    `;
    const runs = Array.from({ length: 10 }, () =>
      runNode(['--input-type=module', '-e', script, directory]),
    );
    const results = (await Promise.all(runs)).flatMap((stdout) => JSON.parse(stdout) as string[]);
    expect(results).toHaveLength(50);
    expect(new Set(results).size).toBe(50);
    const ipam = new Ipam({ directory, subnet: '10.89.4.0/24' });
    expect(ipam.list()).toHaveLength(50);
    expect(results).not.toContain('10.89.4.1');
    for (const lease of ipam.list()) expect(ipam.release(lease.address, lease.owner)).toBe(true);
    expect(readdirSync(directory)).toEqual([]);
  });
});

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}
