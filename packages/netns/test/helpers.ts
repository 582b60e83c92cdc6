/**
 * Test fixtures: throwaway network namespaces held by a `sleep` process we spawn,
 * unique `tsbt…` interface names, and a cleanup stack that runs even when a test
 * fails. Everything here acts only on things the tests created.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

/** A network namespace that lives as long as its holder process. */
export interface TestNetns {
  pid: number;
  path: string;
  /** Kills the holder (by pid); the kernel then frees the namespace. Idempotent. */
  kill(): Promise<void>;
}

/** Spawns `unshare --net` holding a fresh network namespace; resolves once inside it. */
export async function createTestNetns(): Promise<TestNetns> {
  const child: ChildProcess = spawn(
    'unshare',
    ['--net', 'sh', '-c', 'echo ready; exec sleep 120'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('unshare did not start');
  const stdout = child.stdout;
  if (!stdout) throw new Error('no stdout');
  // "ready" is printed after unshare(CLONE_NEWNET), so /proc/<pid>/ns/net is the new one.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('unshare --net timed out')), 5000);
    stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('error', reject);
  });
  let dead = false;
  child.once('exit', () => {
    dead = true;
  });
  return {
    pid,
    path: `/proc/${pid}/ns/net`,
    async kill() {
      if (dead) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A unique interface name, `tsbt` + 8 hex digits (12 bytes, under IFNAMSIZ). */
export function uniqueName(prefix = 'tsbt'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

/** A random 10.89.X.0/24 third octet, so parallel runs rarely collide. */
export function randomOctet(): number {
  return 100 + ((randomBytes(1)[0] ?? 0) % 150);
}

/** `ip -j <args>` parsed, in the host or (with `pid`) in that process's namespace. */
export function ipJson<T = unknown>(args: string[], pid?: number): T {
  const command = pid === undefined ? 'ip' : 'nsenter';
  const argv =
    pid === undefined ? ['-j', ...args] : [`--net=/proc/${pid}/ns/net`, 'ip', '-j', ...args];
  return JSON.parse(execFileSync(command, argv, { encoding: 'utf8', timeout: 5000 }) || '[]') as T;
}

/** LIFO cleanup actions; `run` executes all of them and reports the first failure. */
export class Cleanup {
  private readonly actions: (() => unknown)[] = [];

  add(action: () => unknown): void {
    this.actions.push(action);
  }

  async run(): Promise<void> {
    let first: unknown;
    while (this.actions.length > 0) {
      const action = this.actions.pop();
      try {
        await action?.();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }
}

/** Deletes a host link by name if it still exists, via `ip` (independent of the code under test). */
export function deleteHostLinkIfPresent(name: string): void {
  if (!name.startsWith('tsb')) throw new Error(`refusing to delete ${name}: not ours`);
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // Already gone.
  }
}
