/**
 * The network resource: a container's address on a bridge network, its veth, its
 * published ports and its `/etc/hosts` / `/etc/resolv.conf`.
 *
 * Before spawn: lease an address, record the member (names, address, ports),
 * publish ports, render the files as mount records. Between clone and "go":
 * attach the veth. Release (every path, idempotent): unpublish, release the
 * lease, drop the member record. The veth is left to the kernel, which removes
 * it with the container's network namespace (deleting it would block ≈ 20 ms).
 */
import { readFileSync } from 'node:fs';
import type { MountOp } from '@tsbox/init';
import type { Attachment, PublishedPort } from '@tsbox/netns';
import { InvalidSpecError } from './errors.js';
import type { Netns } from './network.js';
import {
  DEFAULT_NETWORK_NAME,
  ensureNatTable,
  hostNetlink,
  loadNetns,
  Network,
  NetworkError,
  type NetworkMember,
  natTable,
  ownerAlive,
  ownerIdentity,
  readMembers,
  removeMember,
  samePublishedPort,
  writeMember,
} from './network.js';
import type { ContainerResource, ResourceContext } from './resources.js';

/** Container id → its address, while the container holds one (for `RunningContainer.ip`). */
const addresses = new Map<string, string>();

/** The address of a container of this process on its network, if it has one. */
export function containerAddress(id: string): string | undefined {
  return addresses.get(id);
}

/** Nameservers when the host's resolv.conf has only loopback ones (unreachable from a bridge). */
const FALLBACK_DNS = ['1.1.1.1', '8.8.8.8'];

/**
 * Makes the network resource, or returns `undefined` at once (no file read, no
 * socket opened) for a container with neither a network nor DNS settings.
 */
export async function networkResource(
  ctx: ResourceContext,
): Promise<ContainerResource | undefined> {
  const { spec } = ctx;
  if (spec.network === undefined) {
    if (spec.publish !== undefined && spec.publish.length > 0) {
      throw new InvalidSpecError(
        'publish',
        spec.publish,
        "publishing a port needs a bridge network: add .network('bridge') or .network(net)",
      );
    }
    if (spec.dns === undefined || !generatesEtc(spec)) return undefined;
    return { mounts: [await resolvConfOp(spec.dns)], release: () => undefined };
  }
  return attachToNetwork(ctx, spec.network.name, spec.network.aliases);
}

async function attachToNetwork(
  { id, hostname, spec }: ResourceContext,
  name: string,
  aliases: readonly string[],
): Promise<ContainerResource> {
  const N = await loadNetns();
  const net = name === DEFAULT_NETWORK_NAME ? await Network.default() : await Network.get(name);
  if (!net) {
    throw new NetworkError(
      'network.attach',
      name,
      `network ${name} does not exist (Network.create it first)`,
    );
  }
  const ports = spec.publish ?? [];
  if (ports.length > 0) await ensureNatTable(N);
  const bridgeNet = net.bridgeNetwork();
  const lease = bridgeNet.ipam.allocate(id);
  const address = lease.address;
  const published: PublishedPort[] = ports.map((p) => ({
    protocol: p.protocol,
    hostPort: p.hostPort,
    containerAddress: address,
    containerPort: p.containerPort,
  }));
  const member: NetworkMember = {
    id,
    hostname,
    aliases: [...aliases],
    address,
    ports: ports.map((p) => ({ ...p })),
    ...ownerIdentity(),
  };

  let attachment: Attachment | undefined;
  let released = false;
  let didPublish = false;
  const release = async () => {
    if (released) return;
    released = true;
    addresses.delete(id);
    let first: { error: unknown } | undefined;
    // Ports first: a host port must never point at an address that is free for reuse.
    if (didPublish) {
      try {
        await unpublishOwn(N, published);
      } catch (error) {
        first ??= { error };
      }
    }
    try {
      if (attachment) N.detach(bridgeNet, attachment, { host: hostNetlink(N) });
      else bridgeNet.ipam.release(address, id);
    } catch (error) {
      first ??= { error };
    }
    try {
      removeMember(net.name, id);
    } catch (error) {
      first ??= { error };
    }
    if (first) throw first.error;
  };

  try {
    writeMember(net.name, member);
    if (published.length > 0) {
      await natTable(N).publish(published);
      didPublish = true;
    }
    const mounts: MountOp[] = [];
    if (generatesEtc(spec)) {
      const peers = readMembers(net.name)
        .filter((m) => m.id !== id && ownerAlive(m))
        .map((m) => ({ address: m.address, names: [m.hostname, ...m.aliases] }));
      mounts.push(
        {
          op: 'file',
          path: '/etc/hosts',
          mode: 0o644,
          content: N.renderHosts({ hostname, address, aliases, peers }),
        },
        await resolvConfOp(spec.dns),
      );
    }
    addresses.set(id, address);
    return {
      mounts,
      afterClone(pid: number) {
        attachment = N.attach(bridgeNet, {
          netns: { pid },
          owner: id,
          lease,
          host: hostNetlink(N),
        });
      },
      finish(result) {
        result.ip = address;
      },
      release,
    };
  } catch (error) {
    await release().catch(() => undefined);
    if (
      error instanceof Error &&
      (error as { errno?: string }).errno === 'EEXIST' &&
      published.length > 0
    ) {
      throw new NetworkError(
        'network.publish',
        net.name,
        `a host port of ${ports.map((p) => `${p.hostPort}/${p.protocol}`).join(', ')} is already published`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Unpublishes this container's ports. The fast path is one nfnetlink transaction
 * deleting the keys this container published (nothing else removes them while
 * this process lives). If a key is already gone (the kernel then applies none of
 * the deletions), only entries that still point at this container are deleted,
 * so another container's port is never touched.
 */
async function unpublishOwn(N: Netns, ports: readonly PublishedPort[]): Promise<void> {
  const nat = natTable(N);
  try {
    await nat.unpublish(ports, { strict: true });
    return;
  } catch (error) {
    if (!(error instanceof N.NftablesError && error.errno === 'ENOENT')) throw error;
  }
  const current = await nat.listPublished();
  const own = ports.filter((p) => current.some((c) => samePublishedPort(c, p)));
  await nat.unpublish(own);
}

/**
 * Whether tsbox provides the container's `/etc/hosts` and `/etc/resolv.conf`: on the host
 * mirror (written into its scratch root) and on an image root (bound read-only from the
 * state dir, see rootfs-plan.ts). A directory rootfs is the caller's own tree, and a
 * build step's overlay becomes a layer: tsbox writes into neither.
 */
function generatesEtc(spec: ResourceContext['spec']): boolean {
  return spec.rootfs.kind === 'host' || spec.rootfs.kind === 'image';
}

let hostResolv: string | undefined;

async function resolvConfOp(dns: readonly string[] | undefined): Promise<MountOp> {
  const N = await loadNetns();
  let content: string;
  if (dns !== undefined) {
    content = N.renderResolvConf({ nameservers: [...dns] });
  } else {
    if (hostResolv === undefined) {
      let text = '';
      try {
        text = readFileSync('/etc/resolv.conf', 'utf8');
      } catch {
        // No resolver on the host: fall back to public ones.
      }
      hostResolv = N.renderResolvConf(N.containerResolvConf(text, FALLBACK_DNS));
    }
    content = hostResolv;
  }
  return { op: 'file', path: '/etc/resolv.conf', mode: 0o644, content };
}
