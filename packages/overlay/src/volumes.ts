import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { ioError, OverlayError } from './errors.js';
import { withLock } from './lock.js';
import { libcSyscalls, type Syscalls } from './syscalls.js';

/** Where named volumes live unless told otherwise (beside the image store's directories). */
export const DEFAULT_VOLUME_ROOT = '/var/lib/tsbox/volumes';

/** Docker's rule for volume names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), at most 255 bytes: a file name. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Lease holders are container ids or similar: file names without dots at the start. */
const HOLDER = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A named volume: a directory of the host, kept until removed, that containers mount. */
export interface Volume {
  name: string;
  /** Root of the {@link VolumeStore} holding it. */
  storeRoot: string;
  /** The host directory containers see (`<root>/<name>/_data`). */
  path: string;
  /** Labels given when it was created. */
  labels: Record<string, string>;
  createdAt: string;
}

/**
 * One container's use of a volume: `<root>/<name>/users/<holder>.json`. It names the
 * process that took it (pid and start time), so a lease whose process is gone is
 * recognisably stale: it stops counting as a use, and `tsbox gc` deletes it.
 */
export interface VolumeLease {
  volume: string;
  /** Who uses it: a container id. */
  holder: string;
  /** The process that took the lease (the Node process running the container). */
  pid: number;
  /** That process's start time (clock ticks since boot), against pid reuse. */
  pidStart: number;
  createdAt: string;
}

/** Options of {@link VolumeStore}. */
export interface VolumeStoreOptions {
  /** Root directory; default {@link DEFAULT_VOLUME_ROOT}. */
  root?: string;
  /** The kernel seam (flock); default libc through koffi, loaded on first lock. */
  syscalls?: Syscalls;
}

/** Options of {@link VolumeStore.acquire}. */
export interface AcquireOptions {
  /** Labels for the volume if this call creates it. */
  labels?: Record<string, string>;
  /**
   * Called, holding the volume's lock, only when the volume's directory is empty: it may
   * call `copyIn(dir)` to copy a directory's content in (what Docker does with the image's
   * content at the mount point of a new volume). Whatever it mounts it must unmount.
   */
  seed?: (copyIn: (dir: string) => Promise<void>) => Promise<void>;
}

/**
 * Removing (or pruning) a volume that containers still use. Stable code
 * `ERR_TSBOX_VOLUME_IN_USE`; `users` are the holders (container ids) of the live leases.
 */
export class VolumeInUseError extends OverlayError {
  override readonly name: string = 'VolumeInUseError';
  declare readonly code: 'ERR_TSBOX_VOLUME_IN_USE';
  /** The volume's name. */
  declare readonly value: string;
  readonly users: readonly string[];

  constructor(stage: string, volume: string, users: readonly string[]) {
    super(
      'ERR_TSBOX_VOLUME_IN_USE',
      stage,
      `volume ${volume} is in use by ${users.length} container(s): ${users.join(', ')} (end them first, or remove with { force: true })`,
      { value: volume },
    );
    this.users = users;
  }
}

/**
 * Checks a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255 characters.
 *
 * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` (field `name`).
 */
export function checkVolumeName(name: unknown): string {
  if (typeof name !== 'string' || name.length > 255 || !VOLUME_NAME.test(name)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'volume.name',
      `invalid volume name ${JSON.stringify(name)}: expected letters, digits, '_', '.', '-', starting with a letter or digit, at most 255 characters`,
      { field: 'name', value: String(name) },
    );
  }
  return name;
}

/** The host directory holding a volume's content: `<root>/<name>/_data`. Pure. */
export function volumeDataPath(root: string, name: string): string {
  return join(resolvePath(root), checkVolumeName(name), '_data');
}

/** Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`). */
export function processStartTime(pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
  } catch {
    return undefined;
  }
}

let ownStart: number | undefined;

/** This process's start time, read once. */
function ownStartTime(): number {
  ownStart ??= processStartTime(process.pid) ?? 0;
  return ownStart;
}

/** Is the process that took `lease` still running (and not a reused pid)? */
export function leaseAlive(lease: Pick<VolumeLease, 'pid' | 'pidStart'>): boolean {
  if (lease.pid === process.pid) return lease.pidStart === ownStartTime();
  return processStartTime(lease.pid) === lease.pidStart;
}

/** A lease file this young and unreadable may be being written now. */
const LEASE_WRITE_GRACE_MS = 10_000;

/**
 * Named volumes: host directories kept under a root until removed, that any number of
 * containers mount at once (`docker volume`). Layout:
 *
 * ```
 * <root>/<name>/_data               the content containers see
 * <root>/<name>/volume.json         { name, labels, createdAt }
 * <root>/<name>/users/<holder>.json one lease per container using it (VolumeLease)
 * <root>/.locks/<name>.lock         flock per volume (never deleted: see lock.ts)
 * <root>/.tmp/                      staging for create, trash for remove
 * ```
 *
 * A volume appears by one rename(2) of a staged directory, so readers never see half of
 * one. Creating, acquiring, removing and pruning a volume hold its lock, so a volume is
 * never removed between a container's check and its lease. In-use tracking survives
 * crashes: a lease names its process, and a lease whose process is gone does not count
 * (see {@link VolumeStore.releaseStale}).
 *
 * @example
 * ```ts
 * const volumes = new VolumeStore(); // /var/lib/tsbox/volumes
 * const cache = await volumes.create('cache', { labels: { app: 'ci' } });
 * await new Container().volume(cache, '/cache').run('sh', ['-c', 'date > /cache/last']);
 * await volumes.remove('cache'); // refused (VolumeInUseError) while a container uses it
 * ```
 */
export class VolumeStore {
  /** Absolute root directory. */
  readonly root: string;
  #syscalls: Syscalls | undefined;

  constructor(options: VolumeStoreOptions = {}) {
    this.root = resolvePath(options.root ?? DEFAULT_VOLUME_ROOT);
    this.#syscalls = options.syscalls;
  }

  /** The host directory holding `name`'s content (whether or not it exists yet). */
  dataPath(name: string): string {
    return volumeDataPath(this.root, name);
  }

  /**
   * Creates a volume, or returns the existing one of that name unchanged (its labels
   * included), like `docker volume create`.
   *
   * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` for a bad name or labels,
   *   before anything is created.
   */
  async create(name: string, options: { labels?: Record<string, string> } = {}): Promise<Volume> {
    checkVolumeName(name);
    const labels = checkLabels(options.labels);
    return this.#locked(name, async () => this.#ensure(name, labels));
  }

  /**
   * @throws OverlayError `ERR_TSBOX_OVERLAY_NOT_FOUND` when there is no such volume.
   */
  async get(name: string): Promise<Volume> {
    const v = this.#read(checkVolumeName(name));
    if (!v) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_NOT_FOUND',
        'volume.get',
        `no volume ${name} in ${this.root}`,
        { value: name },
      );
    }
    return v;
  }

  /** Every volume, by name. */
  async list(): Promise<Volume[]> {
    return this.#names()
      .map((n) => this.#read(n))
      .filter((v): v is Volume => v !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The live leases on `name` (stale ones, of processes that are gone, are left out). */
  async users(name: string): Promise<VolumeLease[]> {
    return this.#leases(checkVolumeName(name)).filter(leaseAlive);
  }

  /**
   * Marks `name` as used by `holder` (a container id), creating the volume first if it
   * does not exist (Docker's auto-create). Undo with {@link VolumeStore.release}.
   */
  async acquire(name: string, holder: string, options: AcquireOptions = {}): Promise<Volume> {
    checkVolumeName(name);
    checkHolder(holder);
    const labels = checkLabels(options.labels);
    return this.#locked(name, async () => {
      const volume = this.#ensure(name, labels);
      const lease: VolumeLease = {
        volume: name,
        holder,
        pid: process.pid,
        pidStart: ownStartTime(),
        createdAt: new Date().toISOString(),
      };
      const path = this.#leasePath(name, holder);
      this.#writeAtomic(name, path, JSON.stringify(lease));
      try {
        if (options.seed && isEmptyDir(volume.path)) {
          await options.seed((dir) => this.#copyIn(name, dir, volume.path));
        }
      } catch (err) {
        fs.rmSync(path, { force: true });
        throw err;
      }
      return volume;
    });
  }

  /** Drops `holder`'s lease on `name`. Synchronous and idempotent (an exit hook may call it). */
  release(name: string, holder: string): void {
    try {
      fs.unlinkSync(this.#leasePath(checkVolumeName(name), checkHolder(holder)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('volume.release', err);
    }
  }

  /**
   * Deletes the leases whose process is gone (what a crashed owner left); returns them.
   * Synchronous, takes no lock (it only unlinks lease files), loads no koffi.
   */
  releaseStale(): VolumeLease[] {
    const out: VolumeLease[] = [];
    for (const name of this.#names()) {
      const dir = join(this.root, name, 'users');
      let files: string[];
      try {
        files = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const file of files) {
        const path = join(dir, file);
        let lease: VolumeLease | undefined;
        try {
          lease = JSON.parse(fs.readFileSync(path, 'utf8')) as VolumeLease;
        } catch {
          // Leases are renamed into place whole; an unreadable one is junk once old.
          try {
            if (Date.now() - fs.statSync(path).mtimeMs < LEASE_WRITE_GRACE_MS) continue;
          } catch {
            continue;
          }
        }
        if (lease && leaseAlive(lease)) continue;
        try {
          fs.unlinkSync(path);
          // Named by where it was, whatever an unreadable or hand-made file says.
          out.push({
            pid: 0,
            pidStart: 0,
            createdAt: '',
            ...lease,
            volume: name,
            holder: file.replace(/\.json$/, ''),
          });
        } catch {
          // released while we looked
        }
      }
    }
    return out;
  }

  /**
   * Removes a volume and its content. Refused while a live container uses it, unless
   * `force` (then running containers keep a mount of an emptied, deleted directory).
   * Stale leases do not count as uses. `force` also makes an absent volume not an error.
   *
   * @throws VolumeInUseError (`ERR_TSBOX_VOLUME_IN_USE`) while in use.
   * @throws OverlayError `ERR_TSBOX_OVERLAY_NOT_FOUND` when absent, without `force`.
   */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    checkVolumeName(name);
    await this.#locked(name, async () => {
      if (!this.#read(name)) {
        if (options.force) return;
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_NOT_FOUND',
          'volume.remove',
          `no volume ${name} in ${this.root}`,
          { value: name },
        );
      }
      const live = this.#leases(name).filter(leaseAlive);
      if (live.length > 0 && !options.force) {
        throw new VolumeInUseError(
          'volume.remove',
          name,
          live.map((l) => l.holder),
        );
      }
      this.#removeTree(name, join(this.root, name));
    });
  }

  /**
   * Removes every volume no live container uses, and what crashes left in `.tmp/`
   * (staging and trash); returns the names of the volumes removed.
   */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    const leftovers = new Map<string, string[]>();
    for (const entry of this.#tmpEntries()) {
      const name = entry.slice(0, entry.indexOf('+'));
      if (VOLUME_NAME.test(name)) leftovers.set(name, [...(leftovers.get(name) ?? []), entry]);
    }
    for (const name of new Set([...this.#names(), ...leftovers.keys()])) {
      await this.#locked(name, async () => {
        // Every use of `.tmp/<name>+*` holds this lock and deletes its entry before
        // letting go: what is there now was left by a process that died.
        for (const entry of this.#tmpEntries().filter((e) => e.startsWith(`${name}+`)))
          fs.rmSync(join(this.root, '.tmp', entry), { recursive: true, force: true });
        if (!this.#read(name) || this.#leases(name).some(leaseAlive)) return;
        this.#removeTree(name, join(this.root, name));
        removed.push(name);
      });
    }
    return removed;
  }

  // ---- internals ----

  #ensure(name: string, labels: Record<string, string>): Volume {
    const existing = this.#read(name);
    if (existing) return existing;
    const createdAt = new Date().toISOString();
    const stage = this.#temp(name, 'create');
    try {
      fs.mkdirSync(join(stage, '_data'), { mode: 0o755 });
      fs.chmodSync(join(stage, '_data'), 0o755);
      fs.mkdirSync(join(stage, 'users'), { mode: 0o700 });
      fs.writeFileSync(join(stage, 'volume.json'), JSON.stringify({ name, labels, createdAt }), {
        mode: 0o600,
      });
      fs.renameSync(stage, join(this.root, name));
    } catch (err) {
      fs.rmSync(stage, { recursive: true, force: true });
      throw ioError('volume.create', err, join(this.root, name));
    }
    return this.#volume(name, labels, createdAt);
  }

  #volume(name: string, labels: Record<string, string>, createdAt: string): Volume {
    return {
      name,
      storeRoot: this.root,
      path: volumeDataPath(this.root, name),
      labels,
      createdAt,
    };
  }

  #read(name: string): Volume | undefined {
    let text: string;
    try {
      text = fs.readFileSync(join(this.root, name, 'volume.json'), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError('volume.read', err);
    }
    const rec = JSON.parse(text) as { labels?: Record<string, string>; createdAt?: string };
    return this.#volume(name, rec.labels ?? {}, rec.createdAt ?? '');
  }

  #names(): string[] {
    try {
      return fs.readdirSync(this.root).filter((n) => VOLUME_NAME.test(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError('volume.list', err, this.root);
    }
  }

  #leasePath(name: string, holder: string): string {
    return join(this.root, name, 'users', `${holder}.json`);
  }

  #leases(name: string): VolumeLease[] {
    const dir = join(this.root, name, 'users');
    let files: string[];
    try {
      files = fs.readdirSync(dir);
    } catch {
      return [];
    }
    const out: VolumeLease[] = [];
    for (const f of files) {
      try {
        out.push(JSON.parse(fs.readFileSync(join(dir, f), 'utf8')) as VolumeLease);
      } catch {
        // released while we looked, or junk (leases are renamed into place whole)
      }
    }
    return out;
  }

  async #locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const locks = join(this.root, '.locks');
    try {
      fs.mkdirSync(locks, { recursive: true, mode: 0o700 });
      fs.mkdirSync(join(this.root, '.tmp'), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError('volume.init', err, this.root);
    }
    this.#syscalls ??= libcSyscalls();
    return withLock(this.#syscalls, join(locks, `${name}.lock`), 'exclusive', fn);
  }

  #tmpEntries(): string[] {
    try {
      return fs.readdirSync(join(this.root, '.tmp'));
    } catch {
      return [];
    }
  }

  /** A fresh directory in `.tmp/`, named `<volume>+<kind>-XXXXXX` ('+' is not in names). */
  #temp(name: string, kind: string): string {
    try {
      return fs.mkdtempSync(join(this.root, '.tmp', `${name}+${kind}-`));
    } catch (err) {
      throw ioError('volume.tmp', err, join(this.root, '.tmp'));
    }
  }

  #writeAtomic(name: string, path: string, data: string): void {
    const tmp = join(this.root, '.tmp', `${name}+write-${randomBytes(6).toString('hex')}`);
    try {
      fs.writeFileSync(tmp, data, { mode: 0o600 });
      fs.renameSync(tmp, path);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw ioError('volume.write', err, path);
    }
  }

  /** Renames the tree away at once (one rename), then deletes it. */
  #removeTree(name: string, path: string): void {
    const trash = join(this.root, '.tmp', `${name}+trash-${randomBytes(6).toString('hex')}`);
    try {
      fs.renameSync(path, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError('volume.remove', err, path);
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }

  /**
   * Copies `source`'s content into the (empty) volume directory `dest` with `cp -a`
   * (owners, modes, times, links, xattrs), through a staging directory on the volume's
   * file system, so a failed copy leaves nothing half-copied; `dest` takes `source`'s
   * owner and mode, as Docker does.
   */
  async #copyIn(name: string, source: string, dest: string): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.statSync(source);
    } catch (err) {
      throw ioError('volume.seed', err, source);
    }
    if (!st.isDirectory()) return;
    const stage = this.#temp(name, 'seed');
    try {
      await runCp(source, stage);
      for (const entry of fs.readdirSync(stage)) {
        // Another container may have written meanwhile: its entries win.
        if (!fs.existsSync(join(dest, entry))) fs.renameSync(join(stage, entry), join(dest, entry));
      }
      fs.chownSync(dest, st.uid, st.gid);
      fs.chmodSync(dest, st.mode & 0o7777);
    } catch (err) {
      throw err instanceof OverlayError ? err : ioError('volume.seed', err, dest);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
  }
}

function runCp(source: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cp = spawn('cp', ['-a', '--', `${source}/.`, `${dest}/`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    cp.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    cp.on('error', (err) => reject(ioError('volume.seed', err, source)));
    cp.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new OverlayError(
            'ERR_TSBOX_OVERLAY_IO',
            'volume.seed',
            `copying ${source} into a volume failed: ${stderr.trim() || `cp exited with ${code}`}`,
            { path: source },
          ),
        );
    });
  });
}

function isEmptyDir(path: string): boolean {
  try {
    return fs.readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

function checkHolder(holder: unknown): string {
  if (typeof holder !== 'string' || holder.length > 200 || !HOLDER.test(holder)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'volume.holder',
      `invalid lease holder ${JSON.stringify(holder)}: expected a container id`,
      { field: 'holder', value: String(holder) },
    );
  }
  return holder;
}

function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'volume.labels',
      'labels must be an object of strings',
      { field: 'labels' },
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_INVALID_OPTION',
        'volume.labels',
        `label ${k} must be a string`,
        { field: `labels.${k}`, value: String(v) },
      );
    }
    out[k] = v;
  }
  return out;
}
