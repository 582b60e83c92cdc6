/**
 * Routes in the main table (or another): add, delete, list. One rtnetlink request
 * each; {@link Rtnetlink} wraps them as methods.
 */
import {
  AF_UNSPEC,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_BOOT,
} from './constants.js';
import { InvalidNetworkInputError } from './errors.js';
import { addressFamily, formatIp, parseIp, parsePrefix } from './ip.js';
import { type LinkRef, resolveLinkIndex } from './link.js';
import { type Attribute, AttributeMap, attr } from './message.js';
import type { NetlinkSocket } from './socket.js';
import { rtmsg } from './structs.js';

/** A route to add or delete. */
export interface RouteSpec {
  /** `'default'` (the default), or a prefix `'10.89.1.0/24'`. */
  destination?: string;
  /** Next hop; without it the route is on-link through `device`. */
  gateway?: string;
  /** Outgoing link; required without a gateway. */
  device?: LinkRef;
  /** Preferred source address. */
  source?: string;
  /** Metric (`RTA_PRIORITY`). */
  metric?: number;
  /** Routing table id (default main, 254). */
  table?: number;
}

/** A route as the kernel reports it. */
export interface Route {
  family: 4 | 6;
  /** `'default'` or `'10.89.0.0/24'`. */
  destination: string;
  gateway: string | undefined;
  /** Index of the outgoing link. */
  deviceIndex: number | undefined;
  source: string | undefined;
  metric: number | undefined;
  table: number;
  protocol: number;
  scope: number;
  type: number;
}

/**
 * Adds a route, e.g. the default route of a container:
 * `addRoute(nl, { gateway: '10.89.0.1' })`.
 * @throws {@link NetlinkError} `'EEXIST'` when it exists, `'ENETUNREACH'` when the
 *   gateway is not on a connected subnet.
 */
export function addRoute(nl: NetlinkSocket, route: RouteSpec): void {
  const message = encodeRoute(nl, route, 'add');
  nl.request({
    type: RTM_NEWROUTE,
    flags: NLM_F_CREATE | NLM_F_EXCL,
    ...message,
    subject: describeRoute(route),
  });
}

/**
 * Deletes a route matching `route`.
 * @throws {@link NetlinkError} `'ESRCH'` when there is no such route.
 */
export function deleteRoute(nl: NetlinkSocket, route: RouteSpec): void {
  nl.request({
    type: RTM_DELROUTE,
    ...encodeRoute(nl, route, 'delete'),
    subject: describeRoute(route),
  });
}

/** Routes of one family in the main table (or `table`). */
export function listRoutes(
  nl: NetlinkSocket,
  filter: { family?: 4 | 6; table?: number } = {},
): Route[] {
  const table = filter.table ?? RT_TABLE_MAIN;
  const replies = nl.dump({
    type: RTM_GETROUTE,
    body: rtmsg.encode({
      family: filter.family === undefined ? AF_UNSPEC : addressFamily(filter.family),
    }),
  });
  return replies
    .filter((m) => m.type === RTM_NEWROUTE)
    .map((m) => decodeRoute(m.payload))
    .filter((r) => r.table === table);
}

/** Decodes an `RTM_NEWROUTE` payload. */
export function decodeRoute(payload: Buffer): Route {
  const header = rtmsg.decode(payload);
  const attributes = new AttributeMap(payload, rtmsg.size);
  const dst = attributes.bytes(RTA_DST);
  const gateway = attributes.bytes(RTA_GATEWAY);
  const source = attributes.bytes(RTA_PREFSRC);
  return {
    family: header.family === 10 ? 6 : 4,
    destination: dst ? `${formatIp(dst)}/${header.dstLength}` : 'default',
    gateway: gateway ? formatIp(gateway) : undefined,
    deviceIndex: attributes.u32(RTA_OIF),
    source: source ? formatIp(source) : undefined,
    metric: attributes.u32(RTA_PRIORITY),
    table: attributes.u32(RTA_TABLE) ?? header.table,
    protocol: header.protocol,
    scope: header.scope,
    type: header.type,
  };
}

function describeRoute(route: RouteSpec): string {
  const via = route.gateway === undefined ? '' : ` via ${route.gateway}`;
  const dev = route.device === undefined ? '' : ` dev ${route.device}`;
  return `route ${route.destination ?? 'default'}${via}${dev}`;
}

function encodeRoute(
  nl: NetlinkSocket,
  route: RouteSpec,
  purpose: 'add' | 'delete',
): { body: Buffer; attributes: Attribute[] } {
  const destination = route.destination ?? 'default';
  const dst = destination === 'default' ? undefined : parsePrefix(destination, 'destination');
  const gateway = route.gateway === undefined ? undefined : parseIp(route.gateway, 'gateway');
  const family = dst?.family ?? gateway?.family ?? 4;
  if (gateway && gateway.family !== family) {
    throw new InvalidNetworkInputError('gateway', route.gateway, 'family differs from destination');
  }
  if (!gateway && route.device === undefined) {
    throw new InvalidNetworkInputError('route', destination, 'needs a gateway or a device');
  }
  const table = route.table ?? RT_TABLE_MAIN;
  const attributes: Attribute[] = [attr.u32(RTA_TABLE, table)];
  if (dst) attributes.push(attr.bytes(RTA_DST, dst.bytes));
  if (gateway) attributes.push(attr.bytes(RTA_GATEWAY, gateway.bytes));
  if (route.device !== undefined) {
    attributes.push(attr.u32(RTA_OIF, resolveLinkIndex(nl, route.device)));
  }
  if (route.source !== undefined) {
    attributes.push(attr.bytes(RTA_PREFSRC, parseIp(route.source, 'source').bytes));
  }
  if (route.metric !== undefined) attributes.push(attr.u32(RTA_PRIORITY, route.metric));
  const body = rtmsg.encode({
    family: addressFamily(family),
    dstLength: dst?.prefixLength ?? 0,
    // Tables above 255 only fit RTA_TABLE; the header field then says "see attribute".
    table: table > 255 ? 0 : table,
    protocol: purpose === 'add' ? RTPROT_BOOT : 0,
    // On delete, RT_SCOPE_NOWHERE (255) matches a route of any scope.
    scope: purpose === 'delete' ? 255 : gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
    type: purpose === 'add' ? RTN_UNICAST : 0,
  });
  return { body, attributes };
}
