import { afterEach, describe, expect, it } from 'vitest';
import { NetlinkError, netnsInode, Rtnetlink, runInNetns } from '../src/index.js';
import { Cleanup, createTestNetns } from './helpers.js';

describe('running in another network namespace', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('a socket opened in a namespace acts there; the thread comes back home', async () => {
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const home = netnsInode();
    expect(netnsInode({ pid: ns.pid })).not.toBe(home);
    using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
    expect(netnsInode()).toBe(home);
    expect(inside.listLinks().map((l) => l.name)).toEqual(['lo']);
    // Requests later on the same socket still act inside, with the thread at home.
    inside.createBridge({ name: 'tsbinside' });
    expect(netnsInode()).toBe(home);
    using host = Rtnetlink.open();
    expect(host.findLink('tsbinside')).toBeUndefined();
    expect(inside.getLink('tsbinside').kind).toBe('bridge');
  });

  it('runInNetns runs inside and restores after success, a throw and a promise', async () => {
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const home = netnsInode();
    const target = netnsInode({ pid: ns.pid });
    expect(runInNetns({ pid: ns.pid }, () => netnsInode())).toBe(target);
    expect(netnsInode()).toBe(home);

    expect(() =>
      runInNetns({ path: ns.path }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(netnsInode()).toBe(home);

    expect(() => runInNetns({ pid: ns.pid }, async () => 1)).toThrow(NetlinkError);
    expect(netnsInode()).toBe(home);

    // A failing netlink request inside leaves us home too.
    expect(() =>
      runInNetns({ pid: ns.pid }, () => {
        using nl = Rtnetlink.open();
        nl.deleteLink('tsbnothere');
      }),
    ).toThrow(expect.objectContaining({ errno: 'ENODEV' }));
    expect(netnsInode()).toBe(home);
  });

  it('an unreachable namespace fails with netns.open and changes nothing', async () => {
    const home = netnsInode();
    const ns = await createTestNetns();
    const pid = ns.pid;
    await ns.kill();
    expect(() => Rtnetlink.open({ netns: { pid } })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_NETLINK', stage: 'netns.open', errno: 'ENOENT' }),
    );
    // An fd that is not a namespace: setns refuses with EINVAL.
    expect(() => Rtnetlink.open({ netns: { path: '/proc/self/stat' } })).toThrow(
      expect.objectContaining({ stage: 'netns.enter', errno: 'EINVAL', syscall: 'setns' }),
    );
    expect(netnsInode()).toBe(home);
  });
});
