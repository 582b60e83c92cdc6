/**
 * The networking part of `gc()`: what containers of a crashed process left on
 * their networks. Synchronous like `gc()` itself, and it loads no koffi: leases
 * are plain files (the `@tsbox/netns` Ipam format: `<network>/leases/<address>`
 * holding `{ owner, pid, pidStart, createdAt }`), and published ports are
 * removed with one `nft` call, only when a dead member had ports.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import {
  type NetworkMember,
  networkDir,
  networkNames,
  ownerAlive,
  processStartTime,
  readMembers,
  removeMember,
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
export function gcNetworks(): NetworkGcReport {
  const report: NetworkGcReport = { leases: [], ports: [] };
  for (const name of networkNames()) {
    const dead = readMembers(name).filter((m) => !ownerAlive(m));
    // Ports first, so no host port ever points at an address free for reuse.
    report.ports.push(...unpublishSync(dead));
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

/** Deletes the map entries that still point at the dead members' addresses. */
function unpublishSync(dead: readonly NetworkMember[]): string[] {
  const wanted = dead.flatMap((m) => m.ports.map((p) => ({ ...p, address: m.address })));
  if (wanted.length === 0) return [];
  const lines: string[] = [];
  const removed: string[] = [];
  for (const protocol of ['tcp', 'udp'] as const) {
    const listed = spawnSync('nft', ['-j', 'list', 'map', 'ip', 'tsbox', `${protocol}_ports`], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (listed.status !== 0) continue; // no table, nothing published
    const entries = mapEntries(listed.stdout);
    for (const w of wanted.filter((p) => p.protocol === protocol)) {
      const target = entries.get(w.hostPort);
      if (target?.[0] === w.address && target[1] === w.containerPort) {
        lines.push(`delete element ip tsbox ${protocol}_ports { ${w.hostPort} }`);
        removed.push(`${w.hostPort}/${protocol}`);
      }
    }
  }
  if (lines.length > 0) {
    spawnSync('nft', ['-f', '-'], { input: lines.join('\n'), timeout: 10_000 });
  }
  return removed;
}

function mapEntries(json: string): Map<number, [string, number]> {
  const out = new Map<number, [string, number]>();
  try {
    const parsed = JSON.parse(json) as { nftables?: { map?: { elem?: unknown[] } }[] };
    for (const entry of parsed.nftables ?? []) {
      for (const e of (entry.map?.elem ?? []) as [number, { concat: [string, number] }][]) {
        out.set(e[0], e[1].concat);
      }
    }
  } catch {
    // unreadable listing: remove nothing
  }
  return out;
}
