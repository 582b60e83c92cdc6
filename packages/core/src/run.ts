import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  encodeInitConfig,
  type InitMessage,
  initBinaryPath,
  parseInitMessage,
} from '@tsbox/init';
import {
  ExecNotFoundError,
  ExecPermissionError,
  errnoName,
  InitError,
  InitProtocolError,
  TsboxError,
} from './errors.js';
import { type Keeper, startKeeper } from './launcher.js';
import { CappedCollector } from './output.js';
import { cgroupResource } from './resource-cgroup.js';
import { imageResource, placeGeneratedFiles } from './resource-image.js';
import { networkResource } from './resource-network.js';
import { volumeResource } from './resource-volume.js';
import {
  type ContainerResource,
  prepareResources,
  type ResourceFactory,
  releaseResources,
} from './resources.js';
import type { RunResult } from './result.js';
import { planRootfs } from './rootfs-plan.js';
import { RunningContainer } from './running-container.js';
import {
  type ContainerSpec,
  capabilityMask,
  DEFAULT_PATH,
  DEFAULT_TMP_SIZE_BYTES,
  rlimitNumber,
} from './spec.js';
import { removeState, STAGING_DIR, STATE_ROOT, writeState } from './state.js';

/** Options of one run: what goes in, and where output goes as it comes. */
export interface RunOptions {
  /** Standard input: a string, bytes, or a stream piped in. Default: none (`/dev/null`). */
  input?: string | Buffer | Uint8Array | Readable;
  /** Called with every stdout chunk as it arrives. */
  onStdout?: (chunk: Buffer) => void;
  /** Called with every stderr chunk as it arrives. */
  onStderr?: (chunk: Buffer) => void;
}

const NAMESPACES =
  CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

function initFailure(m: Extract<InitMessage, { type: 'error' }>, command: string): TsboxError {
  const errno = errnoName(m.errno);
  if (m.stage === 'exec' && errno === 'ENOENT') return new ExecNotFoundError(m.detail || command);
  if (m.stage === 'exec' && errno === 'EACCES') return new ExecPermissionError(m.detail || command);
  return new InitError(m.stage, errno, m.detail);
}

/**
 * The host resources a container may need, prepared in this order and released in
 * reverse. Each factory returns nothing when the spec does not ask for its resource.
 */
const RESOURCE_FACTORIES: readonly ResourceFactory[] = [
  cgroupResource,
  imageResource,
  volumeResource,
  networkResource,
];

async function runHostSteps(resources: readonly ContainerResource[], pid: number): Promise<void> {
  for (const r of resources) await r.afterClone?.(pid);
}

/**
 * Keepers come from this process's launcher (one fork of a tiny static process
 * each) unless TSBOX_LAUNCHER=0, which spawns each from Node directly (Node forks
 * itself: far dearer; kept for comparison and as a fallback).
 */
const USE_LAUNCHER = process.env.TSBOX_LAUNCHER !== '0';

function spawnKeeper(withInput: boolean): Keeper {
  const child = spawn(initBinaryPath(), [], {
    stdio: [withInput ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    env: {},
  });
  return Object.assign(child, { sync: child.stdio[3] as Socket }) as unknown as Keeper;
}

/** Containers of this process that are still alive: keeper pid → state record. */
const live = new Map<number, string>();

/**
 * If this process exits with containers running, kill them and remove their state
 * now (their keepers would die with us anyway, through PR_SET_PDEATHSIG, but the
 * state directories would be left for `tsbox gc`).
 */
function trackLive(keeperPid: number | undefined, statePath: string | undefined): () => void {
  if (keeperPid === undefined || statePath === undefined) return () => undefined;
  if (live.size === 0) process.once('exit', killLiveOnExit);
  live.set(keeperPid, statePath);
  return () => {
    live.delete(keeperPid);
    if (live.size === 0) process.off('exit', killLiveOnExit);
  };
}

function killLiveOnExit(): void {
  for (const [pid, path] of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    removeState(path);
  }
}

/**
 * The run pipeline: state dir → spawn tsbox-init with the wire config → receive
 * PID 1's host pid → host-side steps → "go" → the workload runs → teardown. Resolves
 * once the workload has been executed; a set-up failure rejects only after every
 * resource is released.
 */
export async function startContainer(
  spec: ContainerSpec,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunningContainer> {
  const t0 = performance.now();
  // When each step of the pipeline happened, for RunResult.timings.
  const marks = { spawn: t0, pid: t0, ready: t0, go: t0, started: t0, exit: t0 };
  const id = randomBytes(6).toString('hex');
  const hostname = spec.hostname ?? id;
  const command = argv[0] ?? '';
  const env = {
    PATH: DEFAULT_PATH,
    HOSTNAME: hostname,
    HOME: spec.uid === 0 ? '/root' : '/',
    ...spec.env,
  };

  // Each factory returns at once when its resource is not asked for: only
  // microtask hops, no I/O, on the default path.
  const resources = await prepareResources(RESOURCE_FACTORIES, { id, hostname, spec });
  const cgroupProcs = resources.flatMap((r) => r.cgroupProcs ?? []);
  const extraMounts = resources.flatMap((r) => r.mounts ?? []);

  let config: Buffer;
  let keeper: Keeper;
  try {
    config = encodeInitConfig({
      cloneFlags: NAMESPACES,
      cgroupProcs,
      staging: STAGING_DIR,
      hostname,
      cwd: spec.cwd,
      uid: spec.uid,
      gid: spec.gid,
      groups: spec.groups,
      capabilities: capabilityMask(spec.capabilities),
      noNewPrivileges: spec.noNewPrivileges,
      mounts:
        spec.rootfs.kind === 'image'
          ? placeGeneratedFiles(id, planRootfs(spec, hostname, DEFAULT_TMP_SIZE_BYTES, extraMounts))
          : planRootfs(spec, hostname, DEFAULT_TMP_SIZE_BYTES, extraMounts),
      rlimits: spec.rlimits.map((r) => ({
        resource: rlimitNumber(r.name),
        soft: r.soft,
        hard: r.hard,
      })),
      argv,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    });

    marks.spawn = performance.now();
    keeper = USE_LAUNCHER
      ? await startKeeper(options.input !== undefined)
      : spawnKeeper(options.input !== undefined);
  } catch (err) {
    await releaseResources(resources);
    throw err;
  }
  const input = options.input;
  const sync = keeper.sync;
  // The record lets `tsbox gc` find what a crashed owner left; the keeper waits for
  // its config, so nothing has been created yet if writing the record fails.
  let statePath: string | undefined;
  if (keeper.pid !== undefined) {
    try {
      statePath = writeState({
        id,
        keeperPid: keeper.pid,
        ownerPid: process.pid,
        createdAt: new Date().toISOString(),
        ...(spec.volumes && spec.volumes.length > 0
          ? { volumes: spec.volumes.map((v) => ({ storeRoot: v.storeRoot, name: v.name })) }
          : {}),
      });
    } catch (err) {
      keeper.kill('SIGKILL');
      await releaseResources(resources);
      throw new InitProtocolError(
        'state',
        `cannot write the container record under ${STATE_ROOT}: ${(err as Error).message}`,
      );
    }
  }

  let running: RunningContainer | undefined;
  let timedOut = false;
  let stopped = false;
  let exitMessage: Extract<InitMessage, { type: 'exit' }> | undefined;
  let failure: TsboxError | undefined;
  let timer: NodeJS.Timeout | undefined;

  // Output can arrive in the same turn as "started", before the caller has the
  // RunningContainer to subscribe to: hold it and replay it once the caller has had
  // that turn, so listeners attached right after `await start()` miss nothing.
  let live = false;
  const early: Array<['stdout' | 'stderr', Buffer]> = [];
  let releaseEarly: () => void = () => undefined;
  const earlyReleased = new Promise<void>((resolve) => {
    releaseEarly = resolve;
  });
  const emit = (kind: 'stdout' | 'stderr', chunk: Buffer) => {
    if (live && running) running.emit(kind, chunk);
    else early.push([kind, chunk]);
  };
  // A throwing output callback must not crash the process with a container still
  // running: the container is killed and the run rejects with the callback's error.
  let callbackError: { error: unknown } | undefined;
  const deliver =
    (kind: 'stdout' | 'stderr', cb: ((c: Buffer) => void) | undefined) => (c: Buffer) => {
      try {
        cb?.(c);
        emit(kind, c);
      } catch (error) {
        if (!callbackError) {
          callbackError = { error };
          if (!sync.destroyed) sync.write(`signal ${constants.signals.SIGKILL}\n`);
        }
      }
    };
  const stdout = new CappedCollector(
    keeper.stdout,
    spec.maxOutputBytes,
    deliver('stdout', options.onStdout),
  );
  const stderr = new CappedCollector(
    keeper.stderr,
    spec.maxOutputBytes,
    deliver('stderr', options.onStderr),
  );

  if (input !== undefined && keeper.stdin) {
    // A workload that exits without reading its input closes the pipe: not an error.
    keeper.stdin.on('error', () => undefined);
    if (typeof input === 'string' || input instanceof Uint8Array) keeper.stdin.end(input);
    else input.pipe(keeper.stdin);
  }

  // Startup phase: the pipeline waits for one message at a time.
  let onMessage: ((m: InitMessage) => void) | undefined;
  const started = new Promise<number>((resolve, reject) => {
    let pid = 0;
    onMessage = (m) => {
      if (m.type !== 'unknown' && m.type !== 'error') marks[m.type] = performance.now();
      if (m.type === 'pid') {
        pid = m.pid;
        const go = () => {
          marks.go = performance.now();
          sync.write('go\n');
        };
        const steps = resources.filter((r) => r.afterClone);
        if (steps.length === 0) {
          go();
        } else {
          // Host-side steps (network, ...) run between clone and "go"; a failure ends
          // the container before its workload ever runs.
          runHostSteps(steps, pid).then(go, (err: unknown) => {
            failure ??=
              err instanceof TsboxError ? err : new InitProtocolError('host', String(err));
            reject(failure);
            sync.end();
          });
        }
      } else if (m.type === 'started') {
        // The timeout limits the workload, so it counts from its execve: a slow
        // set-up on a loaded host does not eat into it.
        if (spec.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            timedOut = true;
            if (!sync.destroyed) sync.write(`signal ${constants.signals.SIGKILL}\n`);
          }, spec.timeoutMs);
        }
        resolve(pid);
      } else if (m.type === 'error') {
        failure ??= initFailure(m, command);
        reject(failure);
      } else if (m.type === 'exit') {
        exitMessage = m;
      }
    };
  });

  let pending = '';
  sync.setEncoding('utf8');
  sync.on('data', (data: string) => {
    pending += data;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      onMessage?.(parseInitMessage(pending.slice(0, nl)));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  });
  // Write errors after the keeper is gone surface through its exit instead.
  sync.on('error', () => undefined);
  sync.write(config);

  const release = trackLive(keeper.pid, statePath);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      keeper.once('error', (err) => {
        failure ??= new InitProtocolError('init.spawn', `cannot start tsbox-init: ${err.message}`);
        reject(failure);
      });
      keeper.once('close', (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => {
    clearTimeout(timer);
    release();
    if (statePath) removeState(statePath);
  });

  const result: Promise<RunResult> = closed.then(
    async (status) => {
      try {
        if (failure) throw failure;
        await earlyReleased;
        if (callbackError) throw callbackError.error;
        const r = buildResult(status);
        for (const res of resources) await res.finish?.(r);
        const end = performance.now();
        r.durationMs = end - t0;
        r.timings = {
          prepareMs: marks.spawn - t0,
          cloneMs: marks.pid - marks.spawn,
          setupMs: marks.ready - marks.pid,
          execMs: marks.started - Math.max(marks.ready, marks.go),
          runMs: marks.exit - marks.started,
          teardownMs: end - marks.exit,
        };
        return r;
      } finally {
        await releaseResources(resources);
      }
    },
    async (err: unknown) => {
      await releaseResources(resources);
      throw err;
    },
  );

  function buildResult({
    code,
    signal,
  }: {
    code: number | null;
    signal: NodeJS.Signals | null;
  }): RunResult {
    let exitCode: number;
    let sig: NodeJS.Signals | null = null;
    if (exitMessage) {
      exitCode = exitMessage.exitCode ?? 255;
      sig = exitMessage.signal === null ? null : (signalNames.get(exitMessage.signal) ?? null);
    } else if (signal) {
      // Only a signal to the host-side helper itself lands here.
      exitCode = 128 + (constants.signals[signal] ?? 0);
      sig = signal;
    } else {
      // PID 1 was killed (timeout, stop deadline, kill('SIGKILL')): the keeper exits 128+n.
      exitCode = code ?? 255;
      sig = exitCode > 128 ? (signalNames.get(exitCode - 128) ?? null) : null;
    }
    return {
      id,
      exitCode,
      signal: sig,
      stdout: stdout.text(),
      stderr: stderr.text(),
      timedOut,
      stopped,
      outputTruncated: stdout.truncated || stderr.truncated,
      stdoutBytes: stdout.totalBytes,
      stderrBytes: stderr.totalBytes,
      durationMs: 0,
      oomKilled: false,
    };
  }
  // The pipeline awaits `started` or `closed` first; these handlers only keep
  // Node from reporting a rejection that is handled later.
  result.catch(() => undefined);
  started.catch(() => undefined);

  let pid: number;
  try {
    pid = await Promise.race([
      started,
      closed.then(() => {
        throw (
          failure ?? new InitProtocolError('init', 'tsbox-init exited before the workload started')
        );
      }),
    ]);
  } catch (err) {
    if (!sync.destroyed) sync.end();
    await result.catch(() => undefined);
    throw err;
  }

  running = new RunningContainer({
    id,
    pid,
    cgroup: resources.find((r) => r.cgroup)?.cgroup,
    keeper,
    sync,
    result,
    markStopped: () => {
      stopped = true;
    },
  });
  setImmediate(() => {
    live = true;
    for (const [kind, chunk] of early) running?.emit(kind, chunk);
    early.length = 0;
    releaseEarly();
  });
  return running;
}
