import { closeSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { AttributeMap, attr, constants, ifinfomsg, NetlinkError, Rtnetlink } from '../src/index.js';
import {
  Cleanup,
  createTestNetns,
  deleteHostLinkIfPresent,
  ipJson,
  type TestNetns,
  uniqueName,
} from './helpers.js';

interface IpLink {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind?: string };
}

describe('links over rtnetlink', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('lists the host links, matching ip -j link', () => {
    using nl = Rtnetlink.open();
    const ours = nl.listLinks();
    const theirs = ipJson<IpLink[]>(['link', 'show']);
    expect(ours.map((l) => [l.index, l.name]).sort()).toEqual(
      theirs.map((l) => [l.ifindex, l.ifname]).sort(),
    );
    const lo = ours.find((l) => l.name === 'lo');
    expect(lo?.index).toBe(1);
    expect(lo?.up).toBe(true);
  });

  it('the raw socket and exported building blocks make custom requests', () => {
    using nl = Rtnetlink.open();
    const [reply] = nl.socket.request({
      type: constants.RTM_GETLINK,
      body: ifinfomsg.encode({ index: 1 }),
      attributes: [attr.u32(constants.IFLA_EXT_MASK, constants.RTEXT_FILTER_SKIP_STATS)],
    });
    const payload = reply?.payload ?? Buffer.alloc(0);
    expect(ifinfomsg.decode(payload).index).toBe(1);
    expect(new AttributeMap(payload, ifinfomsg.size).string(constants.IFLA_IFNAME)).toBe('lo');
  });

  it('creates, sees and deletes a veth pair', () => {
    const a = uniqueName();
    const b = uniqueName();
    cleanup.add(() => deleteHostLinkIfPresent(a));
    using nl = Rtnetlink.open();
    nl.createVeth({ name: a, peerName: b, mtu: 1400, mac: '02:42:0a:59:00:aa' });
    const links = nl.listLinks();
    const left = links.find((l) => l.name === a);
    const right = links.find((l) => l.name === b);
    expect(left?.kind).toBe('veth');
    expect(right?.kind).toBe('veth');
    expect(left?.linkIndex).toBe(right?.index);
    expect(left?.mtu).toBe(1400);
    expect(right?.mtu).toBe(1400);
    expect(left?.mac).toBe('02:42:0a:59:00:aa');
    expect(left?.up).toBe(true);

    const seen = ipJson<IpLink[]>(['-d', 'link', 'show', a])[0];
    expect(seen?.linkinfo?.info_kind).toBe('veth');
    expect(seen?.address).toBe('02:42:0a:59:00:aa');
    expect(seen?.flags).toContain('UP');

    nl.deleteLink(a);
    expect(nl.findLink(a)).toBeUndefined();
    expect(nl.findLink(b)).toBeUndefined();
  });

  it('creates a bridge, enslaves a veth, changes MTU, MAC and state', () => {
    const br = uniqueName('tsbbr');
    const v = uniqueName();
    const p = uniqueName();
    cleanup.add(() => deleteHostLinkIfPresent(br));
    cleanup.add(() => deleteHostLinkIfPresent(v));
    using nl = Rtnetlink.open();
    nl.createBridge({ name: br });
    nl.createVeth({ name: v, peerName: p });
    nl.setMaster(v, br);
    const bridge = nl.getLink(br);
    expect(bridge.kind).toBe('bridge');
    expect(nl.getLink(v).masterIndex).toBe(bridge.index);
    expect(ipJson<IpLink[]>(['link', 'show', v])[0]?.master).toBe(br);

    nl.setMtu(v, 1280);
    nl.setMac(v, '02:42:0a:59:00:bb');
    nl.setLinkUp(v, false);
    const changed = nl.getLink(v);
    expect(changed.mtu).toBe(1280);
    expect(changed.mac).toBe('02:42:0a:59:00:bb');
    expect(changed.up).toBe(false);
    nl.setMaster(v, null);
    expect(nl.getLink(v).masterIndex).toBeUndefined();

    nl.deleteLink(v);
    nl.deleteLink(br);
    expect(ipJson<IpLink[]>(['link', 'show']).some((l) => l.ifname === br)).toBe(false);
  });

  it('reports kernel errors as typed NetlinkErrors', () => {
    const a = uniqueName();
    cleanup.add(() => deleteHostLinkIfPresent(a));
    using nl = Rtnetlink.open();
    nl.createBridge({ name: a });
    const duplicate = (() => {
      try {
        nl.createBridge({ name: a });
      } catch (error) {
        return error;
      }
    })();
    expect(duplicate).toBeInstanceOf(NetlinkError);
    expect(duplicate).toMatchObject({
      code: 'ERR_TSBOX_NETLINK',
      errno: 'EEXIST',
      stage: 'netlink.newlink',
    });
    expect(() => nl.getLink(uniqueName())).toThrow(
      expect.objectContaining({ errno: 'ENODEV', stage: 'netlink.getlink' }),
    );
    expect(() => nl.createBridge({ name: 'tsbox-name-far-too-long' })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'name' }),
    );
  });

  it('creates a veth whose peer is born in another namespace (by pid, fd and path)', async () => {
    const targets = [await createTestNetns(), await createTestNetns(), await createTestNetns()];
    for (const ns of targets) cleanup.add(() => ns.kill());
    const [byPid, byFd, byPath] = targets as [TestNetns, TestNetns, TestNetns];
    const names = [uniqueName(), uniqueName(), uniqueName()];
    for (const name of names) cleanup.add(() => deleteHostLinkIfPresent(name));
    const fd = openSync(byFd.path, 'r');
    cleanup.add(() => closeSync(fd));
    using nl = Rtnetlink.open();
    nl.createVeth({ name: names[0] ?? '', peerName: 'eth0', peerNetns: { pid: byPid.pid } });
    nl.createVeth({ name: names[1] ?? '', peerName: 'eth0', peerNetns: { fd } });
    nl.createVeth({ name: names[2] ?? '', peerName: 'eth0', peerNetns: { path: byPath.path } });
    expect(nl.findLink('eth0')?.kind).not.toBe('veth');
    for (const ns of targets) {
      using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
      const inNs = inside.listLinks().map((l) => l.name);
      expect(inNs.sort()).toEqual(['eth0', 'lo']);
      expect(inside.getLink('eth0').up).toBe(true);
      expect(ipJson<IpLink[]>(['link', 'show', 'eth0'], ns.pid)[0]?.flags).toContain('UP');
    }
    for (const name of names) expect(nl.getLink(name).linkNetnsId).toBeGreaterThanOrEqual(0);
  });

  it('moves a link into a namespace by pid', async () => {
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const a = uniqueName();
    const b = uniqueName();
    cleanup.add(() => deleteHostLinkIfPresent(a));
    using nl = Rtnetlink.open();
    nl.createVeth({ name: a, peerName: b });
    nl.moveLinkToNetns(b, { pid: ns.pid });
    expect(nl.findLink(b)).toBeUndefined();
    using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
    expect(inside.getLink(b).kind).toBe('veth');
    expect(ipJson<IpLink[]>(['link', 'show', b], ns.pid)[0]?.ifname).toBe(b);
  });
});
