import { afterEach, describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';
import { hostPidsWithArg, killByMarker, uniqueMarker } from './helpers.js';

const markers: string[] = [];
afterEach(() => {
  for (const m of markers.splice(0)) killByMarker(m);
});

describe('timeout', () => {
  it('kills a setsid double-forked escapee with the container', async () => {
    const m = uniqueMarker();
    markers.push(m);
    const script = `setsid sh -c 'sleep ${m} & sleep ${m}' & (sh -c 'sleep ${m} &' &) ; sleep ${m}`;
    const r = await new Container().timeout('500ms').run('sh', ['-c', script]);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(r.signal).toBe('SIGKILL');
    expect(r.durationMs).toBeGreaterThanOrEqual(500);
    expect(hostPidsWithArg(m)).toEqual([]);
  });

  it('kills a workload that stopped itself with SIGSTOP', async () => {
    const m = uniqueMarker();
    markers.push(m);
    const r = await new Container()
      .timeout('400ms')
      .run('sh', ['-c', `sleep ${m} & kill -STOP $$; echo never`]);
    expect(r.timedOut).toBe(true);
    expect(r.stdout).toBe('');
    expect(hostPidsWithArg(m)).toEqual([]);
  });

  it('does not fire for a workload that finishes in time', async () => {
    const r = await new Container().timeout('10s').run('true');
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
  });
});
