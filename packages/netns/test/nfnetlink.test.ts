import { describe, expect, it } from 'vitest';
import {
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_IPV4,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_TABLE,
  NLM_F_ACK,
  NLM_F_MULTI,
  NLM_F_REQUEST,
} from '../src/constants.js';
import { formatIp, parseIp } from '../src/ip.js';
import { AttributeMap, decodeMessages, encodeMessage } from '../src/message.js';
import {
  deleteSetElements,
  inetServiceKey,
  ipv4ServiceValue,
  newSetElements,
  nftablesType,
  parseSetElements,
} from '../src/nfnetlink.js';
import type { NetlinkRequest } from '../src/socket.js';
import { nfgenmsg } from '../src/structs.js';
import { delSetElemMessage, dumpReplyPayloads, element, newSetElemMessage } from './nft-bytes.js';

// Pure encoding and parsing of nf_tables set-element messages, against bytes the
// kernel accepted (nat.test.ts sends these very bytes and reads the map with nft)
// and bytes the kernel sent.
const ref = { family: NFPROTO_IPV4, table: element.table, set: element.set };
const key = inetServiceKey.encode({ port: element.hostPort });
const data = ipv4ServiceValue.encode({
  address: parseIp(element.containerAddress).bytes.readUInt32BE(0),
  port: element.containerPort,
});

/** What NetlinkSocket.batch puts on the wire for a request (here with seq 0). */
function wire(request: NetlinkRequest): Buffer {
  return encodeMessage({
    type: request.type,
    flags: NLM_F_REQUEST | NLM_F_ACK | (request.flags ?? 0),
    seq: 0,
    body: request.body,
    ...(request.attributes === undefined ? {} : { attributes: request.attributes }),
  });
}

describe('nf_tables set elements over nfnetlink', () => {
  it('lays out register values in network byte order', () => {
    expect(key.toString('hex')).toBe('46a8');
    // ipv4_addr . inet_service: two 4-byte registers, the port padded.
    expect(data.toString('hex')).toBe('0a5900021f900000');
    expect(nfgenmsg.encode({ resourceId: NFNL_SUBSYS_NFTABLES }).toString('hex')).toBe('0000000a');
    expect(nftablesType(12)).toBe(0x0a0c);
  });

  it('encodes an exclusive NEWSETELEM byte for byte', () => {
    const request = newSetElements(ref, [{ key, data }], { exclusive: true });
    expect(wire(request).toString('hex')).toBe(newSetElemMessage.toString('hex'));
  });

  it('encodes a DELSETELEM of a key byte for byte', () => {
    const request = deleteSetElements(ref, [key]);
    expect(wire(request).toString('hex')).toBe(delSetElemMessage.toString('hex'));
  });

  it('decodes its own message back', () => {
    const [message] = decodeMessages(newSetElemMessage);
    expect(message).toMatchObject({ type: 0x0a0c, flags: 0x605, seq: 0 });
    const payload = message?.payload ?? Buffer.alloc(0);
    expect(nfgenmsg.decode(payload)).toEqual({ family: 2, version: 0, resourceId: 0 });
    const attributes = new AttributeMap(payload, nfgenmsg.size);
    expect(attributes.string(NFTA_SET_ELEM_LIST_TABLE)).toBe('tsbox_test');
    expect(attributes.string(NFTA_SET_ELEM_LIST_SET)).toBe('tcp_ports');
    // A NEWSETELEM request reads as the element list it carries.
    expect(parseSetElements([{ ...(message as NonNullable<typeof message>) }])).toEqual([
      { key, data },
    ]);
  });

  it("parses the kernel's dump replies", () => {
    const replies = dumpReplyPayloads.map((payload, i) => ({
      type: nftablesType(12),
      flags: NLM_F_MULTI,
      seq: i,
      pid: 0,
      payload,
    }));
    const elements = parseSetElements(replies);
    expect(elements).toHaveLength(1);
    const [only] = elements;
    expect(inetServiceKey.decode(only?.key ?? Buffer.alloc(2)).port).toBe(element.hostPort);
    const target = ipv4ServiceValue.decode(only?.data ?? Buffer.alloc(8));
    const address = Buffer.alloc(4);
    address.writeUInt32BE(target.address, 0);
    expect(formatIp(address)).toBe(element.containerAddress);
    expect(target.port).toBe(element.containerPort);
  });
});
