import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { initBinaryPath } from '@tsbox/init';
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

/**
 * Host pids of running tsbox-init processes of this checkout's binary. Other
 * sessions on the same machine run their own builds concurrently; their
 * containers are not ours to count.
 */
export function tsboxInitPids(): number[] {
  const binary = initBinaryPath();
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'tsbox-init') continue;
      // A zombie has no exe link any more: it is ours if we are the one not reaping it.
      const exe = exeOf(name);
      if (exe === binary || (exe === undefined && parentOf(name) === process.pid)) {
        out.push(Number(name));
      }
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function parentOf(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function exeOf(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
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
