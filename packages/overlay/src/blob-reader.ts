import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { HashingStream } from './digest.js';
import { ioError, OverlayError } from './errors.js';

/** How a layer blob is compressed, told by its first bytes (media types lie in practice). */
export type Compression = 'none' | 'gzip' | 'zstd';

/** Reads the magic number at the start of a file. */
export function detectCompression(path: string): Compression {
  const head = Buffer.alloc(4);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw ioError('import.read', err, path);
  }
  try {
    const n = fs.readSync(fd, head, 0, 4, 0);
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (n >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    fs.closeSync(fd);
  }
}

/** A blob opened for reading: the uncompressed tar stream plus both running digests. */
export interface OpenedBlob {
  /** The uncompressed bytes. */
  tar: Readable;
  /** Hash of the bytes as stored (the blob digest). */
  blobHash: HashingStream;
  /** Hash of the uncompressed bytes (the diffID); the same object as blobHash when uncompressed. */
  diffHash: HashingStream;
  compression: Compression;
  /** Releases the file and every stage; safe to call more than once. */
  close(): void;
}

/**
 * Opens a layer blob file, decompressing gzip on the fly and hashing both sides in one
 * read. zstd is refused: Node 20's zlib has no zstd.
 */
export function openBlob(path: string, onBytes?: (n: number) => void): OpenedBlob {
  const compression = detectCompression(path);
  if (compression === 'zstd') {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_UNSUPPORTED',
      'import.read',
      `layer ${path} is zstd-compressed, which Node 20 cannot decompress`,
      { path, value: 'zstd' },
    );
  }
  const file = fs.createReadStream(path, { highWaterMark: 256 * 1024 });
  const blobHash = new HashingStream(onBytes);
  file.on('error', (err) => blobHash.destroy(ioError('import.read', err, path)));
  file.pipe(blobHash);
  if (compression === 'none') {
    const close = () => {
      file.destroy();
      blobHash.destroy();
    };
    return { tar: blobHash, blobHash, diffHash: blobHash, compression, close };
  }
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const diffHash = new HashingStream();
  blobHash.on('error', (err) => diffHash.destroy(err));
  gunzip.on('error', (err) =>
    diffHash.destroy(
      new OverlayError(
        'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
        'import.read',
        `layer ${path} is not valid gzip`,
        {
          path,
          cause: err,
        },
      ),
    ),
  );
  blobHash.pipe(gunzip).pipe(diffHash);
  const close = () => {
    file.destroy();
    blobHash.destroy();
    gunzip.destroy();
    diffHash.destroy();
  };
  return { tar: diffHash, blobHash, diffHash, compression, close };
}
