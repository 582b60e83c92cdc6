import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { libcSyscalls } from '../src/syscalls.js';

/**
 * A digest of a whole tree: names, types, modes, owners, sizes, mtimes, link targets,
 * device numbers, xattrs and contents. Equal digests mean byte-identical layers.
 */
export function treeDigest(root: string, opts: { skipRootMeta?: boolean } = {}): string {
  const h = createHash('sha256');
  const sys = libcSyscalls();
  const walk = (rel: string) => {
    const abs = rel === '' ? root : join(root, rel);
    const st = fs.lstatSync(abs);
    // Whole seconds: that is what a ustar header keeps of an mtime.
    if (rel !== '' || !opts.skipRootMeta)
      h.update(
        `${rel}\0${st.mode}\0${st.uid}:${st.gid}\0${st.isDirectory() ? 0 : st.size}\0${Math.floor(st.mtimeMs / 1000)}\0${st.rdev}\0`,
      );
    for (const name of sys.llistxattr(abs).sort())
      h.update(`${name}=${sys.lgetxattr(abs, name)?.toString('hex')}\0`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs));
    else if (st.isFile()) h.update(fs.readFileSync(abs));
    else if (st.isDirectory())
      for (const n of fs.readdirSync(abs).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return h.digest('hex');
}
