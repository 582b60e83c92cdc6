import { OverlayError } from './errors.js';

/**
 * Normalises a tar entry name to a relative path inside the layer: strips leading `/`
 * and `./`, collapses `.` and empty components, and rejects `..` outright (a layer has
 * no business naming its parent). Returns `''` for the layer root itself.
 */
export function normalizeEntryPath(name: string, field = 'path'): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_UNSAFE_PATH',
        'import.extract',
        `layer entry ${field} ${JSON.stringify(name)} climbs out of the layer with ".."`,
        { value: name, field },
      );
    }
    parts.push(part);
  }
  return parts.join('/');
}

/** Every proper ancestor of a relative path, nearest the root first (`a/b/c` → `a`, `a/b`). */
export function ancestors(relPath: string): string[] {
  const out: string[] = [];
  let i = relPath.indexOf('/');
  while (i >= 0) {
    out.push(relPath.slice(0, i));
    i = relPath.indexOf('/', i + 1);
  }
  return out;
}
