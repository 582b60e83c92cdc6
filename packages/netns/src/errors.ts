import { constants } from 'node:os';

/** Context fields a {@link NetlinkError} may carry besides its stage. */
export interface NetlinkErrorDetails {
  /** Errno name (`'EEXIST'`, `'ENODEV'`), when the kernel or libc reported one. */
  errno?: string;
  /** The libc call that failed (`'socket'`, `'setns'`, ...), when it was one. */
  syscall?: string;
  /** The interface, address, route or namespace the operation was about. */
  value?: string;
  /** The kernel's extended-ack message, when it sent one. */
  kernelMessage?: string;
  cause?: unknown;
}

/**
 * A failure of the kernel to do what was asked: a netlink request answered with
 * `NLMSG_ERROR`, or a failing syscall (`socket`, `setns`, ...).
 *
 * Match on `errno`, never on `message`:
 * ```ts
 * try { nl.addAddress('tsb0', '10.89.0.2/24'); }
 * catch (e) { if (e instanceof NetlinkError && e.errno === 'EEXIST') { ... } }
 * ```
 */
export class NetlinkError extends Error {
  /** Stable code shared by every {@link NetlinkError}. */
  readonly code = 'ERR_TSBOX_NETLINK' as const;
  /** Where it failed: `'netlink.newaddr'`, `'netlink.newlink'`, `'netns.enter'`, ... */
  readonly stage: string;
  readonly errno: string | undefined;
  readonly syscall: string | undefined;
  readonly value: string | undefined;
  readonly kernelMessage: string | undefined;

  constructor(stage: string, message: string, details: NetlinkErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'NetlinkError';
    this.stage = stage;
    this.errno = details.errno;
    this.syscall = details.syscall;
    this.value = details.value;
    this.kernelMessage = details.kernelMessage;
  }
}

/**
 * An address could not be leased or released: the subnet is exhausted or the lease
 * store is unusable. Stages: `'ipam.allocate'`, `'ipam.release'`, `'ipam.store'`.
 */
export class IpamError extends Error {
  readonly code = 'ERR_TSBOX_IPAM' as const;
  readonly stage: string;
  /** The subnet, address or lease path concerned. */
  readonly value: string | undefined;
  readonly errno: string | undefined;

  constructor(
    stage: string,
    message: string,
    details: { value?: string; errno?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'IpamError';
    this.stage = stage;
    this.value = details.value;
    this.errno = details.errno;
  }
}

/**
 * Bad input (an unparsable address, an interface name over 15 bytes, a subnet too small).
 * Thrown before anything is created. Same code as core's spec errors: the caller
 * passed something wrong.
 */
export class InvalidNetworkInputError extends Error {
  readonly code = 'ERR_TSBOX_INVALID_SPEC' as const;
  readonly stage = 'netns.input' as const;
  /** Which argument was wrong (`'address'`, `'name'`, `'subnet'`...). */
  readonly field: string;
  readonly value: string;

  constructor(field: string, value: unknown, why: string) {
    super(`Invalid ${field} ${JSON.stringify(value)}: ${why}`);
    this.name = 'InvalidNetworkInputError';
    this.field = field;
    this.value = String(value);
  }
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // Aliases (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK) would shadow the usual names.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** `17` → `'EEXIST'`; unknown numbers become `'E<n>'` rather than being lost. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}
