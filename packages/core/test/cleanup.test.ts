import { describe, expect, it } from 'vitest';
import { Container, gc } from '../src/index.js';
import { hostPidsWithArg, mountCount, stateEntries, tsboxInitPids } from './helpers.js';

describe('cleanup', () => {
  it('200 runs in a row leave no mount, no process and no state behind', async () => {
    const mounts = mountCount();
    const box = new Container().timeout('10s');
    for (let i = 0; i < 200; i++) {
      // Alternate the ways a run can end: success, failure, signal, timeout.
      const kind = i % 4;
      const r =
        kind === 0
          ? await box.run('true')
          : kind === 1
            ? await box.run('sh', ['-c', 'exit 5'])
            : kind === 2
              ? await box.run('sh', ['-c', 'sleep 5 & kill -9 $$'])
              : await box.timeout('50ms').run('sleep', ['5']);
      expect(r.exitCode).toBe([0, 5, 137, 137][kind]);
    }
    expect(mountCount()).toBe(mounts);
    expect(tsboxInitPids()).toEqual([]);
    expect(stateEntries()).toEqual([]);
  });

  it('asyncDispose kills a running container and releases it', async () => {
    let pid = 0;
    {
      await using c = await new Container().start('sleep', ['30']);
      pid = c.pid;
      expect(c.running).toBe(true);
    }
    expect(() => process.kill(pid, 0)).toThrow();
    expect(tsboxInitPids()).toEqual([]);
    expect(stateEntries()).toEqual([]);
  });

  it('gc removes records left by a process that died, and keeps live containers', async () => {
    const { mkdirSync, writeFileSync, utimesSync } = await import('node:fs');
    const { STATE_ROOT } = await import('../src/index.js');
    mkdirSync(STATE_ROOT, { recursive: true });
    // A record whose keeper pid is not a running tsbox-init (pid 1 is this machine's init).
    const dead = `${STATE_ROOT}/deadbeef0001.json`;
    writeFileSync(
      dead,
      JSON.stringify({ id: 'deadbeef0001', keeperPid: 1, ownerPid: 1, createdAt: '' }),
    );
    // An unreadable record, old enough not to be one being written right now.
    const garbage = `${STATE_ROOT}/deadbeef0002.json`;
    writeFileSync(garbage, '{');
    utimesSync(garbage, new Date(0), new Date(0));
    // A leftover directory (the shape later features use) is removed whole.
    const dir = `${STATE_ROOT}/deadbeef0003`;
    mkdirSync(dir);
    writeFileSync(`${dir}/x`, '');
    utimesSync(dir, new Date(0), new Date(0));
    const { rmSync } = await import('node:fs');
    const c = await new Container().start('sleep', ['30']);
    try {
      expect(stateEntries().sort()).toEqual(
        [`${c.id}.json`, 'deadbeef0001.json', 'deadbeef0002.json', 'deadbeef0003'].sort(),
      );
      const report = await gc();
      // Other processes on the machine may have containers of their own: only ours are asserted.
      expect(report.removed).toEqual(expect.arrayContaining([dead, garbage, dir]));
      expect(report.live).toContain(c.id);
      expect(stateEntries()).toEqual([`${c.id}.json`]);
    } finally {
      await c.stop({ grace: 1 });
      for (const p of [dead, garbage, dir]) rmSync(p, { recursive: true, force: true });
    }
    expect(stateEntries()).toEqual([]);
  });
});

describe('exceptions', () => {
  it('a throwing output callback kills the container and rejects the run with that error', async () => {
    const boom = new Error('callback failed');
    const err = await new Container()
      .run('sh', ['-c', 'echo first; sleep 30'], {
        onStdout: () => {
          throw boom;
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(tsboxInitPids()).toEqual([]);
    expect(stateEntries()).toEqual([]);
  });

  it('a Node process that exits with a container running leaves nothing behind', async () => {
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const marker = String(80_000_000 + Math.floor(Math.random() * 9_000_000));
    const script = `import { Container } from ${JSON.stringify(core)};
      const c = await new Container().start('sleep', ['${marker}']);
      process.stdout.write(String(c.pid)); process.exit(0);`;
    const pid = Number(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    );
    expect(pid).toBeGreaterThan(0);
    expect(stateEntries()).toEqual([]);
    // The container's PID 1 dies with its keeper; give the kernel a moment to reap.
    for (let i = 0; i < 50 && hostPidsWithArg(marker).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(hostPidsWithArg(marker)).toEqual([]);
  });
});
