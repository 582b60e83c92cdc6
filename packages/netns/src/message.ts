/**
 * Netlink framing: messages (`nlmsghdr` + body) and route attributes (`rtattr`,
 * type-length-value, 4-byte aligned, possibly nested). Pure functions over Buffers,
 * so message building and parsing are unit-tested without a kernel.
 */
import { nlmsghdr } from './structs.js';

const ALIGN = 4;
const ATTR_HEADER = 4;
/** Set on nested attributes; masked off when decoding. */
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export function align(length: number): number {
  return (length + ALIGN - 1) & ~(ALIGN - 1);
}

/** One encoded attribute (its value already encoded; nested ones are encoded eagerly). */
export interface Attribute {
  type: number;
  value: Buffer;
}

/** Constructors for attribute values of each wire type. */
export const attr = {
  bytes(type: number, value: Uint8Array): Attribute {
    return { type, value: Buffer.from(value) };
  },
  u8(type: number, value: number): Attribute {
    return { type, value: Buffer.from([value]) };
  },
  u32(type: number, value: number): Attribute {
    const buf = Buffer.alloc(4);
    buf.writeUInt32LE(value >>> 0, 0);
    return { type, value: buf };
  },
  /** A NUL-terminated string, as the kernel expects for names and kinds. */
  string(type: number, value: string): Attribute {
    return { type, value: Buffer.from(`${value}\0`) };
  },
  /**
   * A nested attribute: an optional fixed struct (`prefix`, e.g. the peer's
   * `ifinfomsg` inside `VETH_INFO_PEER`) followed by child attributes.
   */
  nested(type: number, children: Attribute[], prefix?: Buffer): Attribute {
    const body = encodeAttributes(children);
    return {
      type: type | NLA_F_NESTED,
      value: prefix ? Buffer.concat([prefix, body]) : body,
    };
  },
};

/** Encodes attributes back to back, each padded to 4 bytes. */
export function encodeAttributes(attributes: readonly Attribute[]): Buffer {
  let total = 0;
  for (const a of attributes) total += align(ATTR_HEADER + a.value.length);
  const out = Buffer.alloc(total);
  let offset = 0;
  for (const a of attributes) {
    out.writeUInt16LE(ATTR_HEADER + a.value.length, offset);
    out.writeUInt16LE(a.type, offset + 2);
    a.value.copy(out, offset + ATTR_HEADER);
    offset += align(ATTR_HEADER + a.value.length);
  }
  return out;
}

/**
 * Decoded attributes keyed by type (flags masked off). A type repeated in one list
 * keeps its last value, as the kernel's own parser does.
 */
export class AttributeMap {
  private readonly values = new Map<number, Buffer>();
  /** Types that occur more than once, with every value in order (nftables' `NFTA_LIST_ELEM`). */
  private readonly repeated = new Map<number, Buffer[]>();

  constructor(source: Buffer, offset = 0, end = source.length) {
    let at = offset;
    while (at + ATTR_HEADER <= end) {
      const length = source.readUInt16LE(at);
      if (length < ATTR_HEADER || at + length > end) break;
      const type = source.readUInt16LE(at + 2) & NLA_TYPE_MASK;
      const value = source.subarray(at + ATTR_HEADER, at + length);
      const previous = this.values.get(type);
      if (previous !== undefined) {
        const list = this.repeated.get(type);
        if (list) list.push(value);
        else this.repeated.set(type, [previous, value]);
      }
      this.values.set(type, value);
      at += align(length);
    }
  }

  has(type: number): boolean {
    return this.values.has(type);
  }

  bytes(type: number): Buffer | undefined {
    return this.values.get(type);
  }

  /** Every value of a type that may repeat in one list, in order (empty when absent). */
  all(type: number): Buffer[] {
    const list = this.repeated.get(type);
    if (list) return [...list];
    const one = this.values.get(type);
    return one === undefined ? [] : [one];
  }

  u8(type: number): number | undefined {
    const v = this.values.get(type);
    return v && v.length >= 1 ? v.readUInt8(0) : undefined;
  }

  u32(type: number): number | undefined {
    const v = this.values.get(type);
    return v && v.length >= 4 ? v.readUInt32LE(0) : undefined;
  }

  i32(type: number): number | undefined {
    const v = this.values.get(type);
    return v && v.length >= 4 ? v.readInt32LE(0) : undefined;
  }

  /** A string attribute, up to its NUL terminator. */
  string(type: number): string | undefined {
    const v = this.values.get(type);
    if (!v) return undefined;
    const nul = v.indexOf(0);
    return v.toString('utf8', 0, nul < 0 ? v.length : nul);
  }

  /** Parses a nested attribute's children (after a fixed struct of `prefixSize` bytes). */
  nested(type: number, prefixSize = 0): AttributeMap | undefined {
    const v = this.values.get(type);
    return v ? new AttributeMap(v, prefixSize) : undefined;
  }
}

/** A request to encode: header fields (length is computed), fixed body, attributes. */
export interface OutgoingMessage {
  type: number;
  flags: number;
  seq: number;
  /** The fixed struct after the header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`). */
  body: Buffer;
  attributes?: readonly Attribute[];
}

/** Encodes one netlink message: `nlmsghdr`, the fixed body, then the attributes. */
export function encodeMessage(message: OutgoingMessage): Buffer {
  const attributes = encodeAttributes(message.attributes ?? []);
  const bodyLength = align(message.body.length);
  const length = nlmsghdr.size + bodyLength + attributes.length;
  const out = Buffer.alloc(length);
  nlmsghdr.write(out, 0, {
    length,
    type: message.type,
    flags: message.flags,
    seq: message.seq,
    pid: 0,
  });
  message.body.copy(out, nlmsghdr.size);
  attributes.copy(out, nlmsghdr.size + bodyLength);
  return out;
}

/** One received message; `payload` is everything after the header (a view, not a copy). */
export interface IncomingMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** Splits a datagram into its messages; stops at a truncated or malformed header. */
export function decodeMessages(datagram: Buffer): IncomingMessage[] {
  const out: IncomingMessage[] = [];
  let at = 0;
  while (at + nlmsghdr.size <= datagram.length) {
    const header = nlmsghdr.decode(datagram, at);
    if (header.length < nlmsghdr.size || at + header.length > datagram.length) break;
    out.push({
      type: header.type,
      flags: header.flags,
      seq: header.seq,
      pid: header.pid,
      payload: datagram.subarray(at + nlmsghdr.size, at + header.length),
    });
    at += align(header.length);
  }
  return out;
}
