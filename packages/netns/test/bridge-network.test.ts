import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  attach,
  type BridgeNetwork,
  detach,
  ensureBridgeNetwork,
  NetlinkError,
  Rtnetlink,
  removeBridgeNetwork,
  renderHosts,
} from '../src/index.js';
import {
  Cleanup,
  createTestNetns,
  deleteHostLinkIfPresent,
  ipJson,
  randomOctet,
  uniqueName,
} from './helpers.js';
import { tcpRoundTrip } from './tcp.js';

describe('bridge networks', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  function testNetwork(): BridgeNetwork {
    const bridge = uniqueName('tsbbr');
    const state = mkdtempSync(join(tmpdir(), 'tsbox-net-'));
    cleanup.add(() => rmSync(state, { recursive: true, force: true }));
    cleanup.add(() => deleteHostLinkIfPresent(bridge));
    const octet = randomOctet();
    const network = ensureBridgeNetwork({
      name: `test-${octet}`,
      bridge,
      subnet: `10.89.${octet}.0/24`,
      leaseDirectory: join(state, 'leases'),
    });
    cleanup.add(() => network.ipam.reclaim(() => true));
    return network;
  }

  it('ensureBridgeNetwork is idempotent and puts the gateway on an up bridge', () => {
    const network = testNetwork();
    const again = ensureBridgeNetwork({
      name: network.name,
      bridge: network.bridge,
      subnet: network.subnet,
      leaseDirectory: network.ipam.directory,
    });
    expect(again.gateway).toBe(network.gateway);
    using nl = Rtnetlink.open();
    const bridge = nl.getLink(network.bridge);
    expect(bridge).toMatchObject({ kind: 'bridge', up: true });
    const addresses = nl.listAddresses({ link: bridge.index, family: 4 }).map((a) => a.cidr);
    expect(addresses).toEqual([`${network.gateway}/24`]);
    removeBridgeNetwork(network);
    removeBridgeNetwork(network);
    expect(nl.findLink(network.bridge)).toBeUndefined();
  });

  it('attaches two namespaces that then reach each other over the bridge', async () => {
    const network = testNetwork();
    const a = await createTestNetns();
    cleanup.add(() => a.kill());
    const b = await createTestNetns();
    cleanup.add(() => b.kill());
    const hostA = uniqueName('tsbv');
    const hostB = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(hostA));
    cleanup.add(() => deleteHostLinkIfPresent(hostB));
    const first = attach(network, { netns: { pid: a.pid }, owner: 'ctr-a', hostInterface: hostA });
    const second = attach(network, {
      netns: { path: b.path },
      owner: 'ctr-b',
      hostInterface: hostB,
    });
    expect(first.address).not.toBe(second.address);
    expect(network.ipam.list().map((l) => l.owner)).toEqual(['ctr-a', 'ctr-b']);

    using host = Rtnetlink.open();
    const bridgeIndex = host.getLink(network.bridge).index;
    expect(host.getLink(hostA).masterIndex).toBe(bridgeIndex);
    expect(host.getLink(hostA).up).toBe(true);
    using inA = Rtnetlink.open({ netns: { pid: a.pid } });
    const eth0 = inA.getLink('eth0');
    expect(eth0).toMatchObject({ up: true, mac: first.mac });
    expect(inA.getLink('lo').up).toBe(true);
    expect(inA.listAddresses({ link: 'eth0', family: 4 }).map((x) => x.cidr)).toEqual([first.cidr]);
    const routes = ipJson<{ dst: string; gateway?: string; dev: string }[]>(['route'], a.pid);
    expect(routes).toContainEqual(
      expect.objectContaining({ dst: 'default', gateway: network.gateway, dev: 'eth0' }),
    );

    expect(
      await tcpRoundTrip({
        serverPid: b.pid,
        clientPid: a.pid,
        address: second.address,
        message: 'over-the-bridge',
      }),
    ).toBe('pong:over-the-bridge');
  });

  it('detach releases the lease; the veth goes away with the namespace', async () => {
    const network = testNetwork();
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const hostSide = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(hostSide));
    const attachment = attach(network, {
      netns: { pid: ns.pid },
      owner: 'ctr',
      hostInterface: hostSide,
    });
    detach(network, attachment);
    detach(network, attachment);
    expect(network.ipam.list()).toEqual([]);
    using host = Rtnetlink.open();
    expect(host.findLink(hostSide)).toBeDefined();
    await ns.kill();
    // The kernel removes the pair in the background once the namespace is freed.
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = host.findLink(hostSide) === undefined;
      if (!gone) await new Promise((r) => setTimeout(r, 20));
    }
    expect(gone).toBe(true);
  });

  it('detach can delete the host side when the namespace survives (attach by fd)', async () => {
    const network = testNetwork();
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const fd = openSync(ns.path, 'r');
    cleanup.add(() => closeSync(fd));
    const hostSide = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(hostSide));
    const attachment = attach(network, {
      netns: { fd },
      owner: 'ctr',
      hostInterface: hostSide,
    });
    detach(network, attachment, { deleteHostInterface: true });
    using host = Rtnetlink.open();
    expect(host.findLink(hostSide)).toBeUndefined();
    using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
    expect(inside.listLinks().map((l) => l.name)).toEqual(['lo']);
    expect(network.ipam.list()).toEqual([]);
  });

  it('attach takes over a lease taken before the container existed', async () => {
    const network = testNetwork();
    // E.g. before clone, so that /etc/hosts can be written into the rootfs.
    const lease = network.ipam.allocate('early');
    const hosts = renderHosts({ hostname: 'early', address: lease.address });
    expect(hosts).toContain(`${lease.address}\tearly`);
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const hostSide = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(hostSide));
    const attachment = attach(network, {
      netns: { pid: ns.pid },
      owner: 'early',
      lease,
      hostInterface: hostSide,
    });
    expect(attachment.address).toBe(lease.address);
    expect(network.ipam.list()).toHaveLength(1);
    using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
    expect(inside.listAddresses({ link: 'eth0', family: 4 }).map((a) => a.address)).toEqual([
      lease.address,
    ]);
    detach(network, attachment);
    expect(network.ipam.list()).toEqual([]);
    expect(() =>
      attach(network, {
        netns: { pid: ns.pid },
        owner: 'x',
        lease: { ...lease, address: '192.0.2.9' },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'lease' }));
  });

  it('a failed attach undoes its lease and veth', async () => {
    const network = testNetwork();
    const ns = await createTestNetns();
    cleanup.add(() => ns.kill());
    const taken = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(taken));
    using host = Rtnetlink.open();
    host.createBridge({ name: taken });
    expect(() =>
      attach(network, { netns: { pid: ns.pid }, owner: 'ctr', hostInterface: taken }),
    ).toThrow(expect.objectContaining({ errno: 'EEXIST', stage: 'netlink.newlink' }));
    expect(network.ipam.list()).toEqual([]);

    // Fails inside the container (the interface name is taken there), after the veth exists.
    using inside = Rtnetlink.open({ netns: { pid: ns.pid } });
    inside.createBridge({ name: 'eth0' });
    const hostSide = uniqueName('tsbv');
    cleanup.add(() => deleteHostLinkIfPresent(hostSide));
    let caught: unknown;
    try {
      attach(network, { netns: { pid: ns.pid }, owner: 'ctr', hostInterface: hostSide });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NetlinkError);
    expect(host.findLink(hostSide)).toBeUndefined();
    expect(network.ipam.list()).toEqual([]);
  });
});
