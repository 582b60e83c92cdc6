import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { probeOverlay } from '../src/index.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('probeOverlay()', () => {
  it('reports every check passing on this host and leaves nothing behind', () => {
    const dir = dirs.make();
    const r = probeOverlay(dir);
    expect(r.checks.map((c) => [c.name, c.ok])).toEqual([
      ['root', true],
      ['syscalls', true],
      ['whiteout', true],
      ['trusted-xattr', true],
      ['overlay-mount', true],
      ['tmpfs-mount', true],
    ]);
    expect(r.ok).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
