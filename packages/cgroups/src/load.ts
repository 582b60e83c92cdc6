import { readFileSync } from 'node:fs';

/**
 * Counts the tasks (thread ids) in state R (running) or D (uninterruptible sleep), read
 * from /proc/<tid>/stat. A task that exits while being read is not counted.
 */
export function countRunnable(tids: readonly number[]): number {
  let n = 0;
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${tid}/stat`, 'latin1');
    } catch {
      continue;
    }
    const state = stat[stat.lastIndexOf(')') + 2];
    if (state === 'R' || state === 'D') n++;
  }
  return n;
}
