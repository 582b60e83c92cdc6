import { isIPv4, isIPv6 } from 'node:net';
import { AF_INET, AF_INET6 } from './constants.js';
import { InvalidNetworkInputError } from './errors.js';

/** An IP address in wire form: family and 4 or 16 network-order bytes. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Buffer;
}

/** An address with a prefix length, `10.89.0.2/24` or `fd00::2/64`. */
export interface IpPrefix extends IpAddress {
  prefixLength: number;
}

/** The `AF_*` constant of a family. */
export function addressFamily(family: 4 | 6): number {
  return family === 4 ? AF_INET : AF_INET6;
}

/** Parses `'10.89.0.2'` or `'fd00::2'`; throws {@link InvalidNetworkInputError}. */
export function parseIp(text: string, field = 'address'): IpAddress {
  if (isIPv4(text)) {
    return { family: 4, bytes: Buffer.from(text.split('.').map(Number)) };
  }
  if (isIPv6(text)) return { family: 6, bytes: parseIpv6(text) };
  throw new InvalidNetworkInputError(field, text, 'not an IPv4 or IPv6 address');
}

/** Parses `'10.89.0.2/24'`; without a prefix length the full length (/32, /128) is used. */
export function parsePrefix(text: string, field = 'address'): IpPrefix {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash), field);
  const max = ip.family === 4 ? 32 : 128;
  const lengthText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefixLength = Number(lengthText);
  if (!/^\d{1,3}$/.test(lengthText) || prefixLength > max) {
    throw new InvalidNetworkInputError(field, text, `prefix length must be 0..${max}`);
  }
  return { ...ip, prefixLength };
}

/** Formats wire bytes back to text (`'10.89.0.2'`, `'fd00::2'`, canonical IPv6 form). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // Compress the longest run (length >= 2) of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

function parseIpv6(text: string): Buffer {
  let body = text;
  const out = Buffer.alloc(16);
  // An embedded dotted quad (::ffff:1.2.3.4) becomes the last two groups.
  const lastColon = body.lastIndexOf(':');
  const tailV4 = body.slice(lastColon + 1);
  if (tailV4.includes('.')) {
    const v4 = tailV4.split('.').map(Number);
    body = `${body.slice(0, lastColon + 1)}${(((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16)}:${(((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16)}`;
  }
  const [headText = '', tailText] = body.split('::');
  const head = headText === '' ? [] : headText.split(':');
  const tail = tailText === undefined || tailText === '' ? [] : tailText.split(':');
  const groups = [...head, ...new Array(8 - head.length - tail.length).fill('0'), ...tail];
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/**
 * A subnet and arithmetic on the host part: the n-th address, membership, the
 * number of addresses. IPv4 only for offsets (leases are IPv4); IPv6 subnets can be
 * parsed and tested for membership.
 */
export class Subnet {
  readonly family: 4 | 6;
  /** Network address bytes (host bits cleared). */
  readonly network: Buffer;
  readonly prefixLength: number;

  private constructor(family: 4 | 6, network: Buffer, prefixLength: number) {
    this.family = family;
    this.network = network;
    this.prefixLength = prefixLength;
  }

  /** Parses `'10.89.0.0/24'`; host bits that are set are an error (a typo, usually). */
  static parse(text: string, field = 'subnet'): Subnet {
    if (!text.includes('/')) {
      throw new InvalidNetworkInputError(field, text, 'a subnet needs a prefix length');
    }
    const prefix = parsePrefix(text, field);
    const network = Buffer.from(prefix.bytes);
    maskHostBits(network, prefix.prefixLength);
    if (!network.equals(prefix.bytes)) {
      throw new InvalidNetworkInputError(
        field,
        text,
        `host bits are set; did you mean ${formatIp(network)}/${prefix.prefixLength}?`,
      );
    }
    return new Subnet(prefix.family, network, prefix.prefixLength);
  }

  /** Number of addresses in the subnet, network and broadcast included (IPv4). */
  get size(): number {
    this.requireIpv4('size');
    return 2 ** (32 - this.prefixLength);
  }

  /** The address at `offset` from the network address: `at(1)` is `10.89.0.1`. */
  at(offset: number): string {
    this.requireIpv4('at');
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.size) {
      throw new InvalidNetworkInputError('offset', offset, `outside ${this.toString()}`);
    }
    const value = (this.network.readUInt32BE(0) + offset) >>> 0;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value, 0);
    return formatIp(bytes);
  }

  /** The offset of `address` from the network address, or -1 when outside. */
  offsetOf(address: string): number {
    const ip = parseIp(address);
    if (!this.contains(address)) return -1;
    this.requireIpv4('offsetOf');
    return (ip.bytes.readUInt32BE(0) - this.network.readUInt32BE(0)) >>> 0;
  }

  /** Whether `address` lies inside this subnet. */
  contains(address: string): boolean {
    const ip = parseIp(address);
    if (ip.family !== this.family) return false;
    const masked = Buffer.from(ip.bytes);
    maskHostBits(masked, this.prefixLength);
    return masked.equals(this.network);
  }

  toString(): string {
    return `${formatIp(this.network)}/${this.prefixLength}`;
  }

  private requireIpv4(what: string): void {
    if (this.family !== 4) {
      throw new InvalidNetworkInputError('subnet', this.toString(), `${what} supports IPv4 only`);
    }
  }
}

function maskHostBits(bytes: Buffer, prefixLength: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, prefixLength - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - bitsHere)) & 0xff);
  }
}
