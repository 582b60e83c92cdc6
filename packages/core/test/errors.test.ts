import { describe, expect, it } from 'vitest';
import {
  Container,
  ExecNotFoundError,
  ExecPermissionError,
  InitError,
  InvalidSpecError,
  TsboxError,
} from '../src/index.js';
import { mountCount, stateEntries, tsboxInitPids } from './helpers.js';

describe('bad input throws a typed error before anything is created', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['a duration in parsecs', () => new Container().timeout('12 parsecs'), 'timeout'],
    ['a negative duration', () => new Container().timeout(-5), 'timeout'],
    [
      'a relative mount target',
      () => new Container().mount({ source: '/usr', target: 'usr' }),
      'mount.target',
    ],
    [
      'a mount target with ..',
      () => new Container().mount({ source: '/usr', target: '/a/../etc' }),
      'mount.target',
    ],
    [
      'a missing mount source',
      () => new Container().mount({ source: '/nonexistent/tsbox', target: '/x' }),
      'mount.source',
    ],
    ['a missing rootfs', () => new Container().rootfs('/nonexistent/rootfs'), 'rootfs'],
    ['a file as rootfs', () => new Container().rootfs('/etc/passwd'), 'rootfs'],
    ['a bad hostname', () => new Container().hostname('no spaces allowed'), 'hostname'],
    ['an env name with =', () => new Container().env({ 'A=B': 'x' }), 'env'],
    ['a negative uid', () => new Container().user(-1), 'uid'],
    ['a bad size', () => new Container().maxOutput('12 parsecs'), 'maxOutput'],
    ['a zero tmpfs', () => new Container().tmpfs('/scratch', 0), 'tmpfs.size'],
    [
      'an unknown capability',
      () => new Container().capabilities({ add: ['FLY'] }),
      'capabilities.add',
    ],
    ['an unknown rlimit', () => new Container().rlimit('bogus' as 'nofile', 1), 'rlimit'],
  ];
  it.each(cases)('%s', (_name, make, field) => {
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect(err).toBeInstanceOf(TsboxError);
    expect((err as InvalidSpecError).code).toBe('ERR_TSBOX_INVALID_SPEC');
    expect((err as InvalidSpecError).stage).toBe('spec');
    expect((err as InvalidSpecError).field).toBe(field);
  });

  it('rejects a bad command before spawning', async () => {
    const before = stateEntries();
    await expect(new Container().run('')).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(new Container().run('sh', ['a\0b'])).rejects.toBeInstanceOf(InvalidSpecError);
    expect(stateEntries()).toEqual(before);
  });
});

describe('failures inside the container come back typed, with nothing left behind', () => {
  it('a missing executable is ERR_TSBOX_EXEC_NOT_FOUND naming it', async () => {
    const mounts = mountCount();
    const err = await new Container().run('no-such-command-tsbox').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecNotFoundError);
    expect(err).toMatchObject({
      code: 'ERR_TSBOX_EXEC_NOT_FOUND',
      stage: 'exec',
      path: 'no-such-command-tsbox',
    });
    const abs = await new Container().run('/usr/bin/no-such-command').catch((e: unknown) => e);
    expect(abs).toMatchObject({
      code: 'ERR_TSBOX_EXEC_NOT_FOUND',
      path: '/usr/bin/no-such-command',
    });
    expect(stateEntries()).toEqual([]);
    expect(tsboxInitPids()).toEqual([]);
    expect(mountCount()).toBe(mounts);
  });

  it('a file without execute permission is ERR_TSBOX_EXEC_PERMISSION', async () => {
    const err = await new Container().run('/etc/passwd').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecPermissionError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_EXEC_PERMISSION', path: '/etc/passwd' });
  });

  it('a missing cwd fails at the cwd stage with ENOENT', async () => {
    const err = await new Container()
      .cwd('/no/such/dir')
      .run('true')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InitError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_INIT', stage: 'init.cwd', errno: 'ENOENT' });
    expect(stateEntries()).toEqual([]);
  });
});
