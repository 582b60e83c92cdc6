/**
 * Stable error codes of `@tsbox/cgroups`. Codes are API: they never change meaning.
 *
 * - `ERR_TSBOX_INVALID_LIMIT`: a {@link CgroupLimits} value is out of range or names
 *   something the host lacks (thrown before anything is created).
 * - `ERR_TSBOX_INVALID_NAME`: a cgroup id that cannot be a directory name.
 * - `ERR_TSBOX_INVALID_OPTION`: a {@link CgroupOptions} value is wrong (an owner pid that does not run).
 * - `ERR_TSBOX_CGROUP_EXISTS`: a cgroup with this id and owner already exists.
 * - `ERR_TSBOX_CGROUP_UNSUPPORTED`: the host lacks the controller or interface file a
 *   request needs (for example swap limits without swap accounting).
 * - `ERR_TSBOX_CGROUP_BUSY`: members did not go away in time; the directory is still there.
 * - `ERR_TSBOX_CGROUP_TIMEOUT`: the kernel did not finish freezing in time.
 * - `ERR_TSBOX_CGROUP`: any other failing cgroup file operation (see `errno`, `path`).
 */
export type CgroupErrorCode =
  | 'ERR_TSBOX_INVALID_LIMIT'
  | 'ERR_TSBOX_INVALID_NAME'
  | 'ERR_TSBOX_INVALID_OPTION'
  | 'ERR_TSBOX_CGROUP_EXISTS'
  | 'ERR_TSBOX_CGROUP_UNSUPPORTED'
  | 'ERR_TSBOX_CGROUP_BUSY'
  | 'ERR_TSBOX_CGROUP_TIMEOUT'
  | 'ERR_TSBOX_CGROUP';

/** Context carried by a {@link CgroupError}; every field is optional. */
export interface CgroupErrorContext {
  /** The cgroup file or directory involved. */
  path?: string;
  /** The limit field involved, e.g. `'memoryBytes'`. */
  field?: string;
  /** The offending value, or the value being written. */
  value?: unknown;
  /** The errno *name* (`'EBUSY'`), when a system call failed. */
  errno?: string;
  /** The failing system call (`'mkdir'`, `'write'`, `'rmdir'`). */
  syscall?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The one error class `@tsbox/cgroups` throws (see docs/CONVENTIONS.md): a stable
 * `code`, the failing `stage` (`cgroup.validate`, `cgroup.create`, `cgroup.apply`,
 * `cgroup.freeze`, `cgroup.kill`, `cgroup.destroy`, `cgroup.stats`, `cgroup.sweep`)
 * and context fields.
 */
export class CgroupError extends Error {
  override readonly name = 'CgroupError';
  readonly code: CgroupErrorCode;
  readonly stage: string;
  readonly path: string | undefined;
  readonly field: string | undefined;
  readonly value: unknown;
  readonly errno: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: CgroupErrorCode, stage: string, message: string, ctx: CgroupErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.code = code;
    this.stage = stage;
    this.path = ctx.path;
    this.field = ctx.field;
    this.value = ctx.value;
    this.errno = ctx.errno;
    this.syscall = ctx.syscall;
  }
}

/** The errno name of a Node system error (`'ENOENT'`), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Wraps a failed file operation on `path` into a `CgroupError` naming what was attempted. */
export function fsError(
  stage: string,
  syscall: string,
  path: string,
  err: unknown,
  value?: unknown,
): CgroupError {
  const errno = errnoOf(err);
  const what =
    value === undefined ? `${syscall} ${path}` : `write ${JSON.stringify(value)} to ${path}`;
  return new CgroupError('ERR_TSBOX_CGROUP', stage, `failed to ${what}: ${errno ?? String(err)}`, {
    path,
    errno,
    syscall,
    value,
    cause: err,
  });
}
