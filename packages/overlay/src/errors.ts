/**
 * Stable error codes of `@tsbox/overlay`. Codes are API: they never change meaning.
 *
 * - `ERR_TSBOX_OVERLAY_DIGEST_MISMATCH`: a blob or layer did not hash to the digest its
 *   manifest or config names; nothing of it was kept.
 * - `ERR_TSBOX_OVERLAY_INVALID_ARCHIVE`: the input is not a recognised image or layer
 *   (missing manifest, malformed JSON, bad tar).
 * - `ERR_TSBOX_OVERLAY_UNSUPPORTED`: a valid input uses something this package does not
 *   implement (zstd layers, foreign digest algorithms).
 * - `ERR_TSBOX_OVERLAY_UNSAFE_PATH`: a layer entry tried to escape its layer directory.
 * - `ERR_TSBOX_OVERLAY_NOT_FOUND`: the named image or layer is not in the store.
 * - `ERR_TSBOX_OVERLAY_INVALID_OPTION`: an argument was rejected before anything was done.
 * - `ERR_TSBOX_OVERLAY_SYSCALL`: a system call failed; `syscall` and `errno` say which and why.
 * - `ERR_TSBOX_OVERLAY_IO`: a file-system operation done through Node failed.
 * - `ERR_TSBOX_OVERLAY_REGISTRY`: a registry could not be reached or answered with an HTTP
 *   error or a response that breaks the distribution API; `status` holds the HTTP status.
 * - `ERR_TSBOX_OVERLAY_AUTH`: a registry or its token service refused the credentials (or
 *   wants some and none were given); `status` holds the HTTP status.
 * - `ERR_TSBOX_OVERLAY_ABORTED`: the caller's `AbortSignal` fired; nothing of the
 *   operation was kept in the store.
 */
export type OverlayErrorCode =
  | 'ERR_TSBOX_OVERLAY_DIGEST_MISMATCH'
  | 'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE'
  | 'ERR_TSBOX_OVERLAY_UNSUPPORTED'
  | 'ERR_TSBOX_OVERLAY_UNSAFE_PATH'
  | 'ERR_TSBOX_OVERLAY_NOT_FOUND'
  | 'ERR_TSBOX_OVERLAY_INVALID_OPTION'
  | 'ERR_TSBOX_OVERLAY_SYSCALL'
  | 'ERR_TSBOX_OVERLAY_IO'
  | 'ERR_TSBOX_OVERLAY_REGISTRY'
  | 'ERR_TSBOX_OVERLAY_AUTH'
  | 'ERR_TSBOX_OVERLAY_ABORTED'
  | 'ERR_TSBOX_DOCKERFILE'
  | 'ERR_TSBOX_VOLUME_IN_USE';

/** Context fields an {@link OverlayError} may carry. */
export interface OverlayErrorContext {
  /** The file or directory the failure concerns. */
  path?: string;
  /** The offending value (a digest, a size string, a media type...). */
  value?: string;
  /** The expected value, for mismatches (the digest a manifest promised). */
  expected?: string;
  /** The option or manifest field that was rejected. */
  field?: string;
  /** errno name, such as `'ENOENT'`. */
  errno?: string;
  /** The failing system call, such as `'mount'`. */
  syscall?: string;
  /** The image reference a registry operation concerns (`127.0.0.1:5000/busybox:latest`). */
  ref?: string;
  /** The HTTP status a registry or token service answered with. */
  status?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The one error class of `@tsbox/overlay` (see docs/CONVENTIONS.md): a stable `code`,
 * the failing `stage` (`store.lock`, `import.verify`, `overlay.mount`, ...) and context.
 */
export class OverlayError extends Error {
  override readonly name: string = 'OverlayError';
  readonly code: OverlayErrorCode;
  readonly stage: string;
  readonly path?: string;
  readonly value?: string;
  readonly expected?: string;
  readonly field?: string;
  readonly errno?: string;
  readonly syscall?: string;
  readonly ref?: string;
  readonly status?: number;

  constructor(
    code: OverlayErrorCode,
    stage: string,
    message: string,
    ctx: OverlayErrorContext = {},
  ) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.code = code;
    this.stage = stage;
    if (ctx.path !== undefined) this.path = ctx.path;
    if (ctx.value !== undefined) this.value = ctx.value;
    if (ctx.expected !== undefined) this.expected = ctx.expected;
    if (ctx.field !== undefined) this.field = ctx.field;
    if (ctx.errno !== undefined) this.errno = ctx.errno;
    if (ctx.syscall !== undefined) this.syscall = ctx.syscall;
    if (ctx.ref !== undefined) this.ref = ctx.ref;
    if (ctx.status !== undefined) this.status = ctx.status;
  }
}

/** Wraps a Node fs error (which has `code`, `syscall`, `path`) into an {@link OverlayError}. */
export function ioError(stage: string, err: unknown, path?: string): OverlayError {
  if (err instanceof OverlayError) return err;
  const e = err as NodeJS.ErrnoException;
  const where = path ?? e.path;
  return new OverlayError('ERR_TSBOX_OVERLAY_IO', stage, `${stage}: ${e.message ?? String(err)}`, {
    path: where,
    errno: e.code,
    syscall: e.syscall,
    cause: err,
  });
}
