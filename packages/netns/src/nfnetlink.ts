/**
 * nf_tables over nfnetlink: the messages that add, delete and list the elements of
 * a set or map, and look up a table. Pure functions over Buffers (unit-tested
 * without a kernel); {@link NetlinkSocket.batch} sends them as one transaction on a
 * `NETLINK_NETFILTER` socket, {@link NetlinkSocket.dump} lists.
 *
 * An element is an `NFTA_LIST_ELEM` inside `NFTA_SET_ELEM_LIST_ELEMENTS`, with its
 * key (and, in a map, its data) as `NFTA_DATA_VALUE` bytes: the contents of
 * nf_tables registers, network byte order. A key of one field is that field's own
 * length (`inet_service`: 2 bytes); each field of a concatenation
 * (`ipv4_addr . inet_service`) fills whole 4-byte registers, so a port there is
 * 2 bytes plus 2 of padding. The layouts below are declared as structs, like the
 * kernel's own.
 */
import {
  NFNETLINK_V0,
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_DELSETELEM,
  NFT_MSG_GETCHAIN,
  NFT_MSG_GETSETELEM,
  NFT_MSG_GETTABLE,
  NFT_MSG_NEWSETELEM,
  NFTA_CHAIN_NAME,
  NFTA_CHAIN_TABLE,
  NFTA_DATA_VALUE,
  NFTA_LIST_ELEM,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_TABLE_NAME,
  NLM_F_CREATE,
  NLM_F_EXCL,
} from './constants.js';
import { AttributeMap, attr, type IncomingMessage } from './message.js';
import type { NetlinkRequest } from './socket.js';
import { defineStruct } from './struct.js';
import { nfgenmsg } from './structs.js';

/** Register layout of an `inet_service` key alone: the port, big-endian, no padding. */
export const inetServiceKey = defineStruct([['port', 'u16be']] as const);

/**
 * Register layout of `ipv4_addr . inet_service` (a published port's target): the
 * address in one register, the port in the next, padded to 4 bytes.
 */
export const ipv4ServiceValue = defineStruct([
  ['address', 'u32be'],
  ['port', 'u16be'],
  ['', 'pad16'],
] as const);

/** One element of a set (`data` undefined) or map, as register bytes. */
export interface SetElement {
  key: Buffer;
  data?: Buffer;
}

/** Which set of which table: family (`NFPROTO_IPV4` for `ip`), table and set names. */
export interface SetRef {
  family: number;
  table: string;
  set: string;
}

/** The nlmsghdr type of an nf_tables message: `NFNL_SUBSYS_NFTABLES << 8 | type`. */
export function nftablesType(message: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | message;
}

function body(family: number): Buffer {
  return nfgenmsg.encode({ family, version: NFNETLINK_V0, resourceId: 0 });
}

function elementAttribute(element: SetElement) {
  const parts = [attr.nested(NFTA_SET_ELEM_KEY, [attr.bytes(NFTA_DATA_VALUE, element.key)])];
  if (element.data !== undefined) {
    parts.push(attr.nested(NFTA_SET_ELEM_DATA, [attr.bytes(NFTA_DATA_VALUE, element.data)]));
  }
  return attr.nested(NFTA_LIST_ELEM, parts);
}

/**
 * `NFT_MSG_NEWSETELEM` adding `elements` to a set. With `exclusive` (nft's
 * `create element`) a key already present fails the request with `EEXIST`;
 * without it (`add element`) an identical element is accepted as it is.
 */
export function newSetElements(
  ref: SetRef,
  elements: readonly SetElement[],
  options: { exclusive?: boolean; subject?: string } = {},
): NetlinkRequest {
  return {
    type: nftablesType(NFT_MSG_NEWSETELEM),
    flags: NLM_F_CREATE | (options.exclusive ? NLM_F_EXCL : 0),
    body: body(ref.family),
    attributes: [
      attr.string(NFTA_SET_ELEM_LIST_TABLE, ref.table),
      attr.string(NFTA_SET_ELEM_LIST_SET, ref.set),
      attr.nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements.map(elementAttribute)),
    ],
    ...(options.subject === undefined ? {} : { subject: options.subject }),
  };
}

/**
 * `NFT_MSG_DELSETELEM` removing the elements with these keys (a map's data is not
 * compared). A key that is not in the set fails the request with `ENOENT`.
 */
export function deleteSetElements(
  ref: SetRef,
  keys: readonly Buffer[],
  options: { subject?: string } = {},
): NetlinkRequest {
  return {
    type: nftablesType(NFT_MSG_DELSETELEM),
    body: body(ref.family),
    attributes: [
      attr.string(NFTA_SET_ELEM_LIST_TABLE, ref.table),
      attr.string(NFTA_SET_ELEM_LIST_SET, ref.set),
      attr.nested(
        NFTA_SET_ELEM_LIST_ELEMENTS,
        keys.map((key) => elementAttribute({ key })),
      ),
    ],
    ...(options.subject === undefined ? {} : { subject: options.subject }),
  };
}

/** `NFT_MSG_GETSETELEM`, to be sent as a dump: every element of the set. */
export function listSetElements(ref: SetRef): NetlinkRequest {
  return {
    type: nftablesType(NFT_MSG_GETSETELEM),
    body: body(ref.family),
    attributes: [
      attr.string(NFTA_SET_ELEM_LIST_TABLE, ref.table),
      attr.string(NFTA_SET_ELEM_LIST_SET, ref.set),
    ],
    subject: `set ${ref.table} ${ref.set}`,
  };
}

/** `NFT_MSG_GETTABLE` for one table (answered with the table, or `ENOENT`). */
export function getTable(family: number, table: string): NetlinkRequest {
  return {
    type: nftablesType(NFT_MSG_GETTABLE),
    body: body(family),
    attributes: [attr.string(NFTA_TABLE_NAME, table)],
    subject: `table ${table}`,
  };
}

/** `NFT_MSG_GETCHAIN` for one chain of a table (answered with the chain, or `ENOENT`). */
export function getChain(family: number, table: string, chain: string): NetlinkRequest {
  return {
    type: nftablesType(NFT_MSG_GETCHAIN),
    body: body(family),
    attributes: [attr.string(NFTA_CHAIN_TABLE, table), attr.string(NFTA_CHAIN_NAME, chain)],
    subject: `chain ${table} ${chain}`,
  };
}

/** The elements in the replies to {@link listSetElements}, in the kernel's order. */
export function parseSetElements(messages: readonly IncomingMessage[]): SetElement[] {
  const out: SetElement[] = [];
  for (const message of messages) {
    if (message.type !== nftablesType(NFT_MSG_NEWSETELEM)) continue;
    const list = new AttributeMap(message.payload, nfgenmsg.size).nested(
      NFTA_SET_ELEM_LIST_ELEMENTS,
    );
    for (const raw of list?.all(NFTA_LIST_ELEM) ?? []) {
      const element = new AttributeMap(raw);
      const key = element.nested(NFTA_SET_ELEM_KEY)?.bytes(NFTA_DATA_VALUE);
      if (key === undefined) continue;
      const data = element.nested(NFTA_SET_ELEM_DATA)?.bytes(NFTA_DATA_VALUE);
      out.push(data === undefined ? { key } : { key, data });
    }
  }
  return out;
}
