import { describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';
import { printed } from './helpers.js';

const box = new Container().timeout('20s');

describe('PID 1', () => {
  it('reaps orphans: none is left a zombie', async () => {
    // Each subshell exits at once, so its sleeping child is re-parented to PID 1,
    // which must reap it when it exits.
    const script =
      'for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 0.6; ' +
      'cat /proc/[0-9]*/stat 2>/dev/null | cut -d" " -f3 | grep -c Z; ' +
      'echo parents $(cat /proc/[0-9]*/stat 2>/dev/null | cut -d" " -f4 | sort | uniq -c | tr -s " ")';
    const r = await box.run('sh', ['-c', script]);
    const [zombies] = r.stdout.trim().split('\n');
    expect(zombies).toBe('0');
  });

  it('forwards SIGTERM to a workload with a handler, which exits cleanly', async () => {
    const c = await box.start('sh', [
      '-c',
      'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done',
    ]);
    await printed(c, 'ready');
    const r = await c.stop({ grace: '10s' });
    expect(r.stdout).toBe('ready\ngot-term\n');
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stopped).toBe(true);
  });

  it('kills a workload that ignores SIGTERM at the grace deadline', async () => {
    const c = await box.start('sh', [
      '-c',
      'trap "" TERM; echo ready; while :; do sleep 0.05; done',
    ]);
    await printed(c, 'ready');
    const t = performance.now();
    const r = await c.stop({ grace: '300ms' });
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
    expect(r.exitCode).toBe(137);
    expect(r.signal).toBe('SIGKILL');
  });

  it('forwards other signals to the workload group', async () => {
    const c = await box.start('sh', [
      '-c',
      'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.05; done',
    ]);
    await printed(c, 'ready');
    expect(c.kill('SIGUSR1')).toBe(true);
    const r = await c.wait();
    expect(r.stdout).toContain('got-usr1');
    expect(r.exitCode).toBe(7);
    expect(c.kill('SIGUSR1')).toBe(false);
  });

  it.each([
    ['exit 0', 0, null],
    ['exit 3', 3, null],
    ['kill -9 $$', 137, 'SIGKILL'],
    ['kill -15 $$', 143, 'SIGTERM'],
  ])('returns the exact status of `%s`', async (script, code, signal) => {
    const r = await box.run('sh', ['-c', script]);
    expect(r.exitCode).toBe(code);
    expect(r.signal).toBe(signal);
  });

  it('kills what the workload left running when it exits', async () => {
    // A background child outlives the shell; PID 1 ends it with the container.
    const r = await box.run('sh', ['-c', 'sleep 30 & echo started']);
    expect(r.exitCode).toBe(0);
    expect(r.durationMs).toBeLessThan(10_000);
  });
});
