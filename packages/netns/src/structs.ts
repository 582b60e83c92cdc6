import { defineStruct } from './struct.js';

/** `struct nlmsghdr` (linux/netlink.h): every netlink message starts with it. */
export const nlmsghdr = defineStruct([
  ['length', 'u32'],
  ['type', 'u16'],
  ['flags', 'u16'],
  ['seq', 'u32'],
  ['pid', 'u32'],
] as const);

/** `struct nlmsgerr` without its trailing copy of the request header. */
export const nlmsgerr = defineStruct([['error', 'i32']] as const);

/** `struct ifinfomsg` (linux/rtnetlink.h): the fixed part of RTM_*LINK messages. */
export const ifinfomsg = defineStruct([
  ['family', 'u8'],
  ['', 'pad8'],
  ['type', 'u16'],
  ['index', 'i32'],
  ['flags', 'u32'],
  ['change', 'u32'],
] as const);

/** `struct ifaddrmsg` (linux/if_addr.h): the fixed part of RTM_*ADDR messages. */
export const ifaddrmsg = defineStruct([
  ['family', 'u8'],
  ['prefixLength', 'u8'],
  ['flags', 'u8'],
  ['scope', 'u8'],
  ['index', 'u32'],
] as const);

/** `struct rtmsg` (linux/rtnetlink.h): the fixed part of RTM_*ROUTE messages. */
export const rtmsg = defineStruct([
  ['family', 'u8'],
  ['dstLength', 'u8'],
  ['srcLength', 'u8'],
  ['tos', 'u8'],
  ['table', 'u8'],
  ['protocol', 'u8'],
  ['scope', 'u8'],
  ['type', 'u8'],
  ['flags', 'u32'],
] as const);

/**
 * `struct nfgenmsg` (linux/netfilter/nfnetlink.h): the fixed part of every
 * nfnetlink message. `resourceId` is big-endian: the subsystem on a batch
 * begin/end message (`NFNL_SUBSYS_NFTABLES`), else 0.
 */
export const nfgenmsg = defineStruct([
  ['family', 'u8'],
  ['version', 'u8'],
  ['resourceId', 'u16be'],
] as const);

/** `struct sockaddr_nl` (linux/netlink.h). */
export const sockaddrNl = defineStruct([
  ['family', 'u16'],
  ['', 'pad16'],
  ['pid', 'u32'],
  ['groups', 'u32'],
] as const);

/** `struct timeval` on 64-bit Linux (for SO_RCVTIMEO). */
export const timeval64 = defineStruct([
  ['secondsLow', 'u32'],
  ['secondsHigh', 'u32'],
  ['microsLow', 'u32'],
  ['microsHigh', 'u32'],
] as const);
