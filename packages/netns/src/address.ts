/**
 * Interface addresses (IPv4 and IPv6): add, delete, list. One rtnetlink request
 * each; {@link Rtnetlink} wraps them as methods.
 */
import {
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './constants.js';
import { addressFamily, formatIp, type IpPrefix, parsePrefix } from './ip.js';
import { type LinkRef, resolveLinkIndex } from './link.js';
import { type Attribute, AttributeMap, attr } from './message.js';
import type { NetlinkSocket } from './socket.js';
import { ifaddrmsg } from './structs.js';

/** An address as the kernel reports it. */
export interface Address {
  /** Index of the link it is on. */
  index: number;
  family: 4 | 6;
  /** The address itself, `'10.89.0.2'` (`IFA_LOCAL`, else `IFA_ADDRESS`). */
  address: string;
  prefixLength: number;
  /** `'10.89.0.2/24'`. */
  cidr: string;
  /** `IFA_LABEL` (IPv4 only). */
  label: string | undefined;
  /** `RT_SCOPE_*`: 0 universe, 253 link, 254 host. */
  scope: number;
  /** `IFA_F_*` flags (from `IFA_FLAGS` when present: it holds all 32 bits). */
  flags: number;
}

/** Options of {@link addAddress}. */
export interface AddAddressOptions {
  /** IPv6: skip duplicate address detection, so the address is usable at once. */
  noDad?: boolean;
}

/** Filter of {@link listAddresses}. */
export interface ListAddressesFilter {
  /** Only addresses of this link. */
  link?: LinkRef;
  family?: 4 | 6;
}

/**
 * Adds `cidr` (`'10.89.0.2/24'`, `'fd89::2/64'`) to a link. IPv4 addresses get the
 * subnet's broadcast address, as `ip addr add ... brd +` does.
 * @throws {@link NetlinkError} `'EEXIST'` when the link already has it.
 */
export function addAddress(
  nl: NetlinkSocket,
  link: LinkRef,
  cidr: string,
  options: AddAddressOptions = {},
): void {
  const prefix = parsePrefix(cidr);
  const attributes = addressAttributes(prefix);
  if (prefix.family === 4 && prefix.prefixLength < 31) {
    attributes.push(attr.bytes(IFA_BROADCAST, broadcastOf(prefix)));
  }
  if (options.noDad) attributes.push(attr.u32(IFA_FLAGS, IFA_F_NODAD));
  nl.request({
    type: RTM_NEWADDR,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: ifaddrmsg.encode({
      family: addressFamily(prefix.family),
      prefixLength: prefix.prefixLength,
      flags: options.noDad ? IFA_F_NODAD : 0,
      scope: RT_SCOPE_UNIVERSE,
      index: resolveLinkIndex(nl, link),
    }),
    attributes,
    subject: `${cidr} on ${link}`,
  });
}

/**
 * Removes `cidr` from a link.
 * @throws {@link NetlinkError} `'EADDRNOTAVAIL'` when the link does not have it.
 */
export function deleteAddress(nl: NetlinkSocket, link: LinkRef, cidr: string): void {
  const prefix = parsePrefix(cidr);
  nl.request({
    type: RTM_DELADDR,
    body: ifaddrmsg.encode({
      family: addressFamily(prefix.family),
      prefixLength: prefix.prefixLength,
      index: resolveLinkIndex(nl, link),
    }),
    attributes: addressAttributes(prefix),
    subject: `${cidr} on ${link}`,
  });
}

/** Addresses of the socket's namespace, optionally of one link or family. */
export function listAddresses(nl: NetlinkSocket, filter: ListAddressesFilter = {}): Address[] {
  const index = filter.link === undefined ? undefined : resolveLinkIndex(nl, filter.link);
  const replies = nl.dump({
    type: RTM_GETADDR,
    body: ifaddrmsg.encode({
      family: filter.family === undefined ? AF_UNSPEC : addressFamily(filter.family),
    }),
  });
  return replies
    .filter((m) => m.type === RTM_NEWADDR)
    .map((m) => decodeAddress(m.payload))
    .filter((a) => index === undefined || a.index === index)
    .filter((a) => filter.family === undefined || a.family === filter.family);
}

/** Decodes an `RTM_NEWADDR` payload. */
export function decodeAddress(payload: Buffer): Address {
  const header = ifaddrmsg.decode(payload);
  const attributes = new AttributeMap(payload, ifaddrmsg.size);
  const bytes = attributes.bytes(IFA_LOCAL) ?? attributes.bytes(IFA_ADDRESS) ?? Buffer.alloc(0);
  const address = formatIp(bytes);
  return {
    index: header.index,
    family: bytes.length === 16 ? 6 : 4,
    address,
    prefixLength: header.prefixLength,
    cidr: `${address}/${header.prefixLength}`,
    label: attributes.string(IFA_LABEL),
    scope: header.scope,
    flags: attributes.u32(IFA_FLAGS) ?? header.flags,
  };
}

/** `IFA_LOCAL` is the address of the interface, `IFA_ADDRESS` the peer (same without one). */
function addressAttributes(prefix: IpPrefix): Attribute[] {
  return [attr.bytes(IFA_LOCAL, prefix.bytes), attr.bytes(IFA_ADDRESS, prefix.bytes)];
}

function broadcastOf(prefix: IpPrefix): Buffer {
  const hostBits = 32 - prefix.prefixLength;
  const value =
    (prefix.bytes.readUInt32BE(0) | (hostBits === 32 ? 0xffffffff : (1 << hostBits) - 1)) >>> 0;
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value, 0);
  return out;
}
