/**
 * Per-namespace network sysctls, written without spawning `sysctl`: a file under
 * `/proc/sys/net` belongs to the network namespace of the thread that opens it,
 * so opening it inside {@link runInNetns} reaches another namespace's settings.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { NetlinkError } from './errors.js';
import { checkInterfaceName } from './names.js';
import { type NetnsTarget, runInNetns } from './netns.js';

/** Writes `value` to `/proc/sys/net/<key>` (`key` like `ipv4/ip_forward`). */
export function writeNetSysctl(key: string, value: string, netns?: NetnsTarget): void {
  const path = netSysctlPath(key);
  const write = () => {
    try {
      writeFileSync(path, value);
    } catch (cause) {
      const errno = (cause as NodeJS.ErrnoException).code;
      throw new NetlinkError('sysctl.write', `Cannot write ${value} to ${path}: ${errno}`, {
        value: path,
        ...(errno === undefined ? {} : { errno }),
        cause,
      });
    }
  };
  if (netns === undefined) write();
  else runInNetns(netns, write);
}

/** Reads `/proc/sys/net/<key>`, trimmed. */
export function readNetSysctl(key: string, netns?: NetnsTarget): string {
  const path = netSysctlPath(key);
  const read = () => readFileSync(path, 'utf8').trim();
  return netns === undefined ? read() : runInNetns(netns, read);
}

/**
 * Lets packets with a 127.0.0.0/8 source leave through `bridge`
 * (`net.ipv4.conf.<bridge>.route_localnet = 1`): what makes a port published on
 * `127.0.0.1` reach a container. Set per bridge, never for all interfaces.
 */
export function enableRouteLocalnet(bridge: string, netns?: NetnsTarget): void {
  writeNetSysctl(`ipv4/conf/${checkInterfaceName(bridge, 'bridge')}/route_localnet`, '1', netns);
}

/**
 * Turns IPv4 forwarding on or off (`net.ipv4.ip_forward`), which outbound
 * masquerade and publishing to non-local clients need. It is a namespace-wide
 * setting: the caller decides, this package never sets it implicitly.
 */
export function setIpForwarding(enabled: boolean, netns?: NetnsTarget): void {
  writeNetSysctl('ipv4/ip_forward', enabled ? '1' : '0', netns);
}

function netSysctlPath(key: string): string {
  if (!/^[a-zA-Z0-9_.\-/]+$/.test(key) || key.includes('..')) {
    throw new NetlinkError('sysctl.write', `Invalid sysctl key ${JSON.stringify(key)}`, {
      value: key,
    });
  }
  return `/proc/sys/net/${key}`;
}
