import {
  type AddAddressOptions,
  type Address,
  addAddress,
  deleteAddress,
  type ListAddressesFilter,
  listAddresses,
} from './address.js';
import {
  type CreateBridgeOptions,
  type CreateVethOptions,
  createBridge,
  createVeth,
  deleteLink,
  findLink,
  getLink,
  type Link,
  type LinkRef,
  listLinks,
  moveLinkToNetns,
  setLinkUp,
  setMac,
  setMaster,
  setMtu,
} from './link.js';
import type { NetnsTarget } from './netns.js';
import { addRoute, deleteRoute, listRoutes, type Route, type RouteSpec } from './route.js';
import { NetlinkSocket, type NetlinkSocketOptions } from './socket.js';

/**
 * An rtnetlink client bound to one network namespace: the host's, or a
 * container's when opened with `{ netns: { pid } }`. Every method is one (rarely
 * two) synchronous netlink round trips; no `ip` process is spawned.
 *
 * ```ts
 * using host = Rtnetlink.open();
 * host.createBridge({ name: 'tsbox0' });
 * host.addAddress('tsbox0', '10.89.0.1/24');
 * host.createVeth({ name: 'tsbv1', peerName: 'eth0', peerNetns: { pid }, master: 'tsbox0' });
 * using inside = Rtnetlink.open({ netns: { pid } });
 * inside.addAddress('eth0', '10.89.0.2/24');
 * inside.addRoute({ gateway: '10.89.0.1' });
 * ```
 *
 * Errors are {@link NetlinkError}s carrying the kernel's errno name and the stage
 * (`'netlink.newaddr'`...); bad arguments throw {@link InvalidNetworkInputError}
 * before anything is sent.
 */
export class Rtnetlink implements Disposable {
  /** The underlying socket, for requests this class has no method for. */
  readonly socket: NetlinkSocket;

  private constructor(socket: NetlinkSocket) {
    this.socket = socket;
  }

  /**
   * Opens a client in the caller's namespace, or in `options.netns`. A socket
   * opened in a namespace holds a reference to it: the namespace (and its veths)
   * outlives its last process until the socket is closed.
   */
  static open(options: NetlinkSocketOptions = {}): Rtnetlink {
    return new Rtnetlink(NetlinkSocket.open(options));
  }

  /** All links of the namespace. */
  listLinks(): Link[] {
    return listLinks(this.socket);
  }

  /** One link; throws `ENODEV` when missing. */
  getLink(link: LinkRef): Link {
    return getLink(this.socket, link);
  }

  /** One link, or `undefined` when missing. */
  findLink(link: LinkRef): Link | undefined {
    return findLink(this.socket, link);
  }

  /** Creates a veth pair, the peer optionally born in another namespace. See {@link CreateVethOptions}. */
  createVeth(options: CreateVethOptions): void {
    createVeth(this.socket, options);
  }

  /** Creates a bridge (up by default). */
  createBridge(options: CreateBridgeOptions): void {
    createBridge(this.socket, options);
  }

  /** Deletes a link (both ends of a veth). Blocks ≈ 20 ms for a veth; see {@link deleteLink}. */
  deleteLink(link: LinkRef): void {
    deleteLink(this.socket, link);
  }

  /** Sets a link up (`true`) or down. */
  setLinkUp(link: LinkRef, up: boolean): void {
    setLinkUp(this.socket, link, up);
  }

  /** Enslaves a link to a bridge, or frees it (`null`). */
  setMaster(link: LinkRef, master: LinkRef | null): void {
    setMaster(this.socket, link, master);
  }

  /** Moves a link into another namespace. */
  moveLinkToNetns(link: LinkRef, target: NetnsTarget): void {
    moveLinkToNetns(this.socket, link, target);
  }

  setMtu(link: LinkRef, mtu: number): void {
    setMtu(this.socket, link, mtu);
  }

  setMac(link: LinkRef, mac: string): void {
    setMac(this.socket, link, mac);
  }

  /** Adds `'10.89.0.2/24'` or `'fd89::2/64'`; throws `EEXIST` when present. */
  addAddress(link: LinkRef, cidr: string, options?: AddAddressOptions): void {
    addAddress(this.socket, link, cidr, options);
  }

  /** Removes an address; throws `EADDRNOTAVAIL` when absent. */
  deleteAddress(link: LinkRef, cidr: string): void {
    deleteAddress(this.socket, link, cidr);
  }

  listAddresses(filter?: ListAddressesFilter): Address[] {
    return listAddresses(this.socket, filter);
  }

  /** Adds a route; `{ gateway }` alone is a default route. */
  addRoute(route: RouteSpec): void {
    addRoute(this.socket, route);
  }

  deleteRoute(route: RouteSpec): void {
    deleteRoute(this.socket, route);
  }

  listRoutes(filter?: { family?: 4 | 6; table?: number }): Route[] {
    return listRoutes(this.socket, filter);
  }

  /** Closes the socket; idempotent. */
  close(): void {
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
