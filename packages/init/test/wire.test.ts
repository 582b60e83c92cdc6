import { describe, expect, it } from 'vitest';
import { encodeInitConfig, InitConfigError, parseInitMessage } from '../src/index.js';

const base = {
  cloneFlags: 0x20020000,
  cgroupProcs: ['/sys/fs/cgroup/pids/tsbox/a/cgroup.procs'],
  staging: '/run/tsbox/a/root',
  uid: 0,
  gid: 0,
  groups: [4, 24],
  capabilities: 0xa80425fbn,
  noNewPrivileges: true,
  mounts: [
    { op: 'bind', source: '/usr', target: '/usr', readonly: true },
    { op: 'pivot' },
  ] as const,
  rlimits: [{ resource: 7, soft: 64, hard: 'infinity' }] as const,
  argv: ['sh', '-c', 'echo hi'],
  env: ['A=1'],
};

describe('wire config', () => {
  it('is a u32 length and NUL-terminated key/argument records', () => {
    const buf = encodeInitConfig({ ...base, mounts: [...base.mounts], rlimits: [...base.rlimits] });
    const len = buf.readUInt32LE(0);
    expect(len).toBe(buf.length - 4);
    const fields = buf.subarray(4).toString('utf8').split('\0');
    expect(fields.at(-1)).toBe('');
    expect(fields.slice(0, 4)).toEqual([
      'flags',
      String(0x20020000),
      'staging',
      '/run/tsbox/a/root',
    ]);
    const text = fields.join('|');
    expect(text).toContain('cgroup|/sys/fs/cgroup/pids/tsbox/a/cgroup.procs');
    expect(text).toContain('groups|4,24');
    expect(text).toContain('caps|0xa80425fb');
    expect(text).toContain('bind|/usr|/usr|1|pivot');
    expect(text).toContain('rlimit|7|64|inf');
    expect(text).toContain('arg|sh|arg|-c|arg|echo hi|env|A=1');
  });

  it('encodes an overlay root as one record with its option string', () => {
    const options = 'lowerdir=/l/b:/l/a,upperdir=/run/tsbox/x/u,workdir=/run/tsbox/x/w';
    const buf = encodeInitConfig({
      ...base,
      mounts: [{ op: 'root-overlay', options }, { op: 'root-readonly' }, { op: 'pivot' }],
      rlimits: [],
    });
    const text = buf.subarray(4).toString('utf8').split('\0').join('|');
    expect(text).toContain(`wait|1|root-overlay|${options}|root-readonly|pivot|arg|sh`);
  });

  it('refuses strings with NUL bytes', () => {
    expect(() => encodeInitConfig({ ...base, mounts: [], rlimits: [], argv: ['a\0b'] })).toThrow(
      InitConfigError,
    );
  });
});

describe('init messages', () => {
  it('decodes wait statuses into exit code and signal', () => {
    expect(parseInitMessage('exit 0')).toEqual({ type: 'exit', exitCode: 0, signal: null });
    expect(parseInitMessage(`exit ${3 << 8}`)).toEqual({ type: 'exit', exitCode: 3, signal: null });
    expect(parseInitMessage('exit 9')).toEqual({ type: 'exit', exitCode: 137, signal: 9 });
    expect(parseInitMessage('exit 143')).toEqual({ type: 'exit', exitCode: 128 + 15, signal: 15 }); // 0x8f: core dump bit + SIGTERM
  });

  it('splits errors into stage, errno and detail', () => {
    expect(parseInitMessage('error mount.bind 2 /run/tsbox/x/root/usr')).toEqual({
      type: 'error',
      stage: 'mount.bind',
      errno: 2,
      detail: '/run/tsbox/x/root/usr',
    });
    expect(parseInitMessage('pid 4242')).toEqual({ type: 'pid', pid: 4242 });
    expect(parseInitMessage('what')).toEqual({ type: 'unknown', line: 'what' });
  });
});
