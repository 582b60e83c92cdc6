import * as fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, HashingStream, sha256, verifyDigest } from '../digest.js';
import { OverlayError } from '../errors.js';
import type { RegistryClient } from './client.js';
import { type ReplayableBody, readBody, transportError } from './http.js';

/** A blob to fetch: its digest and the size its manifest promises. */
export interface BlobDescriptor {
  digest: Digest;
  size: number;
}

function tooLong(client: RegistryClient, d: BlobDescriptor): OverlayError {
  return new OverlayError(
    'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
    'registry.blob',
    `blob ${d.digest} of ${client.ref.name} is longer than the ${d.size} bytes its manifest says`,
    { ref: client.ref.name, expected: d.digest },
  );
}

async function getBlob(client: RegistryClient, d: BlobDescriptor) {
  const req = {
    method: 'GET' as const,
    path: `${client.repoPath}/blobs/${d.digest}`,
    stage: 'registry.blob',
  };
  const res = await client.send(req);
  if (res.status !== 200) await client.fail(res, req, `blob ${d.digest}`, undefined, d.digest);
  return { req, res };
}

/**
 * Downloads a blob into `path` (created, never overwritten), hashing it on the way; the
 * file is only good once this resolves: a wrong digest or size rejects with
 * `ERR_TSBOX_OVERLAY_DIGEST_MISMATCH` (stage `registry.blob`) and the caller discards it.
 */
export async function downloadBlob(
  client: RegistryClient,
  d: BlobDescriptor,
  path: string,
  onBytes?: (n: number) => void,
): Promise<void> {
  const { res } = await getBlob(client, d);
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > d.size) cb(tooLong(client, d));
      else cb(null, chunk);
    },
  });
  const hash = new HashingStream(onBytes);
  try {
    await pipeline(res.body, limit, hash, fs.createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    const what = `download of blob ${d.digest}`;
    throw transportError(err, 'registry.blob', what, client.ref.name, client.signal);
  }
  verifyDigest(hash.digest, d.digest, `blob ${d.digest}`, 'registry.blob', client.ref.name);
  if (seen !== d.size) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
      'registry.blob',
      `blob ${d.digest} of ${client.ref.name} has ${seen} bytes, its manifest says ${d.size}`,
      { ref: client.ref.name, expected: d.digest },
    );
  }
}

/** Fetches a small blob (an image config) into memory and checks its digest. */
export async function fetchBlob(
  client: RegistryClient,
  d: BlobDescriptor,
  limit: number,
): Promise<Buffer> {
  if (d.size > limit) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_REGISTRY',
      'registry.blob',
      `blob ${d.digest} of ${client.ref.name} is ${d.size} bytes, over the ${limit} allowed`,
      { ref: client.ref.name, value: d.digest },
    );
  }
  const { req, res } = await getBlob(client, d);
  const body = await readBody(res, d.size, { ...req, url: res.url, ref: client.ref.name }).catch(
    (err: unknown) => {
      throw err instanceof OverlayError && err.code === 'ERR_TSBOX_OVERLAY_REGISTRY'
        ? tooLong(client, d)
        : err;
    },
  );
  verifyDigest(sha256(body), d.digest, `blob ${d.digest}`, 'registry.blob', client.ref.name);
  return body;
}

/** True when the repository already has the blob (HEAD answers 200). */
export async function blobExists(client: RegistryClient, digest: Digest): Promise<boolean> {
  const req = {
    method: 'HEAD' as const,
    path: `${client.repoPath}/blobs/${digest}`,
    stage: 'registry.blob',
  };
  const res = await client.send(req);
  res.body.resume();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  // A HEAD answer has no body to explain itself.
  return client.fail(res, req, `blob ${digest}`, undefined, digest);
}

/**
 * Uploads a blob in one piece (distribution spec "monolithic upload"): POST opens an
 * upload session, PUT to its Location with `?digest=` sends the bytes and commits them;
 * the registry checks the digest itself.
 */
export async function uploadBlob(
  client: RegistryClient,
  digest: Digest,
  body: Buffer | ReplayableBody,
): Promise<void> {
  const post = {
    method: 'POST' as const,
    path: `${client.repoPath}/blobs/uploads/`,
    headers: { 'content-length': '0' },
    stage: 'registry.upload',
  };
  const started = await client.send(post);
  const location = started.headers.location;
  if (started.status !== 202 || !location) {
    return client.fail(started, post, `upload of blob ${digest}`, undefined, digest);
  }
  started.body.resume();
  const url = new URL(location, `${client.base}/`);
  url.searchParams.set('digest', digest);
  const put = {
    method: 'PUT' as const,
    path: url.href,
    headers: { 'content-type': 'application/octet-stream' },
    body,
    stage: 'registry.upload',
  };
  const done = await client.send(put);
  if (done.status !== 201) {
    return client.fail(done, put, `upload of blob ${digest}`, undefined, digest);
  }
  done.body.resume();
}
