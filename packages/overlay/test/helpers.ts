import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { OverlayError } from '../src/index.js';

/** Mount points (field 5 of /proc/self/mountinfo) under `prefix`. */
export function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === prefix || m.startsWith(`${prefix}/`));
}

/**
 * A temp dir per test, and the after-test check every kernel test needs: nothing mounted
 * under it any more, then removal. Call `cleanup()` from afterEach (runs on failure too).
 */
export function tempDirs() {
  const made: string[] = [];
  return {
    make(prefix = 'tsbox-overlay-test-'): string {
      const d = fs.mkdtempSync(join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
    cleanup(): void {
      const leaked = made.flatMap((d) => mountsUnder(d));
      // Overlays mounted anywhere but built from our dirs count as leaks too.
      const foreign = fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => / - (overlay|tmpfs) /.test(l) && made.some((d) => l.includes(d)))
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => !leaked.includes(m));
      leaked.push(...foreign);
      // Detach leftovers before deleting, so rm never walks into a live mount.
      for (const m of [...leaked].reverse()) execFileSync('umount', ['-l', m]);
      for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
      // Scratch dirs the library makes in the OS temp dir by default (named with the
      // pid that made them: other processes on the machine may be building right now).
      const mine = new RegExp(`^tsbox-(build|copy|probe)-${process.pid}-`);
      const stray = fs.readdirSync(tmpdir()).filter((n) => mine.test(n));
      expect(leaked, 'mounts left behind').toEqual([]);
      expect(stray, 'scratch dirs left behind').toEqual([]);
    },
  };
}

/** The OverlayError `p` rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<OverlayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OverlayError);
  return err as OverlayError;
}
