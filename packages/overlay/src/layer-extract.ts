import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { ancestors, normalizeEntryPath } from './entry-path.js';
import { ioError, OverlayError } from './errors.js';
import { PaxCapture } from './pax-capture.js';
import { parsePaxXattrs } from './pax-xattrs.js';
import { S_IFBLK, S_IFCHR, S_IFIFO, type Syscalls } from './syscalls.js';
import { classifyWhiteout, OPAQUE_XATTR } from './whiteout.js';

/** Options of {@link extractLayer}. */
export interface ExtractLayerOptions {
  syscalls: Syscalls;
  /** chown entries to their recorded uid/gid (needs root); default: true when root. */
  preserveOwner?: boolean;
}

/** What {@link extractLayer} wrote. */
export interface ExtractLayerResult {
  entries: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/**
 * Unpacks one uncompressed layer tar into `targetDir` (which must exist, be empty and be
 * private to the caller), with overlayfs semantics: `.wh.x` becomes a 0/0 character
 * device `x`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.
 *
 * node-tar parses the stream; the writing is ours because node-tar's `Unpack` cannot
 * create device nodes or whiteouts, widens directory modes (`| 0o700`) and chowns after
 * chmod, which drops setuid/setgid bits. Here the order per entry is create → chown →
 * chmod → xattrs → times, and directory times are applied last, after every child exists.
 *
 * Safety: `..` is refused, and every ancestor of an entry must be a real directory (never
 * a symlink the archive planted), so nothing is written outside `targetDir`.
 *
 * File-system calls are synchronous on purpose: each is short, they keep entries strictly
 * ordered (hard links need their target, whiteouts their parent), and they avoid a promise
 * per syscall; the event loop still turns between the stream's chunks.
 */
export function extractLayer(
  input: Readable,
  targetDir: string,
  options: ExtractLayerOptions,
): Promise<ExtractLayerResult> {
  return new Promise<ExtractLayerResult>((resolve, reject) => {
    let failed: unknown;
    let pendingMeta: Buffer | string | undefined;
    const writer = new LayerWriter(targetDir, options, (err) => fail(err));
    const fail = (err: unknown) => {
      if (failed !== undefined) return;
      failed = err;
      input.unpipe();
      input.destroy();
      pax.destroy();
      writer.abort();
      reject(err);
    };
    const parser = new Parser({ strict: true, maxMetaEntrySize: 16 * 1024 * 1024 });
    const pax = new PaxCapture();
    parser.on('meta', (meta: string) => {
      // Only PAX bodies carry xattrs; a GNU long-name record between a PAX header and
      // its entry must not displace them.
      const raw = pax.rawBody(meta);
      if (raw !== undefined || /(?:SCHILY|LIBARCHIVE)\.xattr\./.test(meta))
        pendingMeta = raw ?? meta;
    });
    parser.on('ignoredEntry', () => {
      pendingMeta = undefined;
    });
    parser.on('entry', (entry: ReadEntry) => {
      const meta = pendingMeta;
      pendingMeta = undefined;
      if (failed !== undefined) {
        entry.resume();
        return;
      }
      try {
        writer.entry(entry, meta);
      } catch (err) {
        entry.resume();
        fail(err);
      }
    });
    parser.on('error', (err: Error) =>
      fail(
        new OverlayError(
          'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
          'import.extract',
          `layer is not a valid tar: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    parser.on('end', () => {
      if (failed !== undefined) return;
      try {
        writer.finish();
        resolve({ entries: writer.entries });
      } catch (err) {
        fail(err);
      }
    });
    input.on('error', fail);
    pax.on('error', fail);
    input.pipe(pax);
    pax.on('data', (chunk: Buffer) => {
      if (failed === undefined && !parser.write(chunk)) pax.pause();
    });
    parser.on('drain', () => pax.resume());
    pax.on('end', () => {
      if (failed === undefined) parser.end();
    });
  });
}

interface DirTimes {
  abs: string;
  atime: Date;
  mtime: Date;
}

/** The per-layer extraction state: which directories are known real, pending dir times. */
class LayerWriter {
  entries = 0;
  private readonly knownDirs = new Set<string>(['']);
  private readonly dirTimes: DirTimes[] = [];
  private readonly preserveOwner: boolean;
  private openFd: number | undefined;

  constructor(
    private readonly root: string,
    private readonly options: ExtractLayerOptions,
    /** Errors raised inside a file's data/end events, which belong to the parser's stack. */
    private readonly onError: (err: unknown) => void,
  ) {
    this.preserveOwner = options.preserveOwner ?? process.getuid?.() === 0;
  }

  entry(entry: ReadEntry, meta: Buffer | string | undefined): void {
    const rel = normalizeEntryPath(entry.path);
    const wo = classifyWhiteout(rel);
    this.entries++;
    if (wo.kind === 'ignore') {
      entry.resume();
      return;
    }
    if (wo.kind === 'opaque') {
      this.ensureDir(wo.dir);
      this.options.syscalls.lsetxattr(this.abs(wo.dir), OPAQUE_XATTR, Buffer.from('y'));
      entry.resume();
      return;
    }
    if (wo.kind === 'whiteout') {
      this.ensureParents(wo.path);
      const abs = this.abs(wo.path);
      this.removeExisting(wo.path, false);
      this.options.syscalls.mknod(abs, S_IFCHR, 0, 0);
      // The entry's time, not the extraction's: a layer written back as a tar (push) must
      // give the same bytes every time.
      const mtime = entry.mtime ?? new Date(0);
      try {
        fs.lutimesSync(abs, entry.atime ?? mtime, mtime);
      } catch (err) {
        throw ioError('import.extract', err, abs);
      }
      entry.resume();
      return;
    }
    const xattrs = meta === undefined ? undefined : filterXattrs(parsePaxXattrs(meta));
    if (rel === '') {
      // The archive may describe the layer root ("./") but not replace it.
      if (entry.type === 'Directory') this.applyDirMeta('', entry, xattrs);
      entry.resume();
      return;
    }
    this.ensureParents(rel);
    switch (entry.type) {
      case 'Directory':
      case 'GNUDumpDir':
        this.directory(rel, entry, xattrs);
        entry.resume();
        return;
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        this.file(rel, entry, xattrs);
        return;
      case 'Link':
        this.hardLink(rel, entry);
        entry.resume();
        return;
      case 'SymbolicLink':
        this.symlink(rel, entry, xattrs);
        entry.resume();
        return;
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO':
        this.special(rel, entry, xattrs);
        entry.resume();
        return;
      default:
        // Unknown types carry no file to create; skipping matches GNU tar's warning.
        entry.resume();
    }
  }

  finish(): void {
    // Children change their directory's mtime, so directory times go last.
    for (const d of this.dirTimes) {
      try {
        fs.lutimesSync(d.abs, d.atime, d.mtime);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('import.extract', err);
      }
    }
  }

  abort(): void {
    if (this.openFd !== undefined) {
      try {
        fs.closeSync(this.openFd);
      } catch {}
      this.openFd = undefined;
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Makes sure every ancestor of `rel` is a real directory, creating missing ones. */
  private ensureParents(rel: string): void {
    for (const a of ancestors(rel)) this.ensureDir(a);
  }

  private ensureDir(rel: string): void {
    if (this.knownDirs.has(rel)) return;
    for (const a of ancestors(rel)) this.ensureDir(a);
    const abs = this.abs(rel);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('import.extract', err);
    }
    if (st === undefined) {
      try {
        fs.mkdirSync(abs, 0o755);
      } catch (err) {
        throw ioError('import.extract', err, abs);
      }
    } else if (!st.isDirectory()) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_UNSAFE_PATH',
        'import.extract',
        `layer entry goes through ${rel}, which the layer made a ${st.isSymbolicLink() ? 'symlink' : 'non-directory'}`,
        { path: abs, value: rel },
      );
    }
    this.knownDirs.add(rel);
  }

  /**
   * Creates an entry, replacing what is there only when creation says EEXIST: an archive
   * rarely repeats a name, so this saves an lstat per entry. O_EXCL and symlink(2) never
   * follow a symlink at the final component, so nothing outside the layer is touched.
   */
  private createOrReplace<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw ioError('import.extract', err, this.abs(rel));
      }
    }
    this.removeExisting(rel, false);
    try {
      return create();
    } catch (err) {
      throw ioError('import.extract', err, this.abs(rel));
    }
  }

  /** Clears the way for a new entry at `rel` (a later entry of the same name wins). */
  private removeExisting(rel: string, keepDir: boolean): boolean {
    const abs = this.abs(rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError('import.extract', err, abs);
    }
    try {
      if (st.isDirectory()) {
        if (keepDir) return true;
        fs.rmSync(abs, { recursive: true, force: true });
        for (const d of this.knownDirs) {
          if (d === rel || d.startsWith(`${rel}/`)) this.knownDirs.delete(d);
        }
      } else {
        fs.unlinkSync(abs);
      }
    } catch (err) {
      throw ioError('import.extract', err, abs);
    }
    return false;
  }

  private directory(rel: string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined): void {
    const abs = this.abs(rel);
    if (!this.removeExisting(rel, true)) {
      try {
        fs.mkdirSync(abs, 0o700);
      } catch (err) {
        throw ioError('import.extract', err, abs);
      }
    }
    this.knownDirs.add(rel);
    this.applyDirMeta(rel, entry, xattrs);
  }

  private applyDirMeta(rel: string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined) {
    const abs = this.abs(rel);
    try {
      if (this.preserveOwner) fs.lchownSync(abs, entry.uid ?? 0, entry.gid ?? 0);
      fs.chmodSync(abs, (entry.mode ?? 0o755) & 0o7777);
    } catch (err) {
      throw ioError('import.extract', err, abs);
    }
    this.setXattrs(abs, xattrs, false);
    const mtime = entry.mtime ?? new Date();
    this.dirTimes.push({ abs, atime: entry.atime ?? mtime, mtime });
  }

  private file(rel: string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined): void {
    const abs = this.abs(rel);
    const fd = this.createOrReplace(rel, () =>
      fs.openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600),
    );
    this.openFd = fd;
    entry.on('data', (chunk: Buffer) => {
      if (this.openFd !== fd) return;
      let off = 0;
      try {
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      } catch (err) {
        this.abort();
        this.onError(ioError('import.extract', err, abs));
      }
    });
    entry.on('end', () => {
      if (this.openFd !== fd) return;
      try {
        // chown first: the kernel clears setuid/setgid on chown, so the mode goes after.
        if (this.preserveOwner) fs.fchownSync(fd, entry.uid ?? 0, entry.gid ?? 0);
        fs.fchmodSync(fd, (entry.mode ?? 0o644) & 0o7777);
        // After chown too: chown also drops security.capability.
        this.setXattrs(abs, xattrs, false);
        const mtime = entry.mtime ?? new Date();
        fs.futimesSync(fd, entry.atime ?? mtime, mtime);
        fs.closeSync(fd);
        this.openFd = undefined;
      } catch (err) {
        this.abort();
        this.onError(ioError('import.extract', err, abs));
      }
    });
  }

  private hardLink(rel: string, entry: ReadEntry): void {
    const target = normalizeEntryPath(entry.linkpath ?? '', 'linkpath');
    if (target === '') {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
        'import.extract',
        `hard link ${rel} has an empty target`,
        { value: rel },
      );
    }
    this.ensureParents(target);
    const abs = this.abs(rel);
    this.removeExisting(rel, false);
    try {
      fs.linkSync(this.abs(target), abs);
    } catch (err) {
      throw ioError('import.extract', err, abs);
    }
  }

  private symlink(rel: string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined): void {
    const abs = this.abs(rel);
    this.createOrReplace(rel, () => fs.symlinkSync(entry.linkpath ?? '', abs));
    try {
      if (this.preserveOwner) fs.lchownSync(abs, entry.uid ?? 0, entry.gid ?? 0);
    } catch (err) {
      throw ioError('import.extract', err, abs);
    }
    this.setXattrs(abs, xattrs, true);
    const mtime = entry.mtime ?? new Date();
    fs.lutimesSync(abs, entry.atime ?? mtime, mtime);
  }

  private special(rel: string, entry: ReadEntry, xattrs: Map<string, Buffer> | undefined): void {
    const abs = this.abs(rel);
    this.removeExisting(rel, false);
    const type =
      entry.type === 'CharacterDevice' ? S_IFCHR : entry.type === 'BlockDevice' ? S_IFBLK : S_IFIFO;
    const header = entry.header as { devmaj?: number; devmin?: number };
    this.options.syscalls.mknod(abs, type | 0o600, header.devmaj ?? 0, header.devmin ?? 0);
    try {
      if (this.preserveOwner) fs.lchownSync(abs, entry.uid ?? 0, entry.gid ?? 0);
      fs.chmodSync(abs, (entry.mode ?? 0o600) & 0o7777);
      this.setXattrs(abs, xattrs, false);
      const mtime = entry.mtime ?? new Date();
      fs.lutimesSync(abs, entry.atime ?? mtime, mtime);
    } catch (err) {
      throw ioError('import.extract', err, abs);
    }
  }

  private setXattrs(abs: string, xattrs: Map<string, Buffer> | undefined, isSymlink: boolean) {
    if (!xattrs) return;
    for (const [name, value] of xattrs) {
      // The kernel refuses user.* on symlinks; dropping it matches GNU tar.
      if (isSymlink && name.startsWith('user.')) continue;
      this.options.syscalls.lsetxattr(abs, name, value);
    }
  }
}

/**
 * Drops `trusted.overlay.*` from archive xattrs: a lower layer's overlay attributes
 * (redirect, metacopy, origin) steer overlayfs lookups, and a layer must not be able to
 * point them elsewhere. Opaque markers come only from `.wh..wh..opq` entries.
 */
function filterXattrs(xattrs: Map<string, Buffer>): Map<string, Buffer> | undefined {
  for (const name of xattrs.keys()) if (name.startsWith('trusted.overlay.')) xattrs.delete(name);
  return xattrs.size === 0 ? undefined : xattrs;
}
