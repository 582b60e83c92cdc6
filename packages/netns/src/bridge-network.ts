/**
 * Bridge networks: a Linux bridge holding the gateway address, an {@link Ipam} for
 * its subnet, and attaching a container's network namespace to it with a veth pair
 * whose container side (`eth0`) is born directly in the container's namespace.
 *
 * Per container, {@link attach} costs one lease file and seven netlink round trips
 * (bridge lookup and veth creation on the host; link lookup, `lo` up, `eth0` up,
 * address and route inside the container) and spawns no process.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { InvalidNetworkInputError, NetlinkError } from './errors.js';
import { Subnet } from './ip.js';
import { Ipam, type Lease } from './ipam.js';
import { checkInterfaceName, formatMac } from './names.js';
import type { NetnsTarget } from './netns.js';
import { Rtnetlink } from './rtnetlink.js';

/** Where lease directories live unless told otherwise: `<dir>/<network>/leases`. */
export const DEFAULT_NETWORK_STATE_DIR = '/run/tsbox/networks';

/** What a bridge network is made of. */
export interface BridgeNetworkSpec {
  /** Network name, `'app'`; used for the default bridge name and lease directory. */
  name: string;
  /** IPv4 subnet, `'10.89.0.0/24'`. */
  subnet: string;
  /** Bridge interface name (≤ 15 bytes). Default `tsbox-<name>`. */
  bridge?: string;
  /** Gateway address on the bridge. Default: the subnet's first host (`10.89.0.1`). */
  gateway?: string;
  /** MTU of the bridge and of the veths attached to it. Default: the kernel's (1500). */
  mtu?: number;
  /** Lease directory. Default `/run/tsbox/networks/<name>/leases`. */
  leaseDirectory?: string;
}

/** A bridge network that exists on the host (see {@link ensureBridgeNetwork}). */
export interface BridgeNetwork {
  name: string;
  bridge: string;
  subnet: string;
  prefixLength: number;
  gateway: string;
  mtu: number | undefined;
  ipam: Ipam;
}

/** Options of {@link attach}. */
export interface AttachOptions {
  /** The container's network namespace: `{ pid }` of its init, or an fd/path. */
  netns: NetnsTarget;
  /** Lease owner, e.g. the container id (gc releases by owner). */
  owner: string;
  /** Host-side veth name (≤ 15 bytes). Default `tsbv` + 8 random hex digits. */
  hostInterface?: string;
  /** Interface name inside the container. Default `eth0`. */
  interfaceName?: string;
  /** A specific address to lease instead of the next free one. */
  address?: string;
  /**
   * A lease already taken from `network.ipam` (with the same owner), e.g. before
   * the container was cloned so its `/etc/hosts` could be written with the address.
   * `attach` then takes it over: it is released if `attach` fails, and by `detach`.
   */
  lease?: Lease;
  /** Also bring the container's `lo` up (default true). */
  loopbackUp?: boolean;
  /** An already open host client to reuse (saves opening a socket per call). */
  host?: Rtnetlink;
}

/** What {@link attach} created; keep it for {@link detach} (and a state record for gc). */
export interface Attachment {
  network: string;
  bridge: string;
  owner: string;
  /** Host-side veth, on the bridge. */
  hostInterface: string;
  /** Container-side interface name. */
  interfaceName: string;
  address: string;
  prefixLength: number;
  /** `'10.89.0.2/24'`. */
  cidr: string;
  gateway: string;
  /** The container side's MAC, derived from its address like Docker does (`02:42:…`). */
  mac: string;
}

/** Options of {@link detach}. */
export interface DetachOptions {
  /**
   * Delete the host-side veth now (both ends go). Only needed when the container's
   * namespace outlives the attachment; when the namespace is about to die, leave it
   * (default false): the kernel removes the pair with the namespace in the
   * background, while deleting it here blocks the caller for ≈ 20 ms.
   */
  deleteHostInterface?: boolean;
  /** An already open host client to reuse. */
  host?: Rtnetlink;
}

/**
 * Makes sure the network's bridge exists, is up and has the gateway address.
 * Idempotent and safe to race with other processes doing the same (`EEXIST` from
 * a concurrent creator is success). Does not touch an existing bridge's other
 * addresses or ports.
 *
 * @throws {@link InvalidNetworkInputError} for a bad spec, or when the bridge name
 *   is taken by a link that is not a bridge; {@link NetlinkError} from the kernel.
 */
export function ensureBridgeNetwork(spec: BridgeNetworkSpec, host?: Rtnetlink): BridgeNetwork {
  const network = describeNetwork(spec);
  withHost(host, (nl) => {
    const existing = nl.findLink(network.bridge);
    if (existing && existing.kind !== 'bridge') {
      throw new InvalidNetworkInputError(
        'bridge',
        network.bridge,
        `exists and is a ${existing.kind ?? 'device'}, not a bridge`,
      );
    }
    if (!existing) {
      ignoreErrno('EEXIST', () =>
        nl.createBridge({
          name: network.bridge,
          ...(network.mtu === undefined ? {} : { mtu: network.mtu }),
        }),
      );
    }
    nl.setLinkUp(network.bridge, true);
    ignoreErrno('EEXIST', () =>
      nl.addAddress(network.bridge, `${network.gateway}/${network.prefixLength}`),
    );
  });
  return network;
}

/**
 * Describes a network without touching the host (validates the spec). Useful to
 * get at the {@link Ipam} of a network in `gc`.
 */
export function describeNetwork(spec: BridgeNetworkSpec): BridgeNetwork {
  const subnet = Subnet.parse(spec.subnet);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(spec.name)) {
    throw new InvalidNetworkInputError('name', spec.name, 'use letters, digits, _ . -');
  }
  const bridge = checkInterfaceName(spec.bridge ?? `tsbox-${spec.name}`, 'bridge');
  const gateway = spec.gateway ?? subnet.at(1);
  const ipam = new Ipam({
    directory: spec.leaseDirectory ?? join(DEFAULT_NETWORK_STATE_DIR, spec.name, 'leases'),
    subnet: spec.subnet,
    reserved: [gateway],
  });
  return {
    name: spec.name,
    bridge,
    subnet: subnet.toString(),
    prefixLength: subnet.prefixLength,
    gateway,
    mtu: spec.mtu,
    ipam,
  };
}

/**
 * Removes the network's bridge (ports still on it are detached by the kernel).
 * Idempotent. Leases are left alone: release them first, or call
 * `network.ipam.reclaim(() => true)` when tearing the whole network down.
 */
export function removeBridgeNetwork(network: BridgeNetwork, host?: Rtnetlink): void {
  withHost(host, (nl) => ignoreErrno('ENODEV', () => nl.deleteLink(network.bridge)));
}

/**
 * Connects a container's network namespace to the network: leases an address,
 * creates a veth pair with the container side born in the container's namespace
 * (as `eth0`) and the host side on the bridge, then, inside the container, brings
 * the interface (and `lo`) up, adds the address and the default route via the
 * gateway. On failure everything done so far is undone before the error is thrown.
 *
 * Call it after the container's namespace exists and before its workload starts
 * (tsbox core: after `clone`, before "go").
 */
export function attach(network: BridgeNetwork, options: AttachOptions): Attachment {
  const interfaceName = checkInterfaceName(options.interfaceName ?? 'eth0', 'interfaceName');
  const hostInterface = checkInterfaceName(
    options.hostInterface ?? `tsbv${randomBytes(4).toString('hex')}`,
    'hostInterface',
  );
  if (options.lease && !network.ipam.subnet.contains(options.lease.address)) {
    throw new InvalidNetworkInputError('lease', options.lease.address, `not in ${network.subnet}`);
  }
  const lease = options.lease ?? leaseFor(network, options);
  const attachment = describeAttachment(network, lease, hostInterface, interfaceName);
  let vethCreated = false;
  try {
    withHost(options.host, (nl) => {
      nl.createVeth({
        name: hostInterface,
        peerName: interfaceName,
        peerNetns: options.netns,
        master: network.bridge,
        peerUp: false,
        peerMac: attachment.mac,
        ...(network.mtu === undefined ? {} : { mtu: network.mtu }),
      });
    });
    vethCreated = true;
    using inside = Rtnetlink.open({ netns: options.netns });
    const index = inside.getLink(interfaceName).index;
    if (options.loopbackUp ?? true) inside.setLinkUp('lo', true);
    inside.setLinkUp(index, true);
    inside.addAddress(index, attachment.cidr);
    inside.addRoute({ gateway: network.gateway, device: index });
    return attachment;
  } catch (error) {
    if (vethCreated) {
      try {
        withHost(options.host, (nl) => ignoreErrno('ENODEV', () => nl.deleteLink(hostInterface)));
      } catch {
        // The original error matters more; the kernel frees the pair with the namespace.
      }
    }
    network.ipam.release(lease.address, lease.owner);
    throw error;
  }
}

/**
 * Disconnects a container: releases its lease and, only if asked, deletes the
 * host-side veth (see {@link DetachOptions.deleteHostInterface}). Idempotent.
 */
export function detach(
  network: BridgeNetwork,
  attachment: Attachment,
  options: DetachOptions = {},
): void {
  try {
    if (options.deleteHostInterface) deleteHostInterface(attachment, options.host);
  } finally {
    network.ipam.release(attachment.address, attachment.owner);
  }
}

/**
 * Deletes an attachment's host-side veth (and so its container side) if it still
 * exists. Blocks ≈ 20 ms in the kernel; see {@link DetachOptions}.
 */
export function deleteHostInterface(attachment: Attachment, host?: Rtnetlink): void {
  withHost(host, (nl) => ignoreErrno('ENODEV', () => nl.deleteLink(attachment.hostInterface)));
}

function leaseFor(network: BridgeNetwork, options: AttachOptions): Lease {
  return network.ipam.allocate(
    options.owner,
    options.address === undefined ? {} : { address: options.address },
  );
}

/** Docker's scheme: `02:42` + the four address bytes, so a reused address keeps its MAC. */
export function macForAddress(address: string): string {
  const bytes = address.split('.').map(Number);
  return formatMac(Uint8Array.from([0x02, 0x42, ...bytes]));
}

function describeAttachment(
  network: BridgeNetwork,
  lease: Lease,
  hostInterface: string,
  interfaceName: string,
): Attachment {
  return {
    network: network.name,
    bridge: network.bridge,
    owner: lease.owner,
    hostInterface,
    interfaceName,
    address: lease.address,
    prefixLength: lease.prefixLength,
    cidr: `${lease.address}/${lease.prefixLength}`,
    gateway: network.gateway,
    mac: macForAddress(lease.address),
  };
}

function withHost<T>(host: Rtnetlink | undefined, fn: (nl: Rtnetlink) => T): T {
  if (host) return fn(host);
  using nl = Rtnetlink.open();
  return fn(nl);
}

function ignoreErrno(errno: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof NetlinkError && error.errno === errno)) throw error;
  }
}
