import * as fs from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ioError, OverlayError } from './errors.js';
import type { Syscalls } from './syscalls.js';
import { END_OF_ARCHIVE, encodeHeaders, padding } from './tar-writer.js';
import { OPAQUE_MARKER, OPAQUE_XATTR, whiteoutEntryName } from './whiteout.js';

/** glibc's major()/minor() for a dev_t number. */
function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}
function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}

/**
 * Writes an overlay upper directory as an OCI layer tar: the inverse of extraction.
 * A 0/0 character device becomes a `.wh.<name>` entry, a directory with
 * `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry, other `trusted.overlay.*`
 * attributes are overlayfs bookkeeping and are dropped, hard links inside the upper dir
 * stay hard links. Entries are sorted, so the same upper dir gives the same tar.
 *
 * Upper dirs using `redirect_dir` or `metacopy` (renamed lower directories, metadata-only
 * copy-up) cannot be expressed as a layer this way and are refused; both are off in the
 * kernel's defaults and in the mounts this package makes.
 */
export async function writeUpperAsLayerTar(
  upperDir: string,
  outPath: string,
  syscalls: Syscalls,
): Promise<{ entries: number }> {
  let out: number;
  try {
    out = fs.openSync(outPath, 'wx', 0o600);
  } catch (err) {
    throw ioError('commit.write', err, outPath);
  }
  const links = new Map<string, string>();
  let entries = 0;
  const buf = Buffer.alloc(256 * 1024);
  const write = (b: Buffer) => {
    let off = 0;
    while (off < b.length) off += fs.writeSync(out, b, off, b.length - off);
  };

  const walk = async (rel: string): Promise<void> => {
    const names = fs.readdirSync(rel === '' ? upperDir : join(upperDir, rel)).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = join(upperDir, r);
      const st = fs.lstatSync(abs);
      const xattrs = new Map<string, Buffer>();
      let opaque = false;
      // Sorted: the list's order is the file system's, and the tar must not depend on it.
      for (const x of syscalls.llistxattr(abs).sort()) {
        if (x === 'trusted.overlay.redirect' || x === 'trusted.overlay.metacopy') {
          throw new OverlayError(
            'ERR_TSBOX_OVERLAY_UNSUPPORTED',
            'commit.walk',
            `${r} carries ${x}; commit needs an overlay mounted without redirect_dir/metacopy`,
            { path: abs, value: x },
          );
        }
        if (x === OPAQUE_XATTR) opaque = syscalls.lgetxattr(abs, x)?.toString() === 'y';
        if (x.startsWith('trusted.overlay.')) continue;
        const v = syscalls.lgetxattr(abs, x);
        if (v) xattrs.set(x, v);
      }
      const base = {
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        size: 0,
        mtime: st.mtime,
        ...(xattrs.size > 0 ? { xattrs } : {}),
      };
      entries++;
      if (st.isCharacterDevice() && st.rdev === 0) {
        write(encodeHeaders({ ...base, path: whiteoutEntryName(r), type: 'File', mode: 0o644 }));
      } else if (st.isDirectory()) {
        write(encodeHeaders({ ...base, path: r, type: 'Directory' }));
        if (opaque) {
          write(
            encodeHeaders({ ...base, path: `${r}/${OPAQUE_MARKER}`, type: 'File', mode: 0o644 }),
          );
        }
        await walk(r);
      } else if (st.isSymbolicLink()) {
        write(
          encodeHeaders({ ...base, path: r, type: 'SymbolicLink', linkpath: fs.readlinkSync(abs) }),
        );
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          write(encodeHeaders({ ...base, path: r, type: 'Link', linkpath: first }));
          continue;
        }
        if (st.nlink > 1) links.set(key, r);
        write(encodeHeaders({ ...base, path: r, type: 'File', size: st.size }));
        const fd = fs.openSync(abs, 'r');
        try {
          let copied = 0;
          for (;;) {
            const n = fs.readSync(fd, buf, 0, buf.length, null);
            if (n === 0) break;
            copied += n;
            write(buf.subarray(0, n));
          }
          if (copied !== st.size) {
            throw new OverlayError(
              'ERR_TSBOX_OVERLAY_IO',
              'commit.walk',
              `${r} changed size while committing`,
              {
                path: abs,
              },
            );
          }
          write(padding(copied));
        } finally {
          fs.closeSync(fd);
        }
        // Keep the event loop breathing on large upper dirs.
        if (entries % 64 === 0) await yieldToLoop();
      } else {
        const type = st.isCharacterDevice()
          ? 'CharacterDevice'
          : st.isBlockDevice()
            ? 'BlockDevice'
            : 'FIFO';
        if (st.isSocket()) continue; // sockets cannot be archived; tar skips them too
        write(
          encodeHeaders({ ...base, path: r, type, devmaj: major(st.rdev), devmin: minor(st.rdev) }),
        );
      }
    }
  };

  try {
    await walk('');
    write(END_OF_ARCHIVE);
  } catch (err) {
    throw err instanceof OverlayError ? err : ioError('commit.write', err);
  } finally {
    fs.closeSync(out);
  }
  return { entries };
}
