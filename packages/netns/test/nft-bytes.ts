/**
 * nf_tables messages as bytes, shared by the pure encoding tests (message.test.ts)
 * and the kernel test that sends them and reads the result back with the nft
 * binary (nat.test.ts). The reply is what the kernel sent to a dump of the map
 * after the element was added (captured on kernel 6.18, nft 1.0.6 listing the
 * same element as `18088 : 10.89.0.2 . 8080`).
 *
 * Element: map `tcp_ports` of table `ip tsbox_test`, key 18088, data 10.89.0.2 . 8080.
 */

/** The element the bytes below carry. */
export const element = {
  table: 'tsbox_test',
  set: 'tcp_ports',
  hostPort: 18088,
  containerAddress: '10.89.0.2',
  containerPort: 8080,
} as const;

const hex = (parts: string[]) => Buffer.from(parts.join(''), 'hex');

/** NFT_MSG_NEWSETELEM, flags REQUEST|ACK|EXCL|CREATE, seq 0. */
export const newSetElemMessage = hex([
  '58000000', // nlmsg_len 88
  '0c0a', // type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM
  '0506', // flags 0x605
  '00000000', // seq
  '00000000', // port id
  '02000000', // nfgenmsg: NFPROTO_IPV4, version 0, res_id 0
  '0f000100', // NFTA_SET_ELEM_LIST_TABLE, len 15
  '7473626f785f7465737400', // "tsbox_test\0"
  '00', // pad
  '0e000200', // NFTA_SET_ELEM_LIST_SET, len 14
  '7463705f706f72747300', // "tcp_ports\0"
  '0000', // pad
  '24000380', // NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, len 36
  '20000180', //   NFTA_LIST_ELEM | nested, len 32
  '0c000180', //     NFTA_SET_ELEM_KEY | nested, len 12
  '06000100', //       NFTA_DATA_VALUE, len 6
  '46a8', //         18088, big-endian (inet_service alone: 2 bytes)
  '0000', //         pad
  '10000280', //     NFTA_SET_ELEM_DATA | nested, len 16
  '0c000100', //       NFTA_DATA_VALUE, len 12
  '0a590002', //         register 1: 10.89.0.2
  '1f900000', //         register 2: 8080 big-endian + 2 bytes of padding
]);

/** NFT_MSG_DELSETELEM of the same key, flags REQUEST|ACK, seq 0. */
export const delSetElemMessage = hex([
  '48000000', // nlmsg_len 72
  '0e0a', // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELSETELEM
  '0500', // flags REQUEST|ACK
  '00000000',
  '00000000',
  '02000000', // nfgenmsg
  '0f000100',
  '7473626f785f7465737400',
  '00',
  '0e000200',
  '7463705f706f72747300',
  '0000',
  '14000380', // NFTA_SET_ELEM_LIST_ELEMENTS | nested, len 20
  '10000180', //   NFTA_LIST_ELEM | nested, len 16
  '0c000180', //     NFTA_SET_ELEM_KEY | nested
  '06000100',
  '46a8',
  '0000',
]);

/**
 * Payloads of the kernel's two NFT_MSG_NEWSETELEM replies (flags NLM_F_MULTI) to a
 * dump of the map holding only the element: the element, then an empty list.
 * The kernel sets no NLA_F_NESTED, and `res_id` carries the ruleset generation.
 */
export const dumpReplyPayloads = [
  hex([
    '02000003',
    '0f0001007473626f785f746573740000',
    '0e0002007463705f706f727473000000',
    '24000300',
    '20000100',
    '0c000100',
    '0600010046a80000',
    '10000200',
    '0c0001000a5900021f900000',
  ]),
  hex([
    '02000003',
    '0f0001007473626f785f746573740000',
    '0e0002007463705f706f727473000000',
    '04000300',
  ]),
];
