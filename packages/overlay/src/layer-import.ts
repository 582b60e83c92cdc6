import * as fs from 'node:fs';
import { join } from 'node:path';
import { openBlob } from './blob-reader.js';
import { type Digest, isDigest, verifyDigest } from './digest.js';
import { ioError } from './errors.js';
import { extractLayer } from './layer-extract.js';
import { withLock } from './lock.js';
import type { StoreLayout } from './store-layout.js';
import type { Syscalls } from './syscalls.js';

/** One extracted layer in the store. */
export interface LayerRecord {
  /** sha256 of the uncompressed layer tar; the layer's identity. */
  diffId: Digest;
  /** Digests of compressed blobs known to hold this layer (empty for uncompressed input). */
  blobDigests: Digest[];
  /** Size of the uncompressed tar, in bytes. */
  size: number;
  /** Number of tar entries. */
  entries: number;
  /** ISO time of extraction. */
  createdAt: string;
  /** The extracted tree: an overlay lowerdir. Never write to it. */
  path: string;
}

/** What the caller knows about a layer blob before reading it. */
export interface LayerExpectation {
  /** The blob's digest from a manifest; checked against the bytes as stored. */
  blobDigest?: Digest;
  /** The diffID from the image config; checked against the uncompressed bytes. */
  diffId?: Digest;
}

/** Context shared by layer imports. */
export interface LayerImportContext {
  layout: StoreLayout;
  syscalls: Syscalls;
  preserveOwner?: boolean;
  onBytes?: (n: number) => void;
}

/** Outcome of {@link importLayerFile}: the record and whether this call created it. */
export interface LayerImportResult {
  layer: LayerRecord;
  created: boolean;
}

/** Reads a layer record, or `undefined` when the layer is not (completely) in the store. */
export function readLayerRecord(layout: StoreLayout, diffId: Digest): LayerRecord | undefined {
  let text: string;
  try {
    text = fs.readFileSync(layout.layerRecord(diffId), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('store.read', err, layout.layerRecord(diffId));
  }
  const rec = JSON.parse(text) as Omit<LayerRecord, 'path'>;
  return { ...rec, path: layout.layerFs(diffId) };
}

function knownDiffId(layout: StoreLayout, expect: LayerExpectation): Digest | undefined {
  if (expect.diffId) return expect.diffId;
  if (!expect.blobDigest) return undefined;
  try {
    const v = fs.readFileSync(layout.blobIndex(expect.blobDigest), 'utf8').trim();
    return isDigest(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts one layer blob (tar, or tar.gz) into the store, extracting it at most once.
 *
 * When the diffID is known in advance (from a config, or a blob seen before) and the layer
 * exists, the blob is not even read. Otherwise it is extracted into a private staging dir
 * while both digests are computed, verified, and renamed into place under the layer's
 * lock; a process that lost the race finds the layer present and discards its copy. On a
 * digest mismatch the staging dir is removed and nothing reaches the store.
 */
export async function importLayerFile(
  ctx: LayerImportContext,
  blobPath: string,
  expect: LayerExpectation,
): Promise<LayerImportResult> {
  const { layout } = ctx;
  const early = knownDiffId(layout, expect);
  if (early) {
    const existing = readLayerRecord(layout, early);
    if (existing) {
      ctx.onBytes?.(fileSize(blobPath));
      return { layer: existing, created: false };
    }
    // Known identity: serialise extraction so two processes do not both do the work.
    return withLock(ctx.syscalls, layout.layerLock(early), 'exclusive', () =>
      extractAndCommit(ctx, blobPath, expect, early),
    );
  }
  return extractAndCommit(ctx, blobPath, expect, undefined);
}

function fileSize(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch (err) {
    throw ioError('import.read', err, path);
  }
}

async function extractAndCommit(
  ctx: LayerImportContext,
  blobPath: string,
  expect: LayerExpectation,
  /** The diffID whose layer lock the caller holds, if any. */
  locked: Digest | undefined,
): Promise<LayerImportResult> {
  const { layout } = ctx;
  if (locked) {
    const existing = readLayerRecord(layout, locked);
    if (existing) {
      ctx.onBytes?.(fileSize(blobPath));
      return { layer: existing, created: false };
    }
  }
  const staging = layout.makeTemp('layer');
  try {
    const fsDir = join(staging, 'fs');
    fs.mkdirSync(fsDir, 0o755);
    const blob = openBlob(blobPath, ctx.onBytes);
    let result: { entries: number };
    try {
      result = await extractLayer(blob.tar, fsDir, {
        syscalls: ctx.syscalls,
        preserveOwner: ctx.preserveOwner,
      });
    } finally {
      blob.close();
    }
    const blobDigest = blob.blobHash.digest;
    const diffId = blob.diffHash.digest;
    if (blob.compression !== 'none')
      verifyDigest(blobDigest, expect.blobDigest, `layer blob ${blobPath}`);
    else verifyDigest(diffId, expect.blobDigest, `layer blob ${blobPath}`);
    verifyDigest(diffId, expect.diffId, `uncompressed layer ${blobPath}`);
    const record: Omit<LayerRecord, 'path'> = {
      diffId,
      blobDigests: blob.compression === 'none' ? [] : [blobDigest],
      size: blob.diffHash.bytes,
      entries: result.entries,
      createdAt: new Date().toISOString(),
    };
    fs.writeFileSync(join(staging, 'layer.json'), JSON.stringify(record));
    const commit = async (): Promise<LayerImportResult> => {
      const existing = readLayerRecord(layout, diffId);
      if (existing) {
        if (record.blobDigests[0] && !existing.blobDigests.includes(record.blobDigests[0])) {
          existing.blobDigests.push(record.blobDigests[0]);
          const { path: _p, ...plain } = existing;
          layout.writeAtomic(layout.layerRecord(diffId), JSON.stringify(plain));
          layout.writeAtomic(layout.blobIndex(record.blobDigests[0]), diffId);
        }
        return { layer: existing, created: false };
      }
      try {
        fs.renameSync(staging, layout.layerDir(diffId));
      } catch (err) {
        throw ioError('store.commit', err, layout.layerDir(diffId));
      }
      if (record.blobDigests[0])
        layout.writeAtomic(layout.blobIndex(record.blobDigests[0]), diffId);
      return { layer: { ...record, path: layout.layerFs(diffId) }, created: true };
    };
    // A lock already held for this diffID must not be taken again (flock would wait on itself).
    return locked === diffId
      ? await commit()
      : await withLock(ctx.syscalls, layout.layerLock(diffId), 'exclusive', commit);
  } finally {
    // After a successful rename the staging path no longer exists; this is then a no-op.
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
