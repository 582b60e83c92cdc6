import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  type CgroupLimits,
  type CgroupManager,
  type CgroupOptions,
  createCgroup,
  detectCgroupLayout,
} from '../src/index.js';

// Test fixtures that own what they start: every process and cgroup made through a
// Fixture is killed (by pid, only ours) and destroyed in cleanup(), which each test file
// calls from afterEach, so a failing assertion leaves nothing behind.

let counter = 0;

/** A cgroup id unique to this test process and call. */
export function testId(label: string): string {
  counter += 1;
  return `t${process.pid}-${label}-${counter}`;
}

/** Exit of a child: its code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when `child` has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Resolves with the child's stdout once it has exited and its stdout has closed. */
export async function outputOf(
  child: ChildProcess,
): Promise<{ stdout: string; error?: string } & Exit> {
  let stdout = '';
  let error: string | undefined;
  child.once('error', (e: Error) => {
    error = e.message; // a failed spawn (EAGAIN, ENOENT) still emits 'exit'
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  // 'exit' can come before the last stdout data: wait for the stream to end as well.
  const ended =
    child.stdout && !child.stdout.readableEnded
      ? new Promise((r) => child.stdout?.once('close', r))
      : undefined;
  const exit = await exitOf(child);
  await ended;
  return error === undefined ? { stdout, ...exit } : { stdout, error, ...exit };
}

/** Live member pids listed in a `cgroup.procs` file (zombies are not listed). */
export function members(procsPath: string): number[] {
  if (!existsSync(procsPath)) return [];
  return readFileSync(procsPath, 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Resolves with the first full line the child prints. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += String(d);
      if (text.includes('\n')) {
        child.stdout?.off('data', onData);
        resolve(text.slice(0, text.indexOf('\n')));
      }
    };
    child.stdout?.on('data', onData);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The `tsbox/` parent directory in every hierarchy of this host. */
export function tsboxParents(): string[] {
  if (detectCgroupLayout() === 'v2') return ['/sys/fs/cgroup/tsbox'];
  return ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio', 'freezer']
    .map((c) => `/sys/fs/cgroup/${c}/tsbox`)
    .filter((d) => existsSync(d));
}

/** Directories under any `tsbox/` parent whose name starts with `prefix`. */
export function leftovers(prefix: string): string[] {
  return tsboxParents().flatMap((parent) =>
    readdirSync(parent)
      .filter((n) => n.startsWith(prefix))
      .map((n) => `${parent}/${n}`),
  );
}

export class Fixture {
  private readonly children: ChildProcess[] = [];
  private readonly cgroups: CgroupManager[] = [];

  /** createCgroup, remembered for cleanup. */
  async cgroup(
    label: string,
    limits: CgroupLimits = {},
    opts: CgroupOptions = {},
  ): Promise<CgroupManager> {
    const cg = await createCgroup(testId(label), limits, opts);
    this.cgroups.push(cg);
    return cg;
  }

  /** Remembers a cgroup made elsewhere for cleanup. */
  adopt(cg: CgroupManager): CgroupManager {
    this.cgroups.push(cg);
    return cg;
  }

  /**
   * Spawns `command` so that it is in `cg` from its first instruction: a shell writes its
   * own pid into every `procsPaths()` file, then execs the command (as tsbox-init does
   * with "0" before it clones). Without `cg`, spawns normally.
   */
  spawn(cg: CgroupManager | undefined, command: string, args: string[] = []): ChildProcess {
    const child = cg
      ? spawn(
          '/bin/sh',
          [
            '-ec',
            'for f in $TSBOX_PROCS; do echo $$ > "$f"; done; exec "$@"',
            'sh',
            command,
            ...args,
          ],
          {
            env: { ...process.env, TSBOX_PROCS: cg.procsPaths().join(' ') },
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        )
      : spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    return child;
  }

  /** Like {@link Fixture.spawn}, resolving once the child is a member of `cg`. */
  async spawnJoined(
    cg: CgroupManager,
    command: string,
    args: string[] = [],
  ): Promise<ChildProcess> {
    const child = this.spawn(cg, command, args);
    const procs = cg.procsPaths()[cg.procsPaths().length - 1] as string;
    for (let i = 0; i < 400 && !members(procs).includes(child.pid as number); i++) await sleep(5);
    if (!members(procs).includes(child.pid as number))
      throw new Error(`${child.pid} never joined ${procs}`);
    return child;
  }

  /**
   * Kills the children we started (by pid, SIGKILL), destroys our cgroups (which also
   * thaws and kills members of a cgroup a failed test left frozen), then waits for the
   * children to be gone.
   */
  async cleanup(): Promise<void> {
    const children = this.children.splice(0);
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const errors: unknown[] = [];
    for (const cg of this.cgroups.splice(0))
      await cg.destroy().catch((e: unknown) => errors.push(e));
    await Promise.all(children.map(exitOf));
    if (errors.length > 0) throw errors[0];
  }
}

/** The python3 of the system (not a pyenv shim: the v2 VM has no shell profile). */
export const PYTHON = '/usr/bin/python3';
