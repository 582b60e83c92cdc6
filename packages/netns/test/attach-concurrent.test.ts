import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Attachment,
  type BridgeNetworkSpec,
  detach,
  ensureBridgeNetwork,
  Rtnetlink,
} from '../src/index.js';
import {
  Cleanup,
  createTestNetns,
  deleteHostLinkIfPresent,
  randomOctet,
  type TestNetns,
  uniqueName,
} from './helpers.js';
import { transpileForChildren } from './transpile.js';

// The "50 containers, 8 at a time" at the library level: 8 processes attach
// 50 namespaces to one bridge concurrently; then every lease and veth must go.
describe('concurrent attach from several processes', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('50 namespaces attached by 8 processes get 50 distinct addresses; nothing is left', async () => {
    const built = transpileForChildren();
    cleanup.add(() => built.remove());
    const state = mkdtempSync(join(tmpdir(), 'tsbox-conc-'));
    cleanup.add(() => rmSync(state, { recursive: true, force: true }));
    const bridge = uniqueName('tsbbr');
    cleanup.add(() => deleteHostLinkIfPresent(bridge));
    const spec: BridgeNetworkSpec = {
      name: 'concurrent',
      bridge,
      subnet: `10.89.${randomOctet()}.0/24`,
      leaseDirectory: join(state, 'leases'),
    };
    const network = ensureBridgeNetwork(spec);
    cleanup.add(() => network.ipam.reclaim(() => true));

    const namespaces: TestNetns[] = [];
    for (let i = 0; i < 50; i++) {
      const ns = await createTestNetns();
      namespaces.push(ns);
      cleanup.add(() => ns.kill());
    }
    const script = `
      const lib = await import(${JSON.stringify(join(built.dir, 'index.js'))});
      const [spec, pids] = JSON.parse(process.argv[1]);
      const network = lib.describeNetwork(spec);
      const host = lib.Rtnetlink.open();
      try {
        const out = pids.map((pid) => lib.attach(network, { netns: { pid }, owner: 'ctr-' + pid, host }));
        console.log(JSON.stringify(out));
      } finally {
        host.close();
      }
    `;
    const groups = Array.from({ length: 8 }, (_, g) =>
      namespaces.filter((_, i) => i % 8 === g).map((ns) => ns.pid),
    );
    const outputs = await Promise.all(
      groups.map((pids) =>
        runNode(['--input-type=module', '-e', script, JSON.stringify([spec, pids])]),
      ),
    );
    const attachments = outputs.flatMap((o) => JSON.parse(o) as Attachment[]);
    expect(attachments).toHaveLength(50);
    expect(new Set(attachments.map((a) => a.address)).size).toBe(50);
    expect(new Set(attachments.map((a) => a.hostInterface)).size).toBe(50);
    expect(network.ipam.list()).toHaveLength(50);

    using host = Rtnetlink.open();
    const bridgeIndex = host.getLink(bridge).index;
    const ports = () => host.listLinks().filter((l) => l.masterIndex === bridgeIndex);
    expect(ports()).toHaveLength(50);
    // Spot-check one container's configuration from inside.
    const sample = attachments[17] as Attachment;
    const samplePid = Number(sample.owner.slice('ctr-'.length));
    {
      // Closed at the end of this block: an open netlink socket keeps its namespace alive.
      using inside = Rtnetlink.open({ netns: { pid: samplePid } });
      expect(inside.listAddresses({ link: 'eth0', family: 4 }).map((a) => a.cidr)).toEqual([
        sample.cidr,
      ]);
    }

    for (const attachment of attachments) detach(network, attachment);
    expect(network.ipam.list()).toEqual([]);
    for (const ns of namespaces) await ns.kill();
    // The kernel removes the veths with their namespaces, in the background.
    let left = ports().length;
    for (let i = 0; i < 200 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      left = ports().length;
    }
    expect(left).toBe(0);
    for (const attachment of attachments)
      expect(host.findLink(attachment.hostInterface)).toBeUndefined();
  });
});

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}
