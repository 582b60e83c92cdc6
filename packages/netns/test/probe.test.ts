import { describe, expect, it } from 'vitest';
import { netnsInode, probeNetworking } from '../src/index.js';

describe('probeNetworking', () => {
  it('reports netlink, setns and nft as usable on a prepared host, changing nothing', () => {
    const home = netnsInode();
    const probe = probeNetworking();
    expect(probe.netlink).toMatchObject({ ok: true });
    expect(probe.setns).toMatchObject({ ok: true });
    expect(probe.nft).toMatchObject({ ok: true, detail: expect.stringMatching(/^nftables v/) });
    expect(netnsInode()).toBe(home);
  });
});
