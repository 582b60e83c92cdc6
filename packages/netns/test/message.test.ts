import { describe, expect, it } from 'vitest';
import { IFLA_IFNAME, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MTU } from '../src/constants.js';
import { formatIp, parsePrefix, Subnet } from '../src/ip.js';
import { AttributeMap, attr, decodeMessages, encodeMessage } from '../src/message.js';
import { ifinfomsg } from '../src/structs.js';

// Pure framing: no kernel needed, byte layouts checked against the UAPI structs.
describe('netlink framing', () => {
  it('encodes nlmsghdr + ifinfomsg + padded, nested attributes', () => {
    const datagram = encodeMessage({
      type: 16,
      flags: 0x605,
      seq: 7,
      body: ifinfomsg.encode({ index: 3, flags: 1, change: 1 }),
      attributes: [
        attr.string(IFLA_IFNAME, 'tsb0'),
        attr.u32(IFLA_MTU, 1500),
        attr.nested(IFLA_LINKINFO, [attr.string(IFLA_INFO_KIND, 'veth')]),
      ],
    });
    // 16 header + 16 ifinfomsg + 12 (4+5 padded) + 8 + (4 + 12) nested.
    expect(datagram.length).toBe(16 + 16 + 12 + 8 + 16);
    expect(datagram.readUInt32LE(0)).toBe(datagram.length);
    expect(datagram.readUInt16LE(4)).toBe(16);
    expect(datagram.readUInt16LE(6)).toBe(0x605);
    expect(datagram.readUInt32LE(8)).toBe(7);
    expect(datagram.readInt32LE(16 + 4)).toBe(3);
    // The nested attribute carries NLA_F_NESTED.
    expect(datagram.readUInt16LE(16 + 16 + 12 + 8 + 2)).toBe(IFLA_LINKINFO | 0x8000);

    const [message] = decodeMessages(datagram);
    expect(message).toMatchObject({ type: 16, flags: 0x605, seq: 7 });
    const payload = message?.payload ?? Buffer.alloc(0);
    expect(ifinfomsg.decode(payload)).toMatchObject({ index: 3, flags: 1, change: 1 });
    const attributes = new AttributeMap(payload, ifinfomsg.size);
    expect(attributes.string(IFLA_IFNAME)).toBe('tsb0');
    expect(attributes.u32(IFLA_MTU)).toBe(1500);
    expect(attributes.nested(IFLA_LINKINFO)?.string(IFLA_INFO_KIND)).toBe('veth');
  });

  it('splits a datagram of several messages and stops at a truncated one', () => {
    const one = encodeMessage({ type: 3, flags: 2, seq: 1, body: Buffer.alloc(4) });
    const two = encodeMessage({ type: 2, flags: 0, seq: 2, body: Buffer.alloc(4) });
    const messages = decodeMessages(Buffer.concat([one, two, two.subarray(0, 10)]));
    expect(messages.map((m) => m.seq)).toEqual([1, 2]);
  });
});

describe('addresses and subnets', () => {
  it('parses and formats IPv4 and IPv6', () => {
    expect(parsePrefix('10.89.0.2/24')).toMatchObject({ family: 4, prefixLength: 24 });
    expect(formatIp(parsePrefix('fd89:0:0::1/64').bytes)).toBe('fd89::1');
    expect(formatIp(parsePrefix('::ffff:10.0.0.1').bytes)).toBe('::ffff:a00:1');
    expect(formatIp(parsePrefix('2001:db8:0:1:0:0:0:1').bytes)).toBe('2001:db8:0:1::1');
    expect(() => parsePrefix('10.89.0.2/33')).toThrow(/prefix length/);
  });

  it('does host arithmetic on a subnet', () => {
    const subnet = Subnet.parse('10.89.3.0/24');
    expect(subnet.size).toBe(256);
    expect(subnet.at(1)).toBe('10.89.3.1');
    expect(subnet.offsetOf('10.89.3.77')).toBe(77);
    expect(subnet.contains('10.89.4.1')).toBe(false);
    expect(() => Subnet.parse('10.89.3.1/24')).toThrow(/host bits/);
  });
});
