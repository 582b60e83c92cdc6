// Compiles tsbox-init from source with the machine's C compiler. Static linking
// keeps the resident size of the two processes per container small and makes the
// binary independent of the container's root filesystem.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(pkg, 'c', 'tsbox-init.c');
const out = join(pkg, 'bin', 'tsbox-init');
const cc = process.env.CC || 'cc';
const flags = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-Wshadow', '-Wformat=2'];

function upToDate() {
  try {
    return statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    return false;
  }
}

if (!upToDate() || process.argv.includes('--force')) {
  mkdirSync(dirname(out), { recursive: true });
  const link = process.env.TSBOX_INIT_DYNAMIC ? [] : ['-static'];
  execFileSync(cc, [...flags, ...link, '-o', out, src], { stdio: 'inherit' });
  console.log(`built ${out}`);
}
