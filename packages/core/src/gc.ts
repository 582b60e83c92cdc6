import { readFileSync, statSync } from 'node:fs';
import { readStates, removeStateDir } from './state.js';

/** What {@link gc} found and removed. */
export interface GcReport {
  /** State directories of containers whose host-side helper is gone. */
  removed: string[];
  /** Containers still running (left alone). */
  live: string[];
}

/** A state dir this young may belong to a container still being set up. */
const SETUP_GRACE_MS = 60_000;

/** Is `pid` a running tsbox-init? (A bare pid check could hit a reused pid.) */
function keeperAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tsbox-init';
  } catch {
    return false;
  }
}

function young(dir: string): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs < SETUP_GRACE_MS;
  } catch {
    return false;
  }
}

/**
 * Removes what containers left behind when the process that ran them died
 * (`tsbox gc`). A container is live while its host-side tsbox-init runs; every
 * other state directory is removed.
 */
export function gc(): GcReport {
  const report: GcReport = { removed: [], live: [] };
  for (const { dir, state } of readStates()) {
    if (state ? keeperAlive(state.keeperPid) : young(dir)) {
      report.live.push(state?.id ?? dir);
    } else {
      removeStateDir(dir);
      report.removed.push(dir);
    }
  }
  return report;
}
