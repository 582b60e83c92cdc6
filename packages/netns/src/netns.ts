/**
 * Network namespaces as targets: by process id, by open fd, or by path
 * (`/proc/<pid>/ns/net`, `/run/netns/<name>`), and running synchronous code with
 * the calling thread inside one.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { CLONE_NEWNET } from './constants.js';
import { NetlinkError } from './errors.js';
import { libc, syscallError } from './libc.js';

/**
 * A network namespace: the one of process `pid`, the one an open `fd` refers to
 * (the caller keeps ownership of the fd), or a namespace file at `path`.
 */
export type NetnsTarget = { pid: number } | { fd: number } | { path: string };

/** The namespace file of the calling thread (Node runs JS on the main thread). */
const OWN_NETNS = '/proc/thread-self/ns/net';

/** A human-readable name of a target for error messages. */
export function describeNetns(target: NetnsTarget): string {
  if ('pid' in target) return `/proc/${target.pid}/ns/net`;
  if ('fd' in target) return `fd ${target.fd}`;
  return target.path;
}

/** An fd for a target; `release` closes it when we opened it. @internal */
export interface HeldNetns {
  fd: number;
  release(): void;
}

/** Opens a target's namespace file (or borrows its fd). @internal */
export function holdNetns(target: NetnsTarget): HeldNetns {
  if ('fd' in target) return { fd: target.fd, release: () => {} };
  const path = 'pid' in target ? `/proc/${target.pid}/ns/net` : target.path;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new NetlinkError('netns.open', `Cannot open network namespace ${path}: ${errno}`, {
      value: path,
      syscall: 'open',
      ...(errno === undefined ? {} : { errno }),
      cause,
    });
  }
  return { fd, release: () => closeSync(fd) };
}

/**
 * Runs `fn` with the calling thread inside the network namespace `target`, and
 * always moves the thread back to the namespace it was in, also when `fn` throws.
 *
 * `fn` must be synchronous: while it runs, the whole JavaScript thread is in the
 * other namespace, so letting other code run (an `await`) would be a bug. A `fn`
 * returning a promise is refused with an error (after the thread is back home).
 *
 * Sockets created inside `fn` stay bound to `target` after the thread leaves; this
 * is how {@link NetlinkSocket.open} with `netns` talks to a container's namespace.
 * Only the network namespace is switched (`setns(fd, CLONE_NEWNET)`), which the
 * kernel allows in multi-threaded processes such as Node.
 *
 * @throws {@link NetlinkError} stage `'netns.open'` or `'netns.enter'` (nothing
 *   changed), or `'netns.restore'` (the thread could not go back: the process is in
 *   an undefined state and should exit).
 */
export function runInNetns<T>(target: NetnsTarget, fn: () => T): T {
  const home = openSync(OWN_NETNS, 'r');
  try {
    const held = holdNetns(target);
    try {
      if (libc().setns(held.fd, CLONE_NEWNET) !== 0) {
        throw syscallError('setns', 'netns.enter', describeNetns(target));
      }
      let result: T;
      try {
        result = fn();
      } finally {
        if (libc().setns(home, CLONE_NEWNET) !== 0) {
          // Not recoverable by us: say so loudly rather than carry on in the wrong place.
          // biome-ignore lint/correctness/noUnsafeFinally: a failed restore must win over fn's error.
          throw syscallError('setns', 'netns.restore', OWN_NETNS);
        }
      }
      if (isThenable(result)) {
        throw new NetlinkError(
          'netns.enter',
          'runInNetns needs a synchronous function: the thread has already left the namespace',
        );
      }
      return result;
    } finally {
      held.release();
    }
  } finally {
    closeSync(home);
  }
}

function isThenable(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The inode number identifying a network namespace (what `ls -Li` and `lsns`
 * show). Without a target: the calling thread's own namespace.
 */
export function netnsInode(target?: NetnsTarget): number {
  if (target === undefined) return statSync(OWN_NETNS).ino;
  if ('fd' in target) return statSync(`/proc/self/fd/${target.fd}`).ino;
  return statSync(describeNetns(target)).ino;
}
