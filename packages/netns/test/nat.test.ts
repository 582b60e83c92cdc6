import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES } from '../src/constants.js';
import {
  attach,
  enableRouteLocalnet,
  ensureBridgeNetwork,
  NatTable,
  NetlinkSocket,
  NftablesError,
  Rtnetlink,
  readNetSysctl,
  setIpForwarding,
} from '../src/index.js';
import { decodeMessages } from '../src/message.js';
import { Cleanup, createTestNetns, randomOctet } from './helpers.js';
import { delSetElemMessage, element, newSetElemMessage } from './nft-bytes.js';
import { tcpRoundTrip } from './tcp.js';

/** A port map as the nft binary lists it (independent of the code under test). */
function nftMap(pid: number, table: string, protocol: 'tcp' | 'udp'): string[] {
  const out = execFileSync(
    'nsenter',
    [`--net=/proc/${pid}/ns/net`, 'nft', '-j', 'list', 'map', 'ip', table, `${protocol}_ports`],
    { encoding: 'utf8', timeout: 10_000 },
  );
  const json = JSON.parse(out) as {
    nftables: { map?: { elem?: [number, { concat: [string, number] }][] } }[];
  };
  return json.nftables
    .flatMap((x) => x.map?.elem ?? [])
    .map(([port, { concat }]) => `${port} : ${concat[0]} . ${concat[1]}`);
}

// Everything here happens inside namespaces the test creates: a stand-in "host"
// namespace with its own bridge and nftables, a container, and an "outside"
// namespace. The real host's nftables and links are never touched.
describe('published ports and masquerade with nftables', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function hostWithContainer() {
    const host = await createTestNetns();
    cleanup.add(() => host.kill());
    const container = await createTestNetns();
    cleanup.add(() => container.kill());
    const state = mkdtempSync(join(tmpdir(), 'tsbox-nat-'));
    cleanup.add(() => rmSync(state, { recursive: true, force: true }));
    const nl = Rtnetlink.open({ netns: { pid: host.pid } });
    cleanup.add(() => nl.close());
    nl.setLinkUp('lo', true);
    const octet = randomOctet();
    const network = ensureBridgeNetwork(
      {
        name: 'nat',
        bridge: 'tsbnat0',
        subnet: `10.89.${octet}.0/24`,
        leaseDirectory: join(state, 'leases'),
      },
      nl,
    );
    const attachment = attach(network, { netns: { pid: container.pid }, owner: 'c1', host: nl });
    const nat = new NatTable({ table: 'tsbox_test', netns: { pid: host.pid } });
    cleanup.add(() => nat.remove());
    await nat.ensure();
    return { host, container, nl, network, attachment, nat };
  }

  it('publishes TCP and UDP ports on the host loopback to a container', async () => {
    const { host, container, network, attachment, nat } = await hostWithContainer();
    await nat.ensure(); // idempotent
    expect(await nat.hasChain('postrouting')).toBe(true);
    expect(await nat.hasChain('localnet_guard')).toBe(false);
    enableRouteLocalnet(network.bridge, { pid: host.pid });
    expect(readNetSysctl(`ipv4/conf/${network.bridge}/route_localnet`, { pid: host.pid })).toBe(
      '1',
    );
    const ports = [
      {
        protocol: 'tcp',
        hostPort: 18080,
        containerAddress: attachment.address,
        containerPort: 18089,
      },
      {
        protocol: 'udp',
        hostPort: 18081,
        containerAddress: attachment.address,
        containerPort: 18090,
      },
    ] as const;
    await nat.publish(ports);
    expect(await nat.listPublished()).toEqual(ports);
    // Published over netlink; the nft binary sees the same elements.
    expect(nftMap(host.pid, nat.table, 'tcp')).toEqual([`18080 : ${attachment.address} . 18089`]);
    expect(nftMap(host.pid, nat.table, 'udp')).toEqual([`18081 : ${attachment.address} . 18090`]);
    await expect(nat.publish([ports[0]])).rejects.toMatchObject({
      code: 'ERR_TSBOX_NFTABLES',
      errno: 'EEXIST',
      stage: 'nft.publish',
    });
    // All or none: a free port in the same call as a taken one is not published.
    const free = { ...ports[0], hostPort: 18082 };
    const duplicate = await nat.publish([free, ports[0]]).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(NftablesError);
    expect(duplicate).toMatchObject({ errno: 'EEXIST', stderr: '' });
    expect((duplicate as Error).message).toContain('18080/tcp');
    expect(nftMap(host.pid, nat.table, 'tcp')).toEqual([`18080 : ${attachment.address} . 18089`]);
    // Strict unpublish of a port that is not published: ENOENT, and nothing removed.
    await expect(
      nat.unpublish([ports[0], { protocol: 'tcp', hostPort: 18083 }], { strict: true }),
    ).rejects.toMatchObject({
      code: 'ERR_TSBOX_NFTABLES',
      errno: 'ENOENT',
      stage: 'nft.unpublish',
    });
    expect(await nat.listPublished()).toEqual(ports);

    const viaTcp = await tcpRoundTrip({
      serverPid: container.pid,
      clientPid: host.pid,
      address: attachment.address,
      port: 18089,
      connectAddress: '127.0.0.1',
      connectPort: 18080,
      message: 'tcp-published',
    });
    expect(viaTcp).toBe('pong:tcp-published');
    const viaUdp = await tcpRoundTrip({
      protocol: 'udp',
      serverPid: container.pid,
      clientPid: host.pid,
      address: attachment.address,
      port: 18090,
      connectAddress: '127.0.0.1',
      connectPort: 18081,
      message: 'udp-published',
    });
    expect(viaUdp).toBe('pong:udp-published');

    await nat.unpublish([ports[1]]);
    await nat.unpublish([ports[1]]);
    expect(await nat.listPublished()).toEqual([ports[0]]);
    expect(nftMap(host.pid, nat.table, 'udp')).toEqual([]);
    // gc path: everything pointing at one container address.
    expect(await nat.unpublishAddress(attachment.address)).toEqual([ports[0]]);
    expect(await nat.listPublished()).toEqual([]);
    await expect(
      tcpRoundTrip({
        serverPid: container.pid,
        clientPid: host.pid,
        address: attachment.address,
        port: 18089,
        connectAddress: '127.0.0.1',
        connectPort: 18080,
        message: 'gone',
      }),
    ).rejects.toThrow(/ECONNREFUSED/);

    await nat.remove();
    expect(await nat.exists()).toBe(false);
    expect(await nat.hasChain('postrouting')).toBe(false);
    await nat.remove();
  });

  it('sends the bytes of the encoding tests, and nft reads back the element', async () => {
    const host = await createTestNetns();
    cleanup.add(() => host.kill());
    const nat = new NatTable({ table: element.table, netns: { pid: host.pid } });
    cleanup.add(() => nat.remove());
    // No table yet: publishing fails with the kernel's ENOENT, unpublishing has nothing to do.
    const port = {
      protocol: 'tcp',
      hostPort: element.hostPort,
      containerAddress: element.containerAddress,
      containerPort: element.containerPort,
    } as const;
    await expect(nat.publish([port])).rejects.toMatchObject({
      code: 'ERR_TSBOX_NFTABLES',
      errno: 'ENOENT',
      stage: 'nft.publish',
    });
    await nat.unpublish([port]);
    await nat.ensure();
    using socket = NetlinkSocket.open({ protocol: NETLINK_NETFILTER, netns: { pid: host.pid } });
    // The literal messages of nft-bytes.ts, sent as they are (only the seq is ours).
    const raw = (bytes: Buffer) => {
      const [message] = decodeMessages(bytes);
      if (!message) throw new Error('no message in fixture');
      return { type: message.type, flags: message.flags, body: message.payload };
    };
    const add = raw(newSetElemMessage);
    const del = raw(delSetElemMessage);
    expect(socket.batch([add], NFNL_SUBSYS_NFTABLES, 'test.add')).toEqual([undefined]);
    const listed = `${element.hostPort} : ${element.containerAddress} . ${element.containerPort}`;
    expect(nftMap(host.pid, element.table, 'tcp')).toEqual([listed]);
    expect(await nat.listPublished()).toEqual([port]);
    const [again] = socket.batch([add], NFNL_SUBSYS_NFTABLES, 'test.add');
    expect(again).toMatchObject({ code: 'ERR_TSBOX_NETLINK', errno: 'EEXIST', stage: 'test.add' });

    expect(socket.batch([del], NFNL_SUBSYS_NFTABLES, 'test.del')).toEqual([undefined]);
    expect(nftMap(host.pid, element.table, 'tcp')).toEqual([]);
    const [missing] = socket.batch([del], NFNL_SUBSYS_NFTABLES, 'test.del');
    expect(missing).toMatchObject({ errno: 'ENOENT' });
    // One failing request fails the batch: the valid one beside it is not applied.
    const results = socket.batch([add, del, del], NFNL_SUBSYS_NFTABLES, 'test.mixed');
    expect(results[0]).toBeUndefined();
    expect(results[2]).toMatchObject({ errno: 'ENOENT' });
    expect(nftMap(host.pid, element.table, 'tcp')).toEqual([]);
  });

  it('masquerades a network opted in, and only then', async () => {
    const { host, container, nl, network, nat } = await hostWithContainer();
    const outside = await createTestNetns();
    cleanup.add(() => outside.kill());
    // A neighbouring /24 for the outside link (randomOctet stays below 250).
    const outer = Number(network.subnet.split('.')[2]) + 1;
    nl.createVeth({ name: 'tsbout0', peerName: 'eth0', peerNetns: { pid: outside.pid } });
    nl.addAddress('tsbout0', `10.89.${outer}.1/24`);
    using inOutside = Rtnetlink.open({ netns: { pid: outside.pid } });
    inOutside.setLinkUp('lo', true);
    inOutside.addAddress('eth0', `10.89.${outer}.2/24`);
    setIpForwarding(true, { pid: host.pid });

    const attempt = (message: string) =>
      tcpRoundTrip({
        serverPid: outside.pid,
        clientPid: container.pid,
        address: `10.89.${outer}.2`,
        message,
        reportPeer: true,
        timeoutMs: 6000,
      });
    // Without masquerade the outside has no route back to the container's subnet.
    await expect(attempt('plain')).rejects.toThrow();

    await nat.enableMasquerade(network.subnet);
    await nat.enableMasquerade(network.subnet);
    expect(await nat.listMasqueraded()).toEqual([network.subnet]);
    expect(await attempt('masqueraded')).toBe(`pong:masqueraded from 10.89.${outer}.1`);

    await nat.disableMasquerade(network.subnet);
    await nat.disableMasquerade(network.subnet);
    expect(await nat.listMasqueraded()).toEqual([]);
  });

  it('isolates networks from each other, even with forwarding on', async () => {
    const { host, container, nl, network, nat } = await hostWithContainer();
    const other = await createTestNetns();
    cleanup.add(() => other.kill());
    const inner = Number(network.subnet.split('.')[2]);
    const secondNetwork = ensureBridgeNetwork(
      {
        name: 'nat2',
        bridge: 'tsbnat1',
        subnet: `10.89.${inner + 1}.0/24`,
        leaseDirectory: join(network.ipam.directory, '..', 'leases2'),
      },
      nl,
    );
    const second = attach(secondNetwork, { netns: { pid: other.pid }, owner: 'c2', host: nl });
    setIpForwarding(true, { pid: host.pid });
    const attempt = (message: string) =>
      tcpRoundTrip({
        serverPid: other.pid,
        clientPid: container.pid,
        address: second.address,
        message,
        timeoutMs: 6000,
      });
    // Routed through the stand-in host: reachable until isolated.
    expect(await attempt('routed')).toBe('pong:routed');
    await nat.isolateNetwork(network.subnet);
    await nat.isolateNetwork(secondNetwork.subnet);
    await nat.isolateNetwork(secondNetwork.subnet);
    expect(await nat.listIsolated()).toEqual([network.subnet, secondNetwork.subnet]);
    await expect(attempt('isolated')).rejects.toThrow();
    await nat.unisolateNetwork(network.subnet);
    expect(await nat.listIsolated()).toEqual([secondNetwork.subnet]);
    expect(await attempt('again')).toBe('pong:again');
  });

  it('rejects bad input before running nft', async () => {
    expect(() => new NatTable({ table: 'bad name' })).toThrow(
      expect.objectContaining({ code: 'ERR_TSBOX_INVALID_SPEC' }),
    );
    const nat = new NatTable({ table: 'tsbox_never_created', nft: '/nonexistent/nft' });
    await expect(
      nat.publish([
        { protocol: 'tcp', hostPort: 70000, containerAddress: '10.89.0.2', containerPort: 1 },
      ]),
    ).rejects.toMatchObject({ code: 'ERR_TSBOX_INVALID_SPEC', field: 'hostPort' });
    await expect(nat.ensure()).rejects.toBeInstanceOf(NftablesError);
  });
});
