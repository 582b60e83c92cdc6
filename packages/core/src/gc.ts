import { readFileSync } from 'node:fs';
import { gcNetworks, type NetworkGcReport } from './network-gc.js';
import { readStates, removeState } from './state.js';

/** What {@link gc} found and removed. */
export interface GcReport {
  /** Records of containers whose host-side helper is gone (paths under `/run/tsbox`). */
  removed: string[];
  /** Ids of containers still running (left alone). */
  live: string[];
  /** Network leases and published ports of containers whose process is gone. */
  network: NetworkGcReport;
}

/** A record this young whose content is unreadable may be being written now. */
const WRITE_GRACE_MS = 60_000;

/** Is `pid` a running tsbox-init? (A bare pid check could hit a reused pid.) */
function keeperAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tsbox-init';
  } catch {
    return false;
  }
}

/**
 * Removes what containers left behind when the process that ran them died
 * (`tsbox gc`). A container is live while its host-side tsbox-init runs; every
 * other record is removed.
 */
export function gc(): GcReport {
  const report: GcReport = { removed: [], live: [], network: gcNetworks() };
  for (const { path, state, mtimeMs } of readStates()) {
    const live = state ? keeperAlive(state.keeperPid) : Date.now() - mtimeMs < WRITE_GRACE_MS;
    if (live) {
      report.live.push(state?.id ?? path);
    } else {
      removeState(path);
      report.removed.push(path);
    }
  }
  return report;
}
