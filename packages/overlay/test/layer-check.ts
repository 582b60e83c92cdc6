import * as fs from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { libcSyscalls } from '../src/syscalls.js';
import { OPAQUE_XATTR } from '../src/whiteout.js';

/** Checks the upper fixture layer as extracted: a real 0/0 whiteout and an opaque dir. */
export function expectUpperLayer(upper: string): void {
  const wh = fs.lstatSync(join(upper, 'del/gone.txt'));
  expect(wh.isCharacterDevice()).toBe(true);
  expect(wh.rdev).toBe(0);
  expect(fs.existsSync(join(upper, 'del/.wh.gone.txt'))).toBe(false);
  expect(libcSyscalls().lgetxattr(join(upper, 'opq'), OPAQUE_XATTR)?.toString()).toBe('y');
  expect(fs.existsSync(join(upper, 'opq/.wh..wh..opq'))).toBe(false);
  expect(fs.readFileSync(join(upper, 'opq/c.txt'), 'utf8')).toBe('upper c\n');
  expect(fs.readFileSync(join(upper, 'etc/greeting'), 'utf8')).toBe('hi\n');
}

/** Checks the base fixture layer as extracted. */
export function expectBaseLayer(base: string): void {
  expect(fs.readlinkSync(join(base, 'bin/sh'))).toBe('busybox');
  expect(fs.statSync(join(base, 'bin/suid-tool')).mode & 0o7777).toBe(0o4755);
  expect(fs.readFileSync(join(base, 'del/gone.txt'), 'utf8')).toContain('deleted');
  expect(fs.readdirSync(join(base, 'opq')).sort()).toEqual(['a.txt', 'b.txt']);
}
