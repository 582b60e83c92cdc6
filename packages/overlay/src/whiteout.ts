/**
 * Maps OCI/Docker layer whiteout names to what overlayfs understands. Pure: the caller
 * performs the file-system change (a 0/0 char device, an xattr).
 *
 * OCI image spec, "Whiteouts": `a/.wh.b` deletes `a/b` of the layers below;
 * `a/.wh..wh..opq` makes `a` opaque (hides all lower content of `a`). Other names
 * starting with `.wh..wh.` are AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`) and are
 * dropped, as Docker does.
 */
export type WhiteoutAction =
  | { kind: 'none' }
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; dir: string }
  | { kind: 'ignore' };

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** overlayfs' opaque directory attribute (Documentation/filesystems/overlayfs.rst). */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Classifies a normalised relative layer path (no leading `/` or `./`). */
export function classifyWhiteout(relPath: string): WhiteoutAction {
  const slash = relPath.lastIndexOf('/');
  const dir = slash < 0 ? '' : relPath.slice(0, slash);
  const base = slash < 0 ? relPath : relPath.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'ignore' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') return { kind: 'ignore' };
  return { kind: 'whiteout', path: dir === '' ? target : `${dir}/${target}` };
}

/** The tar entry name for a whiteout of `relPath` (used when committing an upper dir). */
export function whiteoutEntryName(relPath: string): string {
  const slash = relPath.lastIndexOf('/');
  return slash < 0
    ? `${WHITEOUT_PREFIX}${relPath}`
    : `${relPath.slice(0, slash)}/${WHITEOUT_PREFIX}${relPath.slice(slash + 1)}`;
}

/** The tar entry name that marks `dir` opaque. */
export function opaqueEntryName(dir: string): string {
  return dir === '' ? OPAQUE_MARKER : `${dir}/${OPAQUE_MARKER}`;
}
