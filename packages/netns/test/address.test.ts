import { afterEach, describe, expect, it } from 'vitest';
import { NetlinkError, Rtnetlink } from '../src/index.js';
import { Cleanup, createTestNetns, ipJson, randomOctet } from './helpers.js';

interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string }[];
}

describe('addresses over rtnetlink (inside a test namespace)', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function namespaceWithDummyLink() {
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const nl = Rtnetlink.open({ netns: { pid: ns.pid } });
    cleanup.add(() => nl.close());
    // A bridge is a handy link that needs no peer; it lives and dies with the namespace.
    nl.createBridge({ name: 'tsbaddr0' });
    return { ns, nl };
  }

  it('adds, lists and deletes IPv4 and IPv6 addresses', async () => {
    const { ns, nl } = await namespaceWithDummyLink();
    const octet = randomOctet();
    nl.addAddress('tsbaddr0', `10.89.${octet}.1/24`);
    nl.addAddress('tsbaddr0', 'fd89::1/64', { noDad: true });
    const index = nl.getLink('tsbaddr0').index;
    const listed = nl.listAddresses({ link: 'tsbaddr0' });
    expect(listed.map((a) => a.cidr).sort()).toContain(`10.89.${octet}.1/24`);
    expect(listed.map((a) => a.cidr)).toContain('fd89::1/64');
    expect(listed.every((a) => a.index === index)).toBe(true);
    expect(nl.listAddresses({ family: 6, link: index }).map((a) => a.address)).toContain('fd89::1');

    const seen = ipJson<IpAddr[]>(['addr', 'show', 'tsbaddr0'], ns.pid)[0];
    const v4 = seen?.addr_info.find((a) => a.family === 'inet');
    expect(v4).toMatchObject({ local: `10.89.${octet}.1`, prefixlen: 24 });
    expect(v4?.broadcast).toBe(`10.89.${octet}.255`);
    expect(seen?.addr_info.some((a) => a.family === 'inet6' && a.local === 'fd89::1')).toBe(true);

    nl.deleteAddress('tsbaddr0', `10.89.${octet}.1/24`);
    nl.deleteAddress('tsbaddr0', 'fd89::1/64');
    const left = nl.listAddresses({ link: 'tsbaddr0' }).map((a) => a.address);
    expect(left).not.toContain(`10.89.${octet}.1`);
    expect(left).not.toContain('fd89::1');
  });

  it('a duplicate address is a typed EEXIST error; a missing one EADDRNOTAVAIL', async () => {
    const { nl } = await namespaceWithDummyLink();
    nl.addAddress('tsbaddr0', '10.89.7.1/24');
    let caught: unknown;
    try {
      nl.addAddress('tsbaddr0', '10.89.7.1/24');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NetlinkError);
    expect(caught).toMatchObject({
      code: 'ERR_TSBOX_NETLINK',
      errno: 'EEXIST',
      stage: 'netlink.newaddr',
      // The kernel's extended ack, and the value, reach the error.
      kernelMessage: expect.stringMatching(/already assigned/),
      value: expect.stringContaining('10.89.7.1/24 on tsbaddr0'),
    });
    expect((caught as Error).message).toContain('10.89.7.1/24 on tsbaddr0');
    expect(() => nl.deleteAddress('tsbaddr0', '10.89.8.1/24')).toThrow(
      expect.objectContaining({ errno: 'EADDRNOTAVAIL', stage: 'netlink.deladdr' }),
    );
    expect(() => nl.addAddress('tsbaddr0', '10.89.7.300/24')).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'address' }),
    );
  });

  it('adds, lists and deletes a default route via a gateway', async () => {
    const { ns, nl } = await namespaceWithDummyLink();
    nl.setLinkUp('lo', true);
    nl.addAddress('tsbaddr0', '10.89.9.2/24');
    nl.addRoute({ gateway: '10.89.9.1' });
    const routes = nl.listRoutes({ family: 4 });
    const defaultRoute = routes.find((r) => r.destination === 'default');
    expect(defaultRoute?.gateway).toBe('10.89.9.1');
    expect(defaultRoute?.deviceIndex).toBe(nl.getLink('tsbaddr0').index);
    expect(routes.some((r) => r.destination === '10.89.9.0/24')).toBe(true);
    const seen = ipJson<{ dst: string; gateway?: string }[]>(['route', 'show'], ns.pid);
    expect(seen).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.89.9.1' }));

    expect(() => nl.addRoute({ gateway: '10.89.77.1' })).toThrow(
      expect.objectContaining({ errno: 'ENETUNREACH', kernelMessage: expect.any(String) }),
    );
    expect(() => nl.addRoute({ gateway: '10.89.9.1' })).toThrow(
      expect.objectContaining({ errno: 'EEXIST', stage: 'netlink.newroute' }),
    );
    nl.addRoute({ destination: '10.89.50.0/24', device: 'tsbaddr0' });
    expect(nl.listRoutes().some((r) => r.destination === '10.89.50.0/24')).toBe(true);
    nl.deleteRoute({ destination: '10.89.50.0/24', device: 'tsbaddr0' });
    nl.deleteRoute({ gateway: '10.89.9.1' });
    expect(nl.listRoutes().some((r) => r.destination === 'default')).toBe(false);
    expect(() => nl.deleteRoute({ gateway: '10.89.9.1' })).toThrow(
      expect.objectContaining({ errno: 'ESRCH', stage: 'netlink.delroute' }),
    );
  });
});
