/**
 * The wire protocol between the host and `tsbox-init`.
 *
 * Host → init, once, on fd 3: a little-endian u32 length, then records. A record is
 * a key followed by a fixed number of arguments, every one a NUL-terminated string.
 * Mount records run in order; those before `pivot` see container paths under the
 * staging directory, those after it see the new root.
 *
 * Init → host, on fd 3, one message a line: `pid <n>`, `ready`, `started` (the workload's execve succeeded), `exit <wait status>`,
 * `error <stage> <errno> <detail>`. Host → init afterwards: `go`, `signal <n>`.
 *
 * @module
 */

/** One step of assembling the container's root filesystem, run by init in order. */
export type MountOp =
  | { op: 'root-tmpfs' }
  | { op: 'root-bind'; source: string }
  /**
   * An overlay (`mount -t overlay overlay -o <options>`) as the root, mounted by init
   * inside the container's mount namespace; `options` names host paths
   * (`lowerdir=...,upperdir=...,workdir=...`).
   */
  | { op: 'root-overlay'; options: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'bind'; source: string; target: string; readonly: boolean }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'file'; path: string; mode: number; content: string }
  /** `devices`: allow device nodes (only for the container's `/dev`); otherwise `nodev`. */
  | { op: 'tmpfs'; target: string; sizeBytes: number; mode: number; devices?: boolean }
  | { op: 'mknod'; path: string; major: number; minor: number; mode: number }
  | { op: 'proc'; target: string }
  | { op: 'sysfs'; target: string }
  | { op: 'devpts'; target: string }
  | { op: 'pivot' }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'root-readonly' };

/** A resource limit set on the workload before exec (`RLIMIT_*` number). */
export interface Rlimit {
  resource: number;
  soft: number | 'infinity';
  hard: number | 'infinity';
}

/** Everything `tsbox-init` needs; built and validated by `@tsbox/core`. */
export interface InitConfig {
  /** `CLONE_NEW*` flags for the container init. */
  cloneFlags: number;
  /** `cgroup.procs` files the host-side init joins before it clones. */
  cgroupProcs: readonly string[];
  /** Directory (empty, existing) where the root is assembled before `pivot_root`. */
  staging: string;
  hostname?: string;
  cwd?: string;
  uid: number;
  gid: number;
  groups: readonly number[];
  /** Bit mask of capabilities the workload keeps (bit n = capability n). */
  capabilities: bigint;
  noNewPrivileges: boolean;
  /** Wait for the host's `go` before running the workload (default true). */
  waitForGo?: boolean;
  mounts: readonly MountOp[];
  rlimits: readonly Rlimit[];
  argv: readonly string[];
  /** `KEY=VALUE` strings. */
  env: readonly string[];
}

function mountRecord(m: MountOp): string[] {
  switch (m.op) {
    case 'root-tmpfs':
    case 'pivot':
    case 'root-readonly':
      return [m.op];
    case 'root-bind':
      return [m.op, m.source];
    case 'root-overlay':
      return [m.op, m.options];
    case 'mkdir':
      return [m.op, m.path, octal(m.mode)];
    case 'bind':
      return [m.op, m.source, m.target, m.readonly ? '1' : '0'];
    case 'symlink':
      return [m.op, m.target, m.path];
    case 'file':
      return [m.op, m.path, octal(m.mode), m.content];
    case 'tmpfs':
      return [m.op, m.target, String(m.sizeBytes), octal(m.mode), m.devices ? '1' : '0'];
    case 'mknod':
      return [m.op, m.path, String(m.major), String(m.minor), octal(m.mode)];
    case 'proc':
    case 'sysfs':
    case 'devpts':
      return [m.op, m.target];
    case 'mask':
    case 'readonly':
      return [m.op, m.path];
  }
}

const octal = (mode: number) => `0${mode.toString(8)}`;
const limit = (v: number | 'infinity') => (v === 'infinity' ? 'inf' : String(v));

/** Encodes a config as the length-prefixed record stream `tsbox-init` reads. */
export function encodeInitConfig(c: InitConfig): Buffer {
  const parts: string[] = ['flags', String(c.cloneFlags), 'staging', c.staging];
  for (const p of c.cgroupProcs) parts.push('cgroup', p);
  if (c.hostname !== undefined) parts.push('hostname', c.hostname);
  if (c.cwd !== undefined) parts.push('cwd', c.cwd);
  parts.push('uid', String(c.uid), 'gid', String(c.gid), 'groups', c.groups.join(','));
  parts.push('caps', `0x${c.capabilities.toString(16)}`);
  parts.push('nonewprivs', c.noNewPrivileges ? '1' : '0');
  parts.push('wait', c.waitForGo === false ? '0' : '1');
  for (const m of c.mounts) parts.push(...mountRecord(m));
  for (const r of c.rlimits) parts.push('rlimit', String(r.resource), limit(r.soft), limit(r.hard));
  for (const a of c.argv) parts.push('arg', a);
  for (const e of c.env) parts.push('env', e);
  for (const p of parts) {
    if (p.includes('\0'))
      throw new InitConfigError(`config string contains a NUL byte: ${JSON.stringify(p)}`);
  }
  const body = Buffer.from(`${parts.join('\0')}\0`, 'utf8');
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** A message from `tsbox-init` to the host. */
export type InitMessage =
  | { type: 'pid'; pid: number }
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'exit'; exitCode: number | null; signal: number | null }
  | { type: 'error'; stage: string; errno: number; detail: string }
  | { type: 'unknown'; line: string };

/** Parses one line (without its newline) sent by `tsbox-init`. */
export function parseInitMessage(line: string): InitMessage {
  const sp = line.indexOf(' ');
  const word = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  switch (word) {
    case 'pid':
      return { type: 'pid', pid: Number(rest) };
    case 'ready':
      return { type: 'ready' };
    case 'started':
      return { type: 'started' };
    case 'exit': {
      const ws = Number(rest);
      const sig = ws & 0x7f;
      return sig === 0
        ? { type: 'exit', exitCode: (ws >> 8) & 0xff, signal: null }
        : { type: 'exit', exitCode: 128 + sig, signal: sig };
    }
    case 'error': {
      const [stage = 'unknown', errno = '0', ...detail] = rest.split(' ');
      return { type: 'error', stage, errno: Number(errno), detail: detail.join(' ') };
    }
    default:
      return { type: 'unknown', line };
  }
}

/** The wire config could not be encoded (a string with a NUL byte). */
export class InitConfigError extends Error {
  readonly code = 'ERR_TSBOX_INVALID_SPEC';
  readonly stage = 'init.config';
  constructor(message: string) {
    super(message);
    this.name = 'InitConfigError';
  }
}
