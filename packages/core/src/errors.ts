import { constants } from 'node:os';

/**
 * Base class of every error `@tsbox/core` throws. `code` is stable API; `stage`
 * says where it failed (`spec`, `init.mount.bind`, `exec`, ...). See
 * docs/CONVENTIONS.md.
 */
export class TsboxError extends Error {
  readonly code: string;
  readonly stage: string;
  constructor(code: string, stage: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.stage = stage;
  }
}

/** Bad input to the builder or to `run()`; thrown before anything is created. */
export class InvalidSpecError extends TsboxError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super('ERR_TSBOX_INVALID_SPEC', 'spec', `invalid ${field} ${describe(value)}: ${reason}`);
  }
}

/** The command to run does not exist in the container's root filesystem. */
export class ExecNotFoundError extends TsboxError {
  readonly errno = 'ENOENT';
  constructor(readonly path: string) {
    super(
      'ERR_TSBOX_EXEC_NOT_FOUND',
      'exec',
      `executable not found in the container: ${path} (searched the container's PATH)`,
    );
  }
}

/** The command exists but may not be executed (EACCES: no execute bit, noexec mount). */
export class ExecPermissionError extends TsboxError {
  readonly errno = 'EACCES';
  constructor(readonly path: string) {
    super(
      'ERR_TSBOX_EXEC_PERMISSION',
      'exec',
      `permission denied executing ${path} in the container`,
    );
  }
}

/**
 * `tsbox-init` failed while setting up the container (a mount, pivot_root, the
 * user switch, cwd ...). `stage` is init's stage, `errno` the errno name.
 */
export class InitError extends TsboxError {
  constructor(
    stage: string,
    readonly errno: string,
    readonly detail: string,
  ) {
    super(
      'ERR_TSBOX_INIT',
      `init.${stage}`,
      `container set-up failed at ${stage}${detail ? ` (${detail})` : ''}: ${errno}`,
    );
  }
}

/** The host-side helper died or spoke out of turn before the container started. */
export class InitProtocolError extends TsboxError {
  constructor(stage: string, message: string) {
    super('ERR_TSBOX_INIT_PROTOCOL', stage, message);
  }
}

/** Operation on a container that is not in the state it needs (e.g. kill after exit). */
export class ContainerStateError extends TsboxError {
  constructor(stage: string, message: string) {
    super('ERR_TSBOX_CONTAINER_STATE', stage, message);
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name]),
);

/** `2` → `'ENOENT'`. */
export function errnoName(n: number): string {
  return errnoNames.get(n) ?? `errno ${n}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
