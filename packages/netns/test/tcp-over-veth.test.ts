import { afterEach, describe, expect, it } from 'vitest';
import { Rtnetlink } from '../src/index.js';
import { Cleanup, createTestNetns, randomOctet } from './helpers.js';
import { tcpRoundTrip } from './tcp.js';

describe('a veth pair between two namespaces', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('carries a TCP round trip between addresses configured over netlink', async () => {
    const a = await createTestNetns();
    cleanup.add(() => a.kill());
    const b = await createTestNetns();
    cleanup.add(() => b.kill());
    const octet = randomOctet();

    // Created from inside A, with the peer born in B: the host never sees either end.
    using inA = Rtnetlink.open({ netns: { pid: a.pid } });
    using inB = Rtnetlink.open({ netns: { pid: b.pid } });
    inA.createVeth({ name: 'eth0', peerName: 'eth0', peerNetns: { pid: b.pid } });
    inA.setLinkUp('lo', true);
    inB.setLinkUp('lo', true);
    inA.addAddress('eth0', `10.89.${octet}.1/24`);
    inB.addAddress('eth0', `10.89.${octet}.2/24`);

    const reply = await tcpRoundTrip({
      serverPid: b.pid,
      clientPid: a.pid,
      address: `10.89.${octet}.2`,
      message: 'ping',
    });
    expect(reply).toBe('pong:ping');
  });
});
