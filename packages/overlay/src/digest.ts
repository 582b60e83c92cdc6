import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OverlayError } from './errors.js';
import { OffThreadSha256 } from './hash-worker.js';

/** Bytes a hash may lag behind the stream it watches. */
const HASH_BACKLOG = 16 * 1024 * 1024;

/** A content digest as OCI writes it: `sha256:` followed by 64 lower-case hex digits. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a well-formed sha256 digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Validates a digest taken from a manifest or a caller. Other algorithms (sha512) are
 * legal OCI but unused in practice, so they are reported as unsupported, not malformed.
 */
export function parseDigest(value: unknown, stage: string, field: string): Digest {
  if (isDigest(value)) return value;
  if (
    typeof value === 'string' &&
    !value.startsWith('sha256:') &&
    /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(value)
  ) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_UNSUPPORTED',
      stage,
      `digest ${value} in ${field} uses an algorithm other than sha256`,
      { value, field },
    );
  }
  throw new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    stage,
    `${field} is not a sha256 digest: ${String(value)}`,
    { value: String(value), field },
  );
}

/** The hex part of a digest, used as a file name in the store. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** sha256 of a buffer or string, as a {@link Digest}. */
export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it, so one read of a
 * blob yields both its content and its digest.
 */
export class HashingStream extends Transform {
  private readonly hash = new OffThreadSha256();
  private count = 0;
  private result: Digest | undefined;

  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    this.onBytes?.(chunk.length);
    // Let the hash run ahead on its thread, but not unboundedly far behind the stream.
    if (this.hash.inFlight > HASH_BACKLOG)
      this.hash.drained(HASH_BACKLOG).then(() => cb(null, chunk));
    else cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hash.digest().then((hex) => {
      this.result = `sha256:${hex}`;
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.result === undefined) this.hash.abandon();
    cb(err);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** The digest; only valid once the stream has ended. */
  get digest(): Digest {
    if (!this.result) throw new Error('HashingStream.digest read before the stream ended');
    return this.result;
  }
}

/** Throws the typed digest error when `actual` differs from `expected`. */
export function verifyDigest(
  actual: Digest,
  expected: Digest | undefined,
  what: string,
  stage = 'import.verify',
  ref?: string,
): void {
  if (expected !== undefined && actual !== expected) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH',
      stage,
      `${what} hashes to ${actual}, but its manifest says ${expected}`,
      { value: actual, expected, ...(ref === undefined ? {} : { ref }) },
    );
  }
}
