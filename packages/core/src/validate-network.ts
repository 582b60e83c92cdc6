import { isIPv4, isIPv6 } from 'node:net';
import { InvalidSpecError } from './errors.js';
import type { Network } from './network.js';
import type { PublishSpec } from './spec.js';

// Checks of the networking setters, kept apart from validate.ts so they need
// nothing from @tsbox/netns (which is loaded only when a network is used).

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export function checkNetworkRef(network: unknown): string {
  if (network === 'none' || network === 'bridge') return network;
  const name = (network as Network | null)?.name;
  if (typeof network === 'object' && typeof name === 'string' && NETWORK_NAME.test(name)) {
    return name;
  }
  throw new InvalidSpecError('network', network, "expected a Network, 'bridge' or 'none'");
}

export function checkAliases(alias: unknown): string[] {
  if (alias === undefined) return [];
  const list = typeof alias === 'string' ? [alias] : alias;
  if (!Array.isArray(list)) {
    throw new InvalidSpecError('network.alias', alias, 'expected a host name or an array of them');
  }
  for (const a of list) {
    if (
      typeof a !== 'string' ||
      a.length === 0 ||
      a.length > 253 ||
      !a.split('.').every((l) => LABEL.test(l))
    ) {
      throw new InvalidSpecError('network.alias', a, 'not a valid host name (RFC 1123)');
    }
  }
  return [...new Set(list as string[])];
}

function checkPort(field: string, port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidSpecError(field, port, 'a port is an integer from 1 to 65535');
  }
  return port;
}

export function checkPublish(
  hostPort: unknown,
  containerPort: unknown,
  protocol: unknown,
): PublishSpec {
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new InvalidSpecError('publish.protocol', protocol, "expected 'tcp' or 'udp'");
  }
  return {
    hostPort: checkPort('publish.hostPort', hostPort),
    containerPort: checkPort('publish.containerPort', containerPort),
    protocol,
  };
}

export function checkDns(servers: unknown): string[] {
  if (!Array.isArray(servers) || servers.length === 0 || servers.length > 3) {
    // The resolver reads at most three nameserver lines (MAXNS).
    throw new InvalidSpecError('dns', servers, 'expected 1 to 3 nameserver addresses');
  }
  for (const s of servers) {
    if (typeof s !== 'string' || !(isIPv4(s) || isIPv6(s))) {
      throw new InvalidSpecError('dns', s, 'expected an IPv4 or IPv6 address');
    }
  }
  return [...servers];
}
