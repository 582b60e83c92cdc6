import { readdirSync, readFileSync } from 'node:fs';
import { STATE_ROOT } from '../src/index.js';

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

/** Host pids of running tsbox-init processes. */
export function tsboxInitPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'tsbox-init')
        out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

export function stateEntries(): string[] {
  try {
    // Dot entries are shared infrastructure (the staging dir), not containers.
    return readdirSync(STATE_ROOT).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

export function mountCount(): number {
  return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').length;
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
