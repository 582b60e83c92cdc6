/**
 * The few libc calls Node lacks, bound through koffi: a netlink socket's life
 * (`socket`, `bind`, `setsockopt`, `sendto`, `recv`, `close`) and `setns`.
 * Loaded on first use so that importing the package costs nothing.
 *
 * @internal
 */
import { errno as koffiErrno, load } from 'koffi';
import { errnoName, NetlinkError } from './errors.js';

type Fd = number;

export interface Libc {
  socket(domain: number, type: number, protocol: number): Fd;
  bind(fd: Fd, address: Buffer, addressLength: number): number;
  setsockopt(fd: Fd, level: number, name: number, value: Buffer, valueLength: number): number;
  sendto(
    fd: Fd,
    data: Buffer,
    length: number,
    flags: number,
    address: Buffer | null,
    addressLength: number,
  ): number;
  recv(fd: Fd, into: Buffer, length: number, flags: number): number;
  close(fd: Fd): number;
  setns(fd: Fd, nstype: number): number;
}

let bound: Libc | undefined;

export function libc(): Libc {
  if (bound) return bound;
  const lib = load('libc.so.6');
  // ssize_t is intptr_t on Linux; koffi returns it as a number.
  bound = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t addrlen)'),
    setsockopt: lib.func(
      'int setsockopt(int fd, int level, int name, const void *value, uint32_t len)',
    ),
    sendto: lib.func(
      'intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
    ),
    recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
    close: lib.func('int close(int fd)'),
    setns: lib.func('int setns(int fd, int nstype)'),
  };
  return bound;
}

/** The errno name of the last failing libc call on this thread. */
export function lastErrno(): string {
  return errnoName(koffiErrno());
}

/** Builds the {@link NetlinkError} for a libc call that returned -1. */
export function syscallError(syscall: string, stage: string, value?: string): NetlinkError {
  const errno = lastErrno();
  const what = value === undefined ? '' : ` (${value})`;
  return new NetlinkError(stage, `${syscall}${what} failed: ${errno}`, {
    errno,
    syscall,
    ...(value === undefined ? {} : { value }),
  });
}
