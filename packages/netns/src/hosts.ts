/**
 * Contents of a container's `/etc/hosts` and `/etc/resolv.conf`, as pure functions
 * of their inputs: the caller (tsbox core) decides where the files go.
 */
import { InvalidNetworkInputError } from './errors.js';
import { parseIp } from './ip.js';

/** Another host a container should find by name (a container on the same network). */
export interface HostsPeer {
  address: string;
  /** Its name first, then its aliases. */
  names: readonly string[];
}

/** Inputs of {@link renderHosts}. */
export interface HostsOptions {
  /** The container's hostname. */
  hostname: string;
  /** The container's address on its network; without one the hostname maps to 127.0.1.1. */
  address?: string;
  /** More names for the container itself (its network aliases). */
  aliases?: readonly string[];
  /** Others on its network(s), in order. */
  peers?: readonly HostsPeer[];
  /** Add the usual IPv6 loopback lines (default true). */
  ipv6?: boolean;
}

/** Parsed resolver settings. */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/**
 * Renders `/etc/hosts`:
 * ```
 * 127.0.0.1	localhost
 * ::1	localhost ip6-localhost ip6-loopback
 * 10.89.0.2	web app
 * 10.89.0.3	db postgres
 * ```
 * @throws {@link InvalidNetworkInputError} for a bad hostname or address.
 */
export function renderHosts(options: HostsOptions): string {
  const lines = ['127.0.0.1\tlocalhost'];
  if (options.ipv6 ?? true) {
    lines.push('::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet');
    lines.push('ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters');
  }
  const own = [options.hostname, ...(options.aliases ?? [])].map((n) => checkHostname(n));
  lines.push(`${checkAddress(options.address ?? '127.0.1.1')}\t${unique(own).join(' ')}`);
  for (const peer of options.peers ?? []) {
    if (peer.names.length === 0) continue;
    const names = unique(peer.names.map((n) => checkHostname(n)));
    lines.push(`${checkAddress(peer.address)}\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Renders `/etc/resolv.conf`.
 * @throws {@link InvalidNetworkInputError} for a bad nameserver address or search domain.
 */
export function renderResolvConf(
  conf: Partial<ResolvConf> & { nameservers: readonly string[] },
): string {
  const lines: string[] = [];
  const search = (conf.search ?? []).map((d) => checkHostname(d, 'search'));
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  for (const server of conf.nameservers)
    lines.push(`nameserver ${checkAddress(server, 'nameserver')}`);
  const options = conf.options ?? [];
  for (const option of options) {
    if (!/^[a-z0-9_-]+(:\d+)?$/i.test(option)) {
      throw new InvalidNetworkInputError('options', option, "expected 'name' or 'name:n'");
    }
  }
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Parses resolv.conf text (comments and unknown keywords are ignored). */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const [keyword, ...values] = raw
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    if (keyword === 'nameserver' && values[0]) conf.nameservers.push(values[0]);
    else if (keyword === 'search' || keyword === 'domain') conf.search = values;
    else if (keyword === 'options') conf.options.push(...values);
  }
  return conf;
}

/**
 * The resolver a bridged container should use, derived from the host's
 * `/etc/resolv.conf` text: loopback nameservers (systemd-resolved's 127.0.0.53, a
 * local dnsmasq) are unreachable from another network namespace, so they are
 * dropped, as Docker does; `fallback` is used when nothing is left.
 */
export function containerResolvConf(
  hostText: string,
  fallback: readonly string[] = [],
): ResolvConf {
  const host = parseResolvConf(hostText);
  const usable = host.nameservers.filter((server) => !isLoopback(server));
  return { ...host, nameservers: usable.length > 0 ? usable : [...fallback] };
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function checkAddress(address: string, field = 'address'): string {
  parseIp(address, field);
  return address;
}

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. */
function checkHostname(name: string, field = 'hostname'): string {
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => label.test(l))) {
    throw new InvalidNetworkInputError(field, name, 'not a valid host name (RFC 1123)');
  }
  return name;
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
