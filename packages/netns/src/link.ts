/**
 * Links (network interfaces): list, create veth pairs and bridges, delete, and
 * change state, master, namespace, MTU and MAC. Each function is one rtnetlink
 * request on a {@link NetlinkSocket}; {@link Rtnetlink} wraps them as methods.
 */
import {
  AF_UNSPEC,
  IFF_LOWER_UP,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_EXT_MASK,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINK_NETNSID,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  IFLA_OPERSTATE,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  VETH_INFO_PEER,
} from './constants.js';
import { InvalidNetworkInputError, NetlinkError } from './errors.js';
import { type Attribute, AttributeMap, attr } from './message.js';
import { checkInterfaceName, formatMac, parseMac } from './names.js';
import { holdNetns, type NetnsTarget } from './netns.js';
import { NetlinkSocket } from './socket.js';
import { ifinfomsg } from './structs.js';

/** A link by name (`'tsb0'`) or by interface index (`7`). */
export type LinkRef = string | number;

/** A link as the kernel reports it. */
export interface Link {
  index: number;
  name: string;
  /** `IFLA_INFO_KIND`: `'veth'`, `'bridge'`, ... (undefined for physical devices and lo). */
  kind: string | undefined;
  /** Raw `IFF_*` flags. */
  flags: number;
  /** Administratively up (`IFF_UP`). */
  up: boolean;
  /** Carrier present (`IFF_LOWER_UP`). */
  lowerUp: boolean;
  mtu: number;
  /** Hardware address, `'aa:bb:cc:dd:ee:ff'`. */
  mac: string | undefined;
  /** Index of the bridge it is enslaved to. */
  masterIndex: number | undefined;
  /** `IFLA_LINK`: for a veth, the peer's index (in the peer's namespace). */
  linkIndex: number | undefined;
  /** Set when the peer lives in another namespace (its netns id as seen from here). */
  linkNetnsId: number | undefined;
  /** RFC 2863 operational state (`IF_OPER_*`: 6 = up, 2 = down...). */
  operState: number | undefined;
}

/** Options of {@link createVeth}. */
export interface CreateVethOptions {
  /** This side's name (stays in the socket's namespace). */
  name: string;
  /** The other side's name; `'eth0'` is fine when it goes into another namespace. */
  peerName: string;
  /**
   * Create the peer directly in this namespace (one request, no move afterwards):
   * `{ pid }` is sent as `IFLA_NET_NS_PID`, `{ fd }` and `{ path }` as `IFLA_NET_NS_FD`.
   */
  peerNetns?: NetnsTarget;
  /** Enslave this side to a bridge at creation. */
  master?: LinkRef;
  /** Bring this side up at creation (default true). */
  up?: boolean;
  /**
   * Bring the peer up too (default true). The kernel refuses `IFF_UP` on a veth
   * peer inside the create request (`ENOTCONN`: the pair is not linked yet when
   * the peer is configured), so this is a second request, sent in the peer's
   * namespace. Pass `false` when you will configure the peer yourself anyway.
   */
  peerUp?: boolean;
  mtu?: number;
  mac?: string;
  peerMac?: string;
}

/** Options of {@link createBridge}. */
export interface CreateBridgeOptions {
  name: string;
  /** Bring it up at creation (default true). */
  up?: boolean;
  mtu?: number;
  mac?: string;
}

/** All links of the socket's namespace (one `RTM_GETLINK` dump). */
export function listLinks(nl: NetlinkSocket): Link[] {
  const replies = nl.dump({
    type: RTM_GETLINK,
    body: ifinfomsg.encode({ family: AF_UNSPEC }),
    attributes: [attr.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)],
  });
  return replies.filter((m) => m.type === RTM_NEWLINK).map((m) => decodeLink(m.payload));
}

/**
 * One link by name or index.
 * @throws {@link NetlinkError} with errno `'ENODEV'` when there is none.
 */
export function getLink(nl: NetlinkSocket, link: LinkRef): Link {
  const [reply] = nl.request({
    type: RTM_GETLINK,
    body: ifinfomsg.encode({ family: AF_UNSPEC, index: refIndex(link) }),
    attributes: [...refAttributes(link), attr.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)],
    subject: `link ${link}`,
  });
  if (!reply) throw new NetlinkError('netlink.getlink', `No reply for link ${link}`);
  return decodeLink(reply.payload);
}

/** Like {@link getLink}, but `undefined` when the link does not exist. */
export function findLink(nl: NetlinkSocket, link: LinkRef): Link | undefined {
  try {
    return getLink(nl, link);
  } catch (error) {
    if (error instanceof NetlinkError && error.errno === 'ENODEV') return undefined;
    throw error;
  }
}

/**
 * Creates a veth pair in one request. With `peerNetns` the peer is born in that
 * namespace; with `master` this side is enslaved at once; both sides come up unless
 * told otherwise.
 * @throws {@link NetlinkError} `'EEXIST'` when a name is taken.
 */
export function createVeth(nl: NetlinkSocket, options: CreateVethOptions): void {
  checkInterfaceName(options.name, 'name');
  checkInterfaceName(options.peerName, 'peerName');
  const peerAttributes: Attribute[] = [attr.string(IFLA_IFNAME, options.peerName)];
  if (options.peerMac !== undefined) {
    peerAttributes.push(attr.bytes(IFLA_ADDRESS, parseMac(options.peerMac, 'peerMac')));
  }
  if (options.mtu !== undefined) peerAttributes.push(attr.u32(IFLA_MTU, checkMtu(options.mtu)));
  const opened = options.peerNetns ? netnsAttribute(options.peerNetns) : undefined;
  try {
    if (opened) peerAttributes.push(opened.attribute);
    const peer = ifinfomsg.encode({ family: AF_UNSPEC });
    const attributes: Attribute[] = [
      attr.string(IFLA_IFNAME, options.name),
      ...commonAttributes(nl, options),
      attr.nested(IFLA_LINKINFO, [
        attr.string(IFLA_INFO_KIND, 'veth'),
        attr.nested(IFLA_INFO_DATA, [attr.nested(VETH_INFO_PEER, peerAttributes, peer)]),
      ]),
    ];
    const up = options.up ?? true;
    nl.request({
      type: RTM_NEWLINK,
      flags: NLM_F_CREATE | NLM_F_EXCL,
      body: ifinfomsg.encode({
        family: AF_UNSPEC,
        flags: up ? IFF_UP : 0,
        change: up ? IFF_UP : 0,
      }),
      attributes,
      subject: `veth ${options.name} / ${options.peerName}`,
    });
  } finally {
    opened?.release();
  }
  if (options.peerUp ?? true) {
    if (options.peerNetns === undefined) {
      setLinkUp(nl, options.peerName, true);
    } else {
      using peerSide = NetlinkSocket.open({ netns: options.peerNetns });
      setLinkUp(peerSide, options.peerName, true);
    }
  }
}

/**
 * Creates a bridge (STP off, the kernel default, so ports forward at once).
 * @throws {@link NetlinkError} `'EEXIST'` when the name is taken.
 */
export function createBridge(nl: NetlinkSocket, options: CreateBridgeOptions): void {
  checkInterfaceName(options.name);
  const up = options.up ?? true;
  nl.request({
    type: RTM_NEWLINK,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    body: ifinfomsg.encode({ family: AF_UNSPEC, flags: up ? IFF_UP : 0, change: up ? IFF_UP : 0 }),
    attributes: [
      attr.string(IFLA_IFNAME, options.name),
      ...commonAttributes(nl, options),
      attr.nested(IFLA_LINKINFO, [attr.string(IFLA_INFO_KIND, 'bridge')]),
    ],
    subject: `bridge ${options.name}`,
  });
}

/**
 * Deletes a link (for a veth: both ends). Note this waits for the kernel to tear the
 * device down (about 20 ms for a veth); a veth whose peer lives in a namespace that
 * is about to die can simply be left to the kernel.
 * @throws {@link NetlinkError} `'ENODEV'` when it does not exist.
 */
export function deleteLink(nl: NetlinkSocket, link: LinkRef): void {
  nl.request({
    type: RTM_DELLINK,
    body: ifinfomsg.encode({ family: AF_UNSPEC, index: refIndex(link) }),
    attributes: refAttributes(link),
    subject: `link ${link}`,
  });
}

/** Sets a link administratively up or down. */
export function setLinkUp(nl: NetlinkSocket, link: LinkRef, up: boolean): void {
  modifyLink(nl, link, [], up ? IFF_UP : 0, IFF_UP);
}

/** Enslaves a link to a bridge, or frees it with `null`. */
export function setMaster(nl: NetlinkSocket, link: LinkRef, master: LinkRef | null): void {
  const masterIndex = master === null ? 0 : resolveLinkIndex(nl, master);
  modifyLink(nl, link, [attr.u32(IFLA_MASTER, masterIndex)]);
}

/** Moves a link into another network namespace (it keeps its name there). */
export function moveLinkToNetns(nl: NetlinkSocket, link: LinkRef, target: NetnsTarget): void {
  const opened = netnsAttribute(target);
  try {
    modifyLink(nl, link, [opened.attribute]);
  } finally {
    opened.release();
  }
}

/** Sets the MTU (68..65535 for IPv4 links; the kernel enforces the device's range). */
export function setMtu(nl: NetlinkSocket, link: LinkRef, mtu: number): void {
  modifyLink(nl, link, [attr.u32(IFLA_MTU, checkMtu(mtu))]);
}

/** Sets the hardware address, `'02:42:0a:59:00:02'`. */
export function setMac(nl: NetlinkSocket, link: LinkRef, mac: string): void {
  modifyLink(nl, link, [attr.bytes(IFLA_ADDRESS, parseMac(mac))]);
}

/** Decodes an `RTM_NEWLINK` payload (`ifinfomsg` + attributes). */
export function decodeLink(payload: Buffer): Link {
  const header = ifinfomsg.decode(payload);
  const attributes = new AttributeMap(payload, ifinfomsg.size);
  const mac = attributes.bytes(IFLA_ADDRESS);
  return {
    index: header.index,
    name: attributes.string(IFLA_IFNAME) ?? '',
    kind: attributes.nested(IFLA_LINKINFO)?.string(IFLA_INFO_KIND),
    flags: header.flags,
    up: (header.flags & IFF_UP) !== 0,
    lowerUp: (header.flags & IFF_LOWER_UP) !== 0,
    mtu: attributes.u32(IFLA_MTU) ?? 0,
    mac: mac ? formatMac(mac) : undefined,
    masterIndex: attributes.u32(IFLA_MASTER),
    linkIndex: attributes.u32(IFLA_LINK),
    linkNetnsId: attributes.i32(IFLA_LINK_NETNSID),
    operState: attributes.u8(IFLA_OPERSTATE),
  };
}

/** One `RTM_NEWLINK` (without `NLM_F_CREATE`) that changes an existing link. */
function modifyLink(
  nl: NetlinkSocket,
  link: LinkRef,
  attributes: Attribute[],
  flags = 0,
  change = 0,
): void {
  nl.request({
    type: RTM_NEWLINK,
    body: ifinfomsg.encode({ family: AF_UNSPEC, index: refIndex(link), flags, change }),
    attributes: [...refAttributes(link), ...attributes],
    subject: `link ${link}`,
  });
}

function commonAttributes(
  nl: NetlinkSocket,
  options: { mtu?: number; mac?: string; master?: LinkRef },
): Attribute[] {
  const out: Attribute[] = [];
  if (options.mtu !== undefined) out.push(attr.u32(IFLA_MTU, checkMtu(options.mtu)));
  if (options.mac !== undefined) out.push(attr.bytes(IFLA_ADDRESS, parseMac(options.mac)));
  if (options.master !== undefined) {
    out.push(attr.u32(IFLA_MASTER, resolveLinkIndex(nl, options.master)));
  }
  return out;
}

/** Names are sent as `IFLA_IFNAME` with index 0: the kernel looks them up itself. */
function refIndex(link: LinkRef): number {
  if (typeof link === 'number') {
    if (!Number.isInteger(link) || link <= 0) {
      throw new InvalidNetworkInputError('link', link, 'an interface index is a positive integer');
    }
    return link;
  }
  return 0;
}

function refAttributes(link: LinkRef): Attribute[] {
  return typeof link === 'string'
    ? [attr.string(IFLA_IFNAME, checkInterfaceName(link, 'link'))]
    : [];
}

/** The index of a link; a name costs one `RTM_GETLINK`. @internal */
export function resolveLinkIndex(nl: NetlinkSocket, link: LinkRef): number {
  return typeof link === 'number' ? refIndex(link) : getLink(nl, link).index;
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new InvalidNetworkInputError('mtu', mtu, 'an MTU is an integer in 68..65535');
  }
  return mtu;
}

/** The attribute naming a namespace, and the fd to close afterwards for a path. */
function netnsAttribute(target: NetnsTarget): { attribute: Attribute; release(): void } {
  if ('pid' in target) {
    return { attribute: attr.u32(IFLA_NET_NS_PID, target.pid), release: () => {} };
  }
  const held = holdNetns(target);
  return { attribute: attr.u32(IFLA_NET_NS_FD, held.fd), release: held.release };
}
