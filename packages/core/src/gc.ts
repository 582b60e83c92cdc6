import { lstatSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeEmptyParents, sweepCgroups } from '@tsbox/cgroups';
import { gcNetworks, type NetworkGcReport } from './network-gc.js';
import { removeImageState } from './resource-image.js';
import { readStates, removeState, STATE_ROOT } from './state.js';

/** What {@link gc} found and removed. */
export interface GcReport {
  /** Records of containers whose host-side helper is gone (paths under `/run/tsbox`). */
  removed: string[];
  /** Ids of containers still running (left alone). */
  live: string[];
  /** cgroups of containers whose owning process died, killed and removed. */
  cgroupsRemoved: string[];
  /** Network leases and published ports of containers whose process is gone. */
  network: NetworkGcReport;
}

/** A record this young whose content is unreadable may be being written now. */
const WRITE_GRACE_MS = 60_000;

/**
 * Is `pid` a running tsbox-init? (A bare pid check could hit a reused pid.) A zombie is
 * not: a keeper whose parent (the launcher) died is reparented, and until its new parent
 * reaps it — which some hosts' PID 1 does only now and then — it is dead but still listed.
 */
function keeperAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    return comm === 'tsbox-init' && stat[close + 2] !== 'Z';
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Removes what containers left behind when the process that ran them died
 * (`tsbox gc`). A container is live while its host-side tsbox-init runs; every
 * other record is removed.
 */
export async function gc(): Promise<GcReport> {
  const report: GcReport = { removed: [], live: [], cgroupsRemoved: [], network: gcNetworks() };
  const states = readStates();
  const liveRecords = new Set<string>();
  for (const { path, state } of states)
    if (state && keeperAlive(state.keeperPid)) liveRecords.add(path);
  for (const { path, state, mtimeMs } of states) {
    // `<id>/` beside `<id>.json` holds an image container's writable layer, maybe with
    // a tmpfs mounted in it: it lives as long as its record, and is unmounted before it
    // is deleted (deleting through a live mount would not free the mount).
    const dir = isDirectory(path);
    const live = dir
      ? liveRecords.has(`${path}.json`) || Date.now() - mtimeMs < WRITE_GRACE_MS
      : state
        ? liveRecords.has(path)
        : Date.now() - mtimeMs < WRITE_GRACE_MS;
    if (live) {
      report.live.push(state?.id ?? path);
    } else {
      if (dir) removeImageState(path);
      else removeState(path);
      report.removed.push(path);
    }
  }
  // A cgroup names its owner (pid and start time), so the sweep needs no record.
  report.cgroupsRemoved = (await sweepCgroups()).removed;
  // Shared infrastructure goes too once nothing uses it: the empty `tsbox/` parent
  // cgroups and the empty network state root (both are made again on demand).
  removeEmptyParents();
  try {
    rmdirSync(join(STATE_ROOT, '.networks'));
  } catch {
    // networks exist, or it was never made
  }
  return report;
}
