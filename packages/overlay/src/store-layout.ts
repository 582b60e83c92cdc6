import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type Digest, digestHex } from './digest.js';
import { ioError } from './errors.js';

/**
 * Where things live under a store root. Everything the store writes goes through a
 * staging directory in `tmp/` on the same file system and reaches its final name by one
 * rename(2), so a reader never sees half of anything:
 *
 * ```
 * <root>/layers/<diffID hex>/fs          extracted layer (an overlay lowerdir)
 * <root>/layers/<diffID hex>/layer.json  LayerRecord
 * <root>/blobs/<blob hex>                diffID of a compressed blob (skip re-import)
 * <root>/images/<image id hex>.json      ImageRecord (id = sha256 of the config blob)
 * <root>/l/<16 hex>                     short symlink to layers/<hex>/fs (long lowerdir lists)
 * <root>/locks/                          flock files: store.lock, images.lock, layer-<hex>.lock
 * <root>/tmp/                            staging and trash
 * ```
 */
export class StoreLayout {
  constructor(readonly root: string) {}

  get layersDir(): string {
    return join(this.root, 'layers');
  }
  get blobsDir(): string {
    return join(this.root, 'blobs');
  }
  get imagesDir(): string {
    return join(this.root, 'images');
  }
  get locksDir(): string {
    return join(this.root, 'locks');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  get storeLock(): string {
    return join(this.locksDir, 'store.lock');
  }
  get imagesLock(): string {
    return join(this.locksDir, 'images.lock');
  }
  layerDir(diffId: Digest): string {
    return join(this.layersDir, digestHex(diffId));
  }
  layerFs(diffId: Digest): string {
    return join(this.layerDir(diffId), 'fs');
  }
  /** Short symlink to a layer's fs dir, to fit many layers in one page of mount options. */
  shortLink(diffId: Digest): string {
    return join(this.root, 'l', digestHex(diffId).slice(0, 16));
  }
  layerRecord(diffId: Digest): string {
    return join(this.layerDir(diffId), 'layer.json');
  }
  layerLock(digest: Digest): string {
    return join(this.locksDir, `layer-${digestHex(digest)}.lock`);
  }
  blobIndex(blobDigest: Digest): string {
    return join(this.blobsDir, digestHex(blobDigest));
  }
  imageRecord(id: Digest): string {
    return join(this.imagesDir, `${digestHex(id)}.json`);
  }

  /** Creates the store's directories (idempotent). */
  ensure(): void {
    try {
      for (const d of [this.layersDir, this.blobsDir, this.imagesDir, this.locksDir, this.tmpDir]) {
        fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      }
    } catch (err) {
      throw ioError('store.init', err, this.root);
    }
  }

  /** A fresh private directory in tmp/, named for what it holds. */
  makeTemp(prefix: string): string {
    try {
      return fs.mkdtempSync(join(this.tmpDir, `${prefix}-`));
    } catch (err) {
      throw ioError('store.tmp', err, this.tmpDir);
    }
  }

  /** Writes a small file atomically: temp file in tmp/, then rename over the target. */
  writeAtomic(path: string, data: string): void {
    const tmp = join(this.tmpDir, `write-${randomBytes(6).toString('hex')}`);
    try {
      fs.writeFileSync(tmp, data, { mode: 0o600 });
      fs.renameSync(tmp, path);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw ioError('store.write', err, path);
    }
  }

  /**
   * Removes a directory tree so that it stops existing under its name at once (rename to
   * trash), then deletes the trash; a crash midway leaves only trash for prune().
   */
  removeTree(path: string): void {
    const trash = join(this.tmpDir, `trash-${randomBytes(6).toString('hex')}`);
    try {
      fs.renameSync(path, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError('store.remove', err, path);
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }
}
