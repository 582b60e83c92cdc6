import { readdirSync, readFileSync } from 'node:fs';
import { type RunningContainer, STATE_ROOT } from '../src/index.js';

/** Host pids whose command line contains `needle` (to find escapees by a unique argument). */
export function hostPidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes(needle)) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function descendsFromUs(pid: number): boolean {
  for (let p = parentOf(pid), hops = 0; p > 1 && hops < 64; p = parentOf(p), hops++) {
    if (p === process.pid) return true;
  }
  return false;
}

/**
 * Host pids of running tsbox-init processes started by this test process. (Other
 * processes on the machine may run containers too; they are not ours to count.)
 */
export function tsboxInitPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'tsbox-init') continue;
    } catch {
      continue; // exited while we looked
    }
    // The launcher (one per process, forking keepers) is infrastructure, not a
    // container; keepers share its command line, but their parent is the launcher.
    const launcher =
      parentOf(Number(name)) === process.pid &&
      readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('--launcher');
    if (launcher) continue;
    if (descendsFromUs(Number(name))) out.push(Number(name));
  }
  return out;
}

/**
 * Entries under the state root that belong to this process or to no live process:
 * records written by this process's containers and anything left unowned.
 */
export function stateEntries(): string[] {
  let names: string[];
  try {
    names = readdirSync(STATE_ROOT);
  } catch {
    return [];
  }
  const foreign = (record: string) => {
    try {
      const text = readFileSync(`${STATE_ROOT}/${record}`, 'utf8');
      const owner = (JSON.parse(text) as { ownerPid?: number }).ownerPid;
      return owner !== undefined && owner !== process.pid && owner > 1 && alive(owner);
    } catch {
      return false; // unreadable or absent: count it
    }
  };
  return names.filter((n) => {
    // Dot entries are shared infrastructure (networks), not containers.
    if (n.startsWith('.')) return false;
    // A container's directory goes with its record: another live process's are not ours.
    return !foreign(n.endsWith('.json') ? n : `${n}.json`);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Host mounts at or under the state root: tsbox itself should never leave any. */
export function mountCount(): number {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => {
      const mountPoint = line.split(' ')[4] ?? '';
      return mountPoint === STATE_ROOT || mountPoint.startsWith(`${STATE_ROOT}/`);
    }).length;
}

/** A number no other process on the host has in its argv: marks our test processes. */
export function uniqueMarker(): string {
  return String(90_000_000 + Math.floor(Math.random() * 9_000_000));
}

/** Kills leftover processes a failed test may leave (only ours: found by our marker). */
export function killByMarker(marker: string): void {
  for (const pid of hostPidsWithArg(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Resolves once the workload has printed `text` (it is ready for what the test does next). */
export function printed(c: RunningContainer, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const on = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) {
        c.off('stdout', on);
        resolve();
      }
    };
    c.on('stdout', on);
  });
}
