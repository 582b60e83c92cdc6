import * as fs from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Digest, HashingStream, sha256, verifyDigest } from '../digest.js';
import { ioError, OverlayError } from '../errors.js';
import type { Syscalls } from '../syscalls.js';
import { writeUpperAsLayerTar } from '../upper-to-tar.js';
import { blobExists, uploadBlob } from './blobs.js';
import type { RegistryClient, RegistryOptions } from './client.js';
import { buildManifest, type ManifestFormat, mediaTypes } from './manifest.js';
import { checkAborted } from './pull.js';

/** Progress of a push: compressed layer bytes sent (or found already there). */
export interface PushProgress {
  bytes: number;
  totalBytes: number;
  layersDone: number;
  layersTotal: number;
}

/** Options of {@link ImageStore.push}. */
export interface PushOptions extends RegistryOptions {
  /** Manifest flavour: OCI image manifest (default) or Docker schema 2. */
  format?: ManifestFormat;
  /** Called as layers are prepared and bytes are sent. */
  onProgress?: (progress: PushProgress) => void;
}

/** One layer as pushed. */
export interface PushedLayer {
  /** sha256 of the uncompressed tar that was pushed (the config's diff_id). */
  diffId: Digest;
  /** sha256 of the gzip blob. */
  blobDigest: Digest;
  /** Bytes of the gzip blob. */
  size: number;
  /** False when the registry already had the blob (HEAD answered 200). */
  uploaded: boolean;
}

/** What {@link ImageStore.push} sent. */
export interface PushResult {
  /** The target reference, `:latest` added when it had no tag. */
  ref: string;
  /** Digest of the manifest as stored by the registry; pull `repo@<digest>` to get exactly it. */
  manifestDigest: Digest;
  mediaType: string;
  /**
   * Digest of the pushed config: the id the image gets when pulled. Equal to the local
   * image id when every regenerated layer tar hashes to the stored diffID (layers that
   * tsbox wrote itself, by commit or an earlier push/pull round trip); see DESIGN-NOTES.
   */
  imageId: Digest;
  layers: PushedLayer[];
}

/** A layer blob made ready for upload. */
export interface LayerBlob {
  path: string;
  diffId: Digest;
  digest: Digest;
  size: number;
}

/**
 * Makes the gzip layer blob of a stored layer: the layer directory written back as a tar
 * (whiteout devices as `.wh.` files, opaque dirs as `.wh..wh..opq`, entries sorted, the
 * writer {@link writeUpperAsLayerTar} that commit uses), then gzip. The same directory
 * always gives the same bytes, so a re-push finds its blobs already there.
 */
export async function makeLayerBlob(
  layerFs: string,
  dir: string,
  name: string,
  syscalls: Syscalls,
): Promise<LayerBlob> {
  const tarPath = join(dir, `${name}.tar`);
  const path = join(dir, `${name}.tar.gz`);
  try {
    await writeUpperAsLayerTar(layerFs, tarPath, syscalls);
    const diff = new HashingStream();
    const blob = new HashingStream();
    await pipeline(
      fs.createReadStream(tarPath),
      diff,
      createGzip(),
      blob,
      fs.createWriteStream(path, { flags: 'wx', mode: 0o600 }),
    );
    return { path, diffId: diff.digest, digest: blob.digest, size: blob.bytes };
  } catch (err) {
    throw ioError('registry.layer', err, layerFs);
  } finally {
    fs.rmSync(tarPath, { force: true });
  }
}

/**
 * The config to push: the stored blob as it is when the layers hash to the stored diffIDs,
 * else the same document with `rootfs.diff_ids` replaced by the pushed tars' digests.
 */
export function configForPush(configBlob: string, stored: Digest[], pushed: Digest[]): string {
  if (stored.length === pushed.length && stored.every((d, i) => d === pushed[i])) return configBlob;
  const doc = JSON.parse(configBlob) as Record<string, unknown>;
  const rootfs = { ...((doc.rootfs as Record<string, unknown> | undefined) ?? {}) };
  rootfs.type = 'layers';
  rootfs.diff_ids = pushed;
  return JSON.stringify({ ...doc, rootfs });
}

/** Uploads blobs the repository lacks, then the config, then the manifest under the tag. */
export async function pushBlobsAndManifest(
  client: RegistryClient,
  configBlob: string,
  blobs: LayerBlob[],
  options: PushOptions,
): Promise<PushResult> {
  const ref = client.ref.name;
  const progress: PushProgress = {
    bytes: 0,
    totalBytes: blobs.reduce((n, b) => n + b.size, 0),
    layersDone: 0,
    layersTotal: blobs.length,
  };
  const report = options.onProgress;
  const layers: PushedLayer[] = [];
  for (const b of blobs) {
    checkAborted(options.signal, 'registry.upload', ref);
    const there = await blobExists(client, b.digest);
    if (!there) {
      await uploadBlob(client, b.digest, {
        length: b.size,
        open: () => {
          const file = fs.createReadStream(b.path);
          if (!report) return file;
          const count = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              progress.bytes += chunk.length;
              report({ ...progress });
              cb(null, chunk);
            },
          });
          file.on('error', (err) => count.destroy(err));
          count.on('close', () => file.destroy());
          return file.pipe(count);
        },
      });
    } else progress.bytes += b.size;
    progress.layersDone++;
    report?.({ ...progress });
    layers.push({ diffId: b.diffId, blobDigest: b.digest, size: b.size, uploaded: !there });
  }
  const config = Buffer.from(configBlob);
  const configDigest = sha256(config);
  if (!(await blobExists(client, configDigest))) await uploadBlob(client, configDigest, config);
  const format = options.format ?? 'oci';
  const manifest = Buffer.from(
    buildManifest(
      format,
      { digest: configDigest, size: config.length },
      blobs.map((b) => ({ digest: b.digest, size: b.size })),
    ),
  );
  const manifestDigest = sha256(manifest);
  if (client.ref.digest !== undefined) {
    verifyDigest(manifestDigest, client.ref.digest, 'the manifest', 'registry.manifest', ref);
  }
  checkAborted(options.signal, 'registry.manifest', ref);
  const mediaType = mediaTypes(format).manifest;
  const req = {
    method: 'PUT' as const,
    path: `${client.repoPath}/manifests/${client.ref.tag ?? manifestDigest}`,
    headers: { 'content-type': mediaType },
    body: manifest,
    stage: 'registry.manifest',
  };
  const res = await client.send(req);
  if (res.status !== 201) await client.fail(res, req, 'manifest upload');
  res.body.resume();
  const echoed = res.headers['docker-content-digest'];
  if (typeof echoed === 'string' && echoed !== manifestDigest) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
      'registry.manifest',
      `registry stored the manifest of ${ref} as ${echoed}, but it hashes to ${manifestDigest}`,
      { ref, value: echoed, expected: manifestDigest },
    );
  }
  return { ref, manifestDigest, mediaType, imageId: configDigest, layers };
}
