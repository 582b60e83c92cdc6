/**
 * IP address management for one IPv4 subnet, safe across processes without a lock.
 *
 * ## Lease store design
 *
 * A lease is a file named after the address (`<directory>/10.89.0.7`) holding a JSON
 * record `{ owner, pid, pidStart, createdAt }`. Taking an address is
 * `open(path, O_CREAT | O_EXCL)` (`fs.openSync(path, 'wx')`): the kernel guarantees
 * that exactly one of several racing processes creates the file, the others get
 * `EEXIST` and try the next free address. There is no global lock, so nothing can be
 * left locked by a crashed process and allocations never wait for each other.
 *
 * - allocate: `readdir` to see taken addresses, then `wx`-create the lowest free
 *   one; on `EEXIST` (another process won it) move on. At most one pass over the
 *   subnet, so it is bounded.
 * - release: read the record, check the owner, `unlink`. Only the owner (or gc)
 *   removes a lease, so read-then-unlink does not race with another owner.
 * - crash safety: a lease whose holder died stays taken until `reclaim` removes it;
 *   {@link Ipam.reclaimDeadHolders} checks the holder pid *and* its start time (from
 *   `/proc/<pid>/stat`) so a recycled pid is not mistaken for the holder. A lease
 *   file that is empty (its creator died between `open` and `write`) counts as taken
 *   and is reclaimed once it is older than a few seconds.
 *
 * The network address, the broadcast address and the reserved addresses (by default
 * the gateway, the first host address) are never leased.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { InvalidNetworkInputError, IpamError } from './errors.js';
import { Subnet } from './ip.js';

/** Options of {@link Ipam}. */
export interface IpamOptions {
  /** The lease directory of this network (created on first use). */
  directory: string;
  /** The IPv4 subnet to lease from, `'10.89.0.0/24'` (prefix 8..30). */
  subnet: string;
  /** Addresses never leased. Default: the first host address (the gateway). */
  reserved?: readonly string[];
}

/** One leased address. */
export interface Lease {
  address: string;
  /** The subnet's prefix length, so `${address}/${prefixLength}` is the interface address. */
  prefixLength: number;
  /** Who holds it: a container id, chosen by the caller. Empty for an unreadable lease. */
  owner: string;
  /** The process that took the lease. */
  pid: number;
  /** That process's start time (clock ticks since boot), to detect pid reuse. */
  pidStart: number;
  /** When it was taken (ms since epoch). */
  createdAt: number;
}

/** How old an empty (half-written) lease file must be before reclaim removes it. */
const EMPTY_LEASE_GRACE_MS = 10_000;

/** Leases IPv4 addresses of one subnet to owners. All methods are synchronous and fast. */
export class Ipam {
  readonly directory: string;
  readonly subnet: Subnet;
  private readonly reserved: Set<string>;
  private directoryReady = false;

  constructor(options: IpamOptions) {
    this.subnet = Subnet.parse(options.subnet);
    if (this.subnet.family !== 4 || this.subnet.prefixLength < 8 || this.subnet.prefixLength > 30) {
      throw new InvalidNetworkInputError('subnet', options.subnet, 'IPAM needs an IPv4 /8../30');
    }
    this.directory = options.directory;
    this.reserved = new Set(options.reserved ?? [this.subnet.at(1)]);
    for (const address of this.reserved) {
      if (!this.subnet.contains(address)) {
        throw new InvalidNetworkInputError('reserved', address, `not in ${this.subnet}`);
      }
    }
  }

  /**
   * Leases the lowest free address (or exactly `address`) to `owner`.
   * @throws {@link IpamError} stage `'ipam.allocate'`: subnet exhausted, or the
   *   requested address is taken, reserved or outside the subnet.
   */
  allocate(owner: string, options: { address?: string } = {}): Lease {
    this.ensureDirectory();
    if (options.address !== undefined) {
      const offset = this.subnet.offsetOf(options.address);
      if (offset <= 0 || offset >= this.subnet.size - 1 || this.reserved.has(options.address)) {
        throw new IpamError(
          'ipam.allocate',
          `${options.address} is not a leasable address of ${this.subnet}`,
          { value: options.address },
        );
      }
      const lease = this.tryCreate(options.address, owner);
      if (!lease) {
        throw new IpamError('ipam.allocate', `${options.address} is already leased`, {
          value: options.address,
          errno: 'EEXIST',
        });
      }
      return lease;
    }
    const taken = new Set(this.leaseFiles());
    for (let offset = 1; offset < this.subnet.size - 1; offset++) {
      const address = this.subnet.at(offset);
      if (this.reserved.has(address) || taken.has(address)) continue;
      const lease = this.tryCreate(address, owner);
      if (lease) return lease;
    }
    throw new IpamError('ipam.allocate', `No free address left in ${this.subnet}`, {
      value: this.subnet.toString(),
    });
  }

  /**
   * Releases `address`. With `owner`, only if that owner holds it (a lease that was
   * reclaimed and re-leased to someone else is left alone). Idempotent: returns
   * `false` when there was nothing to release.
   */
  release(address: string, owner?: string): boolean {
    const path = this.pathOf(address);
    if (owner !== undefined) {
      // An empty owner means "being written right now" (or a crashed writer): only
      // reclaim may remove such a lease, never a release by some other owner.
      if (this.read(address)?.owner !== owner) return false;
    }
    return unlinkIfPresent(path);
  }

  /** Releases every lease of `owner` (for gc after a crash); returns the addresses. */
  releaseOwner(owner: string): string[] {
    return this.list()
      .filter((lease) => lease.owner === owner)
      .filter((lease) => unlinkIfPresent(this.pathOf(lease.address)))
      .map((lease) => lease.address);
  }

  /** All current leases, in address order. */
  list(): Lease[] {
    return this.leaseFiles()
      .map((address) => this.read(address))
      .filter((lease): lease is Lease => lease !== undefined)
      .sort((a, b) => this.subnet.offsetOf(a.address) - this.subnet.offsetOf(b.address));
  }

  /** Removes the leases `isStale` says are stale; returns their addresses. */
  reclaim(isStale: (lease: Lease) => boolean): string[] {
    return this.list()
      .filter(isStale)
      .filter((lease) => unlinkIfPresent(this.pathOf(lease.address)))
      .map((lease) => lease.address);
  }

  /**
   * Removes leases whose holder process is gone (or whose pid now belongs to another
   * process), and half-written leases older than 10 s.
   */
  reclaimDeadHolders(): string[] {
    const now = Date.now();
    return this.reclaim((lease) =>
      lease.pid === 0
        ? now - lease.createdAt > EMPTY_LEASE_GRACE_MS
        : processStartTime(lease.pid) !== lease.pidStart,
    );
  }

  private tryCreate(address: string, owner: string): Lease | undefined {
    const path = this.pathOf(address);
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw storeError(error, path);
    }
    const lease: Lease = {
      address,
      prefixLength: this.subnet.prefixLength,
      owner,
      pid: process.pid,
      pidStart: ownStartTime(),
      createdAt: Date.now(),
    };
    try {
      const { pid, pidStart, createdAt } = lease;
      writeSync(fd, JSON.stringify({ owner, pid, pidStart, createdAt }));
    } catch (error) {
      closeSync(fd);
      unlinkIfPresent(path);
      throw storeError(error, path);
    }
    closeSync(fd);
    return lease;
  }

  private read(address: string): Lease | undefined {
    const path = this.pathOf(address);
    let text: string;
    let mtime: number;
    try {
      text = readFileSync(path, 'utf8');
      mtime = text === '' ? statSync(path).mtimeMs : 0;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeError(error, path);
    }
    const base = { address, prefixLength: this.subnet.prefixLength };
    try {
      const record = JSON.parse(text) as Partial<Lease>;
      return {
        ...base,
        owner: String(record.owner ?? ''),
        pid: Number(record.pid ?? 0),
        pidStart: Number(record.pidStart ?? 0),
        createdAt: Number(record.createdAt ?? 0),
      };
    } catch {
      // Half-written by a process that died: taken, owner unknown.
      return { ...base, owner: '', pid: 0, pidStart: 0, createdAt: mtime };
    }
  }

  private leaseFiles(): string[] {
    this.ensureDirectory();
    // Anything else in the directory (an editor's backup, a stray temp file) is ignored.
    return readdirSync(this.directory).filter((name) => isIPv4(name) && this.subnet.contains(name));
  }

  private pathOf(address: string): string {
    if (!this.subnet.contains(address)) {
      throw new InvalidNetworkInputError('address', address, `not in ${this.subnet}`);
    }
    return join(this.directory, address);
  }

  private ensureDirectory(): void {
    if (this.directoryReady) return;
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw storeError(error, this.directory);
    }
    this.directoryReady = true;
  }
}

function unlinkIfPresent(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storeError(error, path);
  }
}

function storeError(cause: unknown, path: string): IpamError {
  const errno = (cause as NodeJS.ErrnoException).code;
  return new IpamError('ipam.store', `Lease store ${path}: ${errno ?? String(cause)}`, {
    value: path,
    ...(errno === undefined ? {} : { errno }),
    cause,
  });
}

let ownStart: number | undefined;

function ownStartTime(): number {
  ownStart ??= processStartTime(process.pid) ?? 0;
  return ownStart;
}

/** Field 22 of `/proc/<pid>/stat` (after the parenthesised command), or undefined if gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after ")" start at field 3 (state); starttime is field 22.
    return Number(fields[22 - 3]);
  } catch {
    return undefined;
  }
}
