import * as fs from 'node:fs';

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

/** Mount points listed in a mountinfo text, in mount order. Pure. */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''));
}

/** Mount points of this process' mount namespace at or under `dir`, deepest last. */
export function mountsAtOrUnder(dir: string): string[] {
  const all = parseMountPoints(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return all.filter((m) => m === dir || m.startsWith(`${dir}/`));
}
