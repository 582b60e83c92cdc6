import * as fs from 'node:fs';
import { extract, Parser, type ReadEntry } from 'tar';
import { ioError, OverlayError } from './errors.js';
import type { ImportFormat } from './image-source.js';

const HEX64 = /^[0-9a-f]{64}(?:\.json)?$/;
const IMAGE_ARCHIVE_TOP = new Set([
  'manifest.json',
  'repositories',
  'index.json',
  'oci-layout',
  'blobs',
]);

/**
 * True when a top-level name can occur in an image archive (docker save or OCI layout);
 * anything else (`bin`, `etc`, ...) means the tar is a root file system. Pure.
 */
export function isImageArchiveName(top: string): boolean {
  return IMAGE_ARCHIVE_TOP.has(top) || HEX64.test(top);
}

/** Decides the format from the set of top-level names of an image archive. Pure. */
export function formatFromTopNames(names: Set<string>): ImportFormat {
  // Docker 25+ writes both manifest.json and an OCI layout; manifest.json carries the tags.
  if (names.has('manifest.json')) return 'docker-archive';
  if (names.has('oci-layout') && names.has('index.json')) return 'oci-layout';
  return 'rootfs';
}

/**
 * Tells what `path` holds. A directory must be an OCI layout or an unpacked docker save.
 * A file is scanned header by header (node-tar, gzip handled) until a name that cannot
 * belong to an image archive shows it is a rootfs tar, so a large rootfs costs one block.
 */
export async function detectFormat(path: string): Promise<ImportFormat> {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw ioError('import.detect', err, path);
  }
  if (st.isDirectory()) {
    if (fs.existsSync(`${path}/manifest.json`)) return 'docker-archive';
    if (fs.existsSync(`${path}/oci-layout`)) return 'oci-layout';
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.detect',
      `${path} is a directory but neither an OCI layout nor an unpacked docker save`,
      { path },
    );
  }
  return new Promise<ImportFormat>((resolve, reject) => {
    const names = new Set<string>();
    let done = false;
    let sawEntry = false;
    const input = fs.createReadStream(path);
    const finish = (err: unknown, format?: ImportFormat) => {
      if (done) return;
      done = true;
      input.destroy();
      if (err) reject(err);
      else resolve(format as ImportFormat);
    };
    const parser = new Parser({ onwarn: () => {} });
    parser.on('entry', (entry: ReadEntry) => {
      entry.resume();
      sawEntry = true;
      const top = entry.path.replace(/^(?:\.\/)+/, '').split('/')[0] ?? '';
      if (top === '' || top === '.') return;
      if (!isImageArchiveName(top)) finish(undefined, 'rootfs');
      else names.add(top);
    });
    parser.on('end', () => {
      if (!sawEntry) {
        finish(
          new OverlayError(
            'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
            'import.detect',
            `${path} is not a tar archive`,
            {
              path,
            },
          ),
        );
      } else finish(undefined, formatFromTopNames(names));
    });
    input.on('error', (err) => finish(ioError('import.detect', err, path)));
    input.pipe(parser);
  });
}

/**
 * Unpacks an image archive (docker save or OCI layout tar, gzip allowed) into `dir` so its
 * blobs can be opened by name. These are plain files, so node-tar's own extractor, with
 * its path checks, is the right tool.
 */
export async function unpackImageArchive(path: string, dir: string): Promise<void> {
  try {
    await extract({ file: path, cwd: dir, strict: true, preserveOwner: false, noMtime: true });
  } catch (err) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.unpack',
      `cannot unpack ${path}`,
      {
        path,
        cause: err,
      },
    );
  }
}
