/**
 * The networking part of `gc()`: what containers of a crashed process left on
 * their networks. Leases are plain files (the `@tsbox/netns` Ipam format:
 * `<network>/leases/<address>` holding `{ owner, pid, pidStart, createdAt }`), read
 * without koffi; `@tsbox/netns` (and its nfnetlink socket) is loaded only when a dead
 * member had published ports, which one nftables transaction removes.
 */
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import type { PublishedPort } from '@tsbox/netns';
import {
  loadNetns,
  type NetworkMember,
  natTable,
  networkDir,
  networkNames,
  ownerAlive,
  processStartTime,
  readMembers,
  removeMember,
  samePublishedPort,
} from './network.js';

/** A half-written lease this old belongs to a writer that died (as in Ipam). */
const EMPTY_LEASE_GRACE_MS = 10_000;

/** What the network gc removed, as `'<network>/<address>'` and `'<port>/<proto>'`. */
export interface NetworkGcReport {
  leases: string[];
  ports: string[];
}

/**
 * Releases the leases, member records and published ports of containers whose
 * owning process is gone. Containers of live processes are left alone: those
 * processes release their own.
 */
export async function gcNetworks(): Promise<NetworkGcReport> {
  const report: NetworkGcReport = { leases: [], ports: [] };
  for (const name of networkNames()) {
    const dead = readMembers(name).filter((m) => !ownerAlive(m));
    // Ports first, so no host port ever points at an address free for reuse.
    report.ports.push(...(await unpublishDead(dead)));
    for (const m of dead) removeMember(name, m.id);
    const deadIds = new Set(dead.map((m) => m.id));
    for (const address of reclaimLeases(name, deadIds)) report.leases.push(`${name}/${address}`);
  }
  return report;
}

function reclaimLeases(network: string, deadOwners: ReadonlySet<string>): string[] {
  const dir = join(networkDir(network), 'leases');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => isIPv4(n));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const address of names) {
    const path = join(dir, address);
    let stale: boolean;
    try {
      const text = readFileSync(path, 'utf8');
      if (text === '') {
        stale = Date.now() - statSync(path).mtimeMs > EMPTY_LEASE_GRACE_MS;
      } else {
        const lease = JSON.parse(text) as { owner?: string; pid?: number; pidStart?: number };
        stale =
          deadOwners.has(String(lease.owner)) ||
          (lease.pid !== process.pid && processStartTime(Number(lease.pid)) !== lease.pidStart);
      }
    } catch {
      continue; // released while we looked
    }
    if (!stale) continue;
    try {
      unlinkSync(path);
      out.push(address);
    } catch {
      // released while we looked
    }
  }
  return out;
}

/**
 * Deletes the map entries that still point at the dead members' addresses (a port a
 * live container has since taken is left alone).
 */
async function unpublishDead(dead: readonly NetworkMember[]): Promise<string[]> {
  const wanted: PublishedPort[] = dead.flatMap((m) =>
    m.ports.map((p) => ({ ...p, containerAddress: m.address })),
  );
  if (wanted.length === 0) return [];
  const nat = natTable(await loadNetns());
  if (!(await nat.exists())) return []; // no table, nothing published
  const published = await nat.listPublished();
  const stale = published.filter((p) => wanted.some((w) => samePublishedPort(w, p)));
  // Not strict: a port unpublished meanwhile by someone else is simply gone.
  await nat.unpublish(stale);
  return stale.map((p) => `${p.hostPort}/${p.protocol}`);
}
