import { existsSync, lstatSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeEmptyParents, sweepCgroups } from '@tsbox/cgroups';
import { DEFAULT_VOLUME_ROOT } from '@tsbox/overlay';
import { gcNetworks, type NetworkGcReport } from './network-gc.js';
import { removeImageState } from './resource-image.js';
import { volumeStoreAt } from './resource-volume.js';
import { type ContainerState, readStates, removeState, STATE_ROOT } from './state.js';

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
  /** Volume leases of containers that are gone, as `'<volume>/<container id>'`. */
  volumes: string[];
}

/** Options of {@link gc}. */
export interface GcOptions {
  /**
   * More `VolumeStore` roots to sweep for leases of dead processes, besides the default
   * one and those named in container records.
   */
  volumeRoots?: readonly string[];
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
export async function gc(options: GcOptions = {}): Promise<GcReport> {
  const report: GcReport = {
    removed: [],
    live: [],
    cgroupsRemoved: [],
    network: await gcNetworks(),
    volumes: [],
  };
  const states = readStates();
  const volumeRoots = new Set([DEFAULT_VOLUME_ROOT, ...(options.volumeRoots ?? [])]);
  for (const { state } of states)
    for (const v of state?.volumes ?? []) volumeRoots.add(v.storeRoot);
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
      else {
        // Its volume leases go first: a crash between the two leaves the lease, which
        // the sweep below still finds (it names a dead process).
        if (state) report.volumes.push(...releaseVolumes(state));
        removeState(path);
      }
      report.removed.push(path);
    }
  }
  // A lease names its process: those of dead processes go, recorded or not (a crash
  // between taking a lease and writing the record leaves no record).
  for (const root of volumeRoots) {
    for (const lease of volumeStoreAt(root).releaseStale())
      report.volumes.push(`${lease.volume}/${lease.holder}`);
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

/** Drops the volume leases a dead container's record lists; returns what was there. */
function releaseVolumes(state: ContainerState): string[] {
  const out: string[] = [];
  for (const { storeRoot, name } of state.volumes ?? []) {
    try {
      const store = volumeStoreAt(storeRoot);
      if (!existsSync(join(store.root, name, 'users', `${state.id}.json`))) continue;
      store.release(name, state.id);
      out.push(`${name}/${state.id}`);
    } catch {
      // a malformed record: the stale-lease sweep still covers the lease
    }
  }
  return out;
}
