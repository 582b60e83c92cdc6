// Start latency of a sandbox running /bin/true, measured from the calling Node
// process, for tsbox and the tools it is compared with (issue 2, "Numbers it
// must report"). Run through `pnpm bench` (bench/run.sh), which installs the
// contenders and provides the mount namespace crun needs on these machines.
//
// Knobs: BENCH_RUNS (default 150 measured runs per contender), BENCH_WARMUP
// (default 10), BENCH_CONC_REPEATS (default 3 repetitions of "100 runs, 8 at a
// time"; the median is reported).

import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envInt } from './lib/env.mjs';
import { handleInterrupts } from './lib/interrupt.mjs';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { DOCKER_CAPS, makeBundle, makeMirrorRootfs, USR_LINKS } from './lib/oci.mjs';
import { capture, killLiveChildren, timedPool, timedRun } from './lib/proc.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_RUNS', 150);
const WARMUP = envInt('BENCH_WARMUP', 10);
const CONC_RUNS = 100;
const CONC_WIDTH = 8;
const CONC_REPEATS = envInt('BENCH_CONC_REPEATS', 3);
const IDLE_SETTLE_MS = 300;

// --- resources this process creates, and their undo ------------------------

const tmp = mkdtempSync(join(os.tmpdir(), 'tsbox-bench-'));
// Container ids are unique to this process, so clean-up deletes only ours.
const idPrefix = `tsbox-bench-${process.pid}-`;
let idSeq = 0;
const newId = () => `${idPrefix}${idSeq++}`;
/** @type {Set<{ stop: () => Promise<unknown> }>} tsbox sandboxes started and not yet stopped */
const tsboxLive = new Set();

/**
 * Delete every crun/runc container of this process and whatever a runtime
 * killed half-way left behind (a state dir without state.json, empty cgroups,
 * crun's cgroup.procs files under an unmounted /sys/fs/cgroup/unified: see
 * run.sh); remove the temp dir. Everything is matched by this process's id
 * prefix, so nothing of anyone else is touched.
 */
function cleanup() {
  killLiveChildren();
  for (const runtime of ['crun', 'runc']) {
    const ids = capture(runtime, ['list', '-q'], { allowFail: true })
      .split('\n')
      .filter((id) => id.startsWith(idPrefix));
    for (const id of ids) capture(runtime, ['delete', '-f', id], { allowFail: true });
    removeOurs(`/run/${runtime}`, (dir) => rmSync(dir, { recursive: true, force: true }));
  }
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '));
  // crun may also nest its cgroup under this process's own cgroup in a hierarchy
  // (seen: memory/<the session's cgroup>/<id>), so look there too.
  const ownPaths = new Set(
    readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .map((l) => l.split(':').slice(2).join(':'))
      .filter((p) => p && p !== '/'),
  );
  for (const [, mountpoint, type] of mounts) {
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    // Only empty cgroups go: rmdir refuses one with processes, and any process
    // in a cgroup of ours was started by a contender that was already killed.
    for (const dir of [mountpoint, ...[...ownPaths].map((p) => join(mountpoint, p))]) {
      removeOurs(dir, (d) => rmdirSync(d));
    }
  }
  if (!mounts.some((f) => f[1] === '/sys/fs/cgroup/unified')) {
    removeOurs('/sys/fs/cgroup/unified', (dir) => rmSync(dir, { recursive: true, force: true }));
  }
  rmSync(tmp, { recursive: true, force: true });
}

/**
 * Apply `remove` to each entry of `parent` whose name has our id prefix.
 * @param {string} parent
 * @param {(path: string) => void} remove
 */
function removeOurs(parent, remove) {
  let names;
  try {
    names = readdirSync(parent);
  } catch {
    return; // no such directory on this machine
  }
  for (const name of names) {
    if (!name.startsWith(idPrefix)) continue;
    try {
      remove(join(parent, name));
    } catch (e) {
      console.error(`bench: could not remove ${join(parent, name)}: ${e}`);
    }
  }
}

// First signal: stop at the next run boundary; a second one stops the tsbox
// containers in flight and cleans up at once.
const { interrupted, checkInterrupted } = handleInterrupts(async () => {
  await Promise.allSettled([...tsboxLive].map((box) => box.stop()));
  cleanup();
});

// --- the contenders ---------------------------------------------------------

// One read-only host-mirror root shared by crun and runc (and equivalent to
// what bwrap builds and to tsbox's default root): see lib/oci.mjs.
const rootfs = join(tmp, 'rootfs');
makeMirrorRootfs(rootfs);
const trueBundle = makeBundle(join(tmp, 'bundle-true'), { rootfs, args: ['/bin/true'] });
const sleepBundle = makeBundle(join(tmp, 'bundle-sleep'), { rootfs, args: ['/bin/sleep', '30'] });

const UNSHARE_ARGS = ['-fpmuin', '--mount-proc', '/bin/true'];

// The same namespaces as the OCI bundle (pid, mount, uts, ipc, net, cgroup),
// listed one by one rather than --unshare-all, which would add a user
// namespace when run as root and so measure something the others do not do.
// biome-ignore format: flag/value pairs read best kept together
const BWRAP_ARGS = [
  '--ro-bind', '/usr', '/usr',
  ...USR_LINKS.flatMap((l) => ['--symlink', `usr/${l}`, `/${l}`]),
  '--proc', '/proc',
  '--dev', '/dev',
  '--tmpfs', '/tmp',
  '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup',
  '--hostname', 'box',
  // bwrap run by root keeps every capability; keep Docker's 14 like the others.
  '--cap-drop', 'ALL',
  ...DOCKER_CAPS.flatMap((c) => ['--cap-add', c]),
  '--die-with-parent',
  '--', '/bin/true',
];

/**
 * `<runtime> run -b <bundle> <fresh id>`; on failure make sure the container's
 * state and cgroup are gone before reporting.
 * @param {'crun' | 'runc'} runtime
 */
async function ociRun(runtime) {
  const id = newId();
  try {
    return await timedRun(runtime, ['run', '-b', trueBundle, id]);
  } catch (e) {
    capture(runtime, ['delete', '-f', id], { allowFail: true });
    throw e;
  }
}

/**
 * @typedef {object} Contender
 * @property {string} name
 * @property {string} command what runs, exactly
 * @property {() => Promise<number>} once one checked run, returns wall ms
 * @property {boolean} concurrent part of the "100 runs, 8 at a time" test
 */

/** @type {Contender[]} */
const contenders = [
  {
    name: 'node spawn',
    command: "child_process.spawn('/bin/true')",
    once: () => timedRun('/bin/true', []),
    concurrent: false,
  },
  {
    name: 'unshare',
    command: `unshare ${UNSHARE_ARGS.join(' ')}`,
    once: () => timedRun('unshare', UNSHARE_ARGS),
    concurrent: false,
  },
  {
    name: 'bwrap',
    command: `bwrap ${BWRAP_ARGS.join(' ')}`,
    once: () => timedRun('bwrap', BWRAP_ARGS),
    concurrent: true,
  },
  {
    name: 'crun',
    command: 'crun run -b <bundle> <fresh id>',
    once: () => ociRun('crun'),
    concurrent: true,
  },
  {
    name: 'runc',
    command: 'runc run -b <bundle> <fresh id>',
    once: () => ociRun('runc'),
    concurrent: true,
  },
];

// tsbox: `new Container().run('/bin/true', [])` from the built @tsbox/core.
// BENCH_TSBOX_MODULE points at another build of it (an absolute path), for
// comparing two builds or checking this harness against a stand-in.
const tsboxUrl = process.env.BENCH_TSBOX_MODULE
  ? pathToFileURL(process.env.BENCH_TSBOX_MODULE)
  : new URL('../packages/core/dist/index.js', import.meta.url);
/**
 * @typedef {object} TsboxModule
 * @property {'ok' | 'not built' | 'error'} status
 * @property {string} path the module file
 * @property {string} [error] why it failed to load
 * @property {any} [Container] the Container class when status is 'ok'
 */
const tsbox = await loadTsbox();

/**
 * Import @tsbox/core's build. Missing means "not built" (the bench goes on
 * without it); present but broken is an error (reported, exit non-zero).
 * @returns {Promise<TsboxModule>}
 */
async function loadTsbox() {
  const path = fileURLToPath(tsboxUrl);
  if (!existsSync(path)) return { status: 'not built', path };
  try {
    const mod = await import(tsboxUrl.href);
    if (typeof mod.Container !== 'function') {
      return { status: 'error', path, error: `${path} exports no Container` };
    }
    return { status: 'ok', path, Container: mod.Container };
  } catch (e) {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return { status: 'error', path, error };
  }
}

if (tsbox.status === 'ok') {
  const { Container } = tsbox;
  contenders.push({
    name: 'tsbox',
    command: "new Container().run('/bin/true', [])",
    once: async () => {
      const t0 = performance.now();
      const r = await new Container().run('/bin/true', []);
      const ms = performance.now() - t0;
      if (r.exitCode !== 0) {
        throw new Error(`tsbox run /bin/true: exit code ${r.exitCode}: ${r.stderr ?? ''}`);
      }
      return ms;
    },
    concurrent: true,
  });
}

// --- measurements -----------------------------------------------------------

/**
 * Sequential start latency. Contenders are interleaved round-robin, and the
 * order rotates every round, so machine noise (and any cost of following a
 * particular contender) falls on all of them alike.
 * @returns {Promise<Map<string, number[]>>}
 */
async function measureLatency() {
  /** @type {Map<string, number[]>} */
  const samples = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length];
      checkInterrupted();
      const ms = await c.once();
      if (round >= WARMUP) samples.get(c.name)?.push(ms);
    }
  }
  return samples;
}

/**
 * Total wall time of CONC_RUNS runs with CONC_WIDTH in flight, repeated
 * CONC_REPEATS times (contenders interleaved per repetition).
 * @returns {Promise<Map<string, number[]>>}
 */
async function measureConcurrent() {
  const conc = contenders.filter((c) => c.concurrent);
  /** @type {Map<string, number[]>} */
  const totals = new Map(conc.map((c) => [c.name, []]));
  for (let rep = 0; rep < CONC_REPEATS; rep++) {
    for (let k = 0; k < conc.length; k++) {
      const c = conc[(rep + k) % conc.length];
      const total = await timedPool(CONC_RUNS, CONC_WIDTH, async () => {
        checkInterrupted();
        return c.once();
      });
      totals.get(c.name)?.push(total);
    }
  }
  return totals;
}

/**
 * Pss and Rss (kB) of one process, from /proc/<pid>/smaps_rollup.
 * @param {number} pid
 */
function memoryOf(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (/** @type {string} */ name) => {
    const m = text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { pssKiB: field('Pss'), rssKiB: field('Rss') };
}

/** @param {number} pid */
function procInfo(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm may contain spaces and parentheses: fields after the last ')' are fixed.
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return { pid, comm, ppid };
}

/** Every process on the host as pid -> { comm, ppid }. */
function processTable() {
  /** @type {Map<number, { pid: number, comm: string, ppid: number }>} */
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const info = procInfo(Number(entry));
      table.set(info.pid, info);
    } catch {
      // exited while we listed
    }
  }
  return table;
}

/**
 * The host-side processes of a sandbox whose PID 1 has host pid `pid1`, split
 * into overhead and workload. Overhead: PID 1 itself, its descendants that are
 * not the workload, and its ancestors up to (not including) this Node process
 * (tsbox-init's host side). The workload is every descendant named `workload`.
 * @param {number} pid1
 * @param {string} workload comm of the workload, e.g. 'sleep'
 */
function sandboxMemory(pid1, workload) {
  const table = processTable();
  /** @type {number[]} */
  const ancestors = [];
  let p = table.get(pid1)?.ppid;
  while (p !== undefined && p !== process.pid && p > 1) {
    ancestors.push(p);
    p = table.get(p)?.ppid;
  }
  // If the chain does not lead back to us, those ancestors are not ours (for
  // example crun's detached containers are re-parented): count none of them.
  const chain = p === process.pid ? ancestors : [];
  // tsbox's launcher (one per Node process, forking every keeper) is shared by all
  // of that process's containers: reported apart, not as one sandbox's cost.
  // (Keepers are forked from it without exec, so they share its command line:
  // the launcher is the one whose parent is this Node process.)
  const isLauncher = (/** @type {number} */ pid) => {
    try {
      return (
        table.get(pid)?.ppid === process.pid &&
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--launcher')
      );
    } catch {
      return false;
    }
  };
  const ours = chain.filter((a) => !isLauncher(a));
  const shared = chain.filter(isLauncher);
  /** @type {number[]} */
  const descendants = [];
  const stack = [pid1];
  while (stack.length) {
    const parent = /** @type {number} */ (stack.pop());
    for (const info of table.values()) {
      if (info.ppid === parent) {
        descendants.push(info.pid);
        stack.push(info.pid);
      }
    }
  }
  const describe = (/** @type {number} */ pid) => ({
    pid,
    comm: table.get(pid)?.comm ?? '?',
    ...memoryOf(pid),
  });
  const pid1Info = table.get(pid1);
  const overhead = [...ours, ...descendants.filter((d) => table.get(d)?.comm !== workload)];
  const work = descendants.filter((d) => table.get(d)?.comm === workload);
  // A sandbox whose PID 1 is the workload itself (crun) has no overhead there.
  if (pid1Info && pid1Info.comm !== workload) overhead.unshift(pid1);
  else work.unshift(pid1);
  const overheadProcs = overhead.map(describe);
  const workloadProcs = work.map(describe);
  const mib = (/** @type {number} */ kib) => round(kib / 1024, 3);
  return {
    overheadPssMiB: mib(overheadProcs.reduce((s, x) => s + x.pssKiB, 0)),
    overheadRssMiB: mib(overheadProcs.reduce((s, x) => s + x.rssKiB, 0)),
    workloadPssMiB: mib(workloadProcs.reduce((s, x) => s + x.pssKiB, 0)),
    parentOfPid1: pid1Info ? (table.get(pid1Info.ppid)?.comm ?? String(pid1Info.ppid)) : null,
    sharedPssMiB: mib(shared.map(describe).reduce((s, x) => s + x.pssKiB, 0)),
    overheadProcesses: overheadProcs,
    workloadProcesses: workloadProcs,
  };
}

/** Idle memory of one tsbox sandbox running `sleep 30`. */
async function tsboxIdleMemory() {
  if (tsbox.status !== 'ok') return { status: tsbox.status };
  const box = await new tsbox.Container().start('sleep', ['30']);
  tsboxLive.add(box);
  try {
    await sleep(IDLE_SETTLE_MS);
    if (typeof box.pid !== 'number') throw new Error('tsbox RunningContainer has no numeric pid');
    return { status: 'ok', ...sandboxMemory(box.pid, 'sleep') };
  } finally {
    await box.stop();
    tsboxLive.delete(box);
  }
}

/**
 * Idle memory of one crun container running `sleep 30`, detached: crun exits
 * once the container has started (no monitor process), so its host-side
 * overhead is expected to be zero; measured to show it.
 */
async function crunIdleMemory() {
  const id = newId();
  // Detached: the container inherits crun's stdio, so no pipes (a pipe would
  // stay open for the 30 s of sleep); stderr goes to a file for the error.
  const logPath = join(tmp, `${id}.stderr`);
  const log = openSync(logPath, 'w');
  try {
    const code = await new Promise((resolve, reject) => {
      const child = spawn('crun', ['run', '-d', '-b', sleepBundle, id], {
        stdio: ['ignore', 'ignore', log],
      });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) {
      throw new Error(`crun run -d: exit code ${code}: ${readFileSync(logPath, 'utf8').trim()}`);
    }
    const state = JSON.parse(capture('crun', ['state', id]));
    await sleep(IDLE_SETTLE_MS);
    return { status: 'ok', ...sandboxMemory(state.pid, 'sleep') };
  } finally {
    closeSync(log);
    capture('crun', ['delete', '-f', id], { allowFail: true });
  }
}

// --- main -------------------------------------------------------------------

function checkEnvironment() {
  const unified = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .some((f) => f[1] === '/sys/fs/cgroup/unified' && f[2] === 'cgroup2');
  const v1 = existsSync('/sys/fs/cgroup/memory/tasks');
  if (unified && v1) {
    throw new Error(
      'cgroup2 is mounted at /sys/fs/cgroup/unified on a v1 host: crun refuses this hybrid ' +
        'layout. Run the bench through `pnpm bench` (bench/run.sh), which unmounts it in a ' +
        'private mount namespace.',
    );
  }
}

async function main() {
  checkEnvironment();
  checkInterrupted();
  const machine = machineFacts();
  const loadBefore = machineLoad();
  const t0 = performance.now();

  console.error(
    `start-latency: ${RUNS} runs (+${WARMUP} warm-up) x ${contenders.length} contenders, ` +
      `then ${CONC_RUNS} runs ${CONC_WIDTH} at a time x ${CONC_REPEATS}`,
  );
  const latency = await measureLatency();
  const concurrent = await measureConcurrent();
  checkInterrupted();
  const tsboxMemory = await tsboxIdleMemory();
  checkInterrupted();
  const memory = { tsbox: tsboxMemory, crun: await crunIdleMemory() };

  const summaries = new Map([...latency].map(([name, s]) => [name, summarize(s)]));
  const crunP50 = summaries.get('crun')?.p50 ?? Number.NaN;
  const rows = contenders.map((c) => {
    const s = /** @type {import('./lib/stats.mjs').Summary} */ (summaries.get(c.name));
    return { c, s, ratio: s.p50 / crunP50 };
  });

  // --- print
  const tsboxRow = tsbox.status === 'ok' ? [] : [[`tsbox: ${tsbox.status}`]];
  const loadNow = machineLoad();
  console.log(
    `\nmachine: ${machine.kernel}, ${machine.cpus} CPUs, node ${machine.node}; ` +
      `load ${loadBefore.loadavg[0].toFixed(2)} -> ${loadNow.loadavg[0].toFixed(2)}` +
      (loadNow.cpuPressure ? `; cpu pressure now: ${loadNow.cpuPressure}` : ''),
  );
  console.log(`\n/bin/true start latency, wall ms from the calling Node process (n=${RUNS})`);
  console.log(
    formatTable(
      ['contender', 'p50 ms', 'p95 ms', 'mean ms', 'min ms', 'p50/crun'],
      [...rows.map(({ c, s, ratio }) => [c.name, s.p50, s.p95, s.mean, s.min, ratio]), ...tsboxRow],
    ),
  );
  console.log(
    `\n${CONC_RUNS} runs, ${CONC_WIDTH} at a time: total wall ms (median of ${CONC_REPEATS})`,
  );
  console.log(
    formatTable(
      ['contender', 'median ms', 'min ms', 'max ms'],
      [
        ...[...concurrent].map(([name, t]) => {
          const s = summarize(t);
          return [name, s.p50, s.min, s.max];
        }),
        ...tsboxRow,
      ],
      { decimals: 0 },
    ),
  );
  console.log('\nidle sandbox (sleep 30): host-side memory beyond the workload');
  console.log(
    formatTable(
      ['contender', 'Pss MiB', 'Rss MiB', 'processes', 'workload Pss MiB'],
      Object.entries(memory).map(([name, m]) =>
        'overheadPssMiB' in m
          ? [
              name,
              m.overheadPssMiB,
              m.overheadRssMiB,
              m.overheadProcesses.map((p) => p.comm).join(', ') || '(none)',
              m.workloadPssMiB,
            ]
          : [`${name}: ${m.status}`],
      ),
      { decimals: 3 },
    ),
  );
  console.log(
    '  crun exits once the container has started (no monitor), so its overhead is ~0 by design.',
  );
  const shared = /** @type {{ sharedPssMiB?: number }} */ memory.tsbox?.sharedPssMiB;
  if (shared)
    console.log(
      `  tsbox: plus one launcher per Node process, shared by all its containers: ${shared} MiB Pss.`,
    );
  if (tsbox.status === 'error') console.log(`\ntsbox failed to load:\n${tsbox.error}`);

  // --- JSON
  const results = {
    bench: 'start-latency',
    timestamp: new Date().toISOString(),
    machine,
    load: { before: loadBefore, after: loadNow },
    environment:
      'node bench/start-latency.mjs in a private mount namespace with /sys/fs/cgroup/unified unmounted (bench/run.sh)',
    config: {
      runs: RUNS,
      warmup: WARMUP,
      concurrent: { runs: CONC_RUNS, width: CONC_WIDTH, repeats: CONC_REPEATS },
      rootfs:
        'host mirror: /usr read-only bind, /bin /lib /lib64 /sbin symlinks into /usr, ' +
        'fresh /proc, tmpfs /dev, tmpfs /tmp',
      ociBundle: { config: JSON.parse(readFileSync(join(trueBundle, 'config.json'), 'utf8')) },
    },
    tsbox: {
      status: tsbox.status,
      module: tsbox.path,
      ...(tsbox.error ? { error: tsbox.error } : {}),
    },
    latency: rows.map(({ c, s, ratio }) => ({
      name: c.name,
      command: c.command,
      ...Object.fromEntries(
        Object.entries(s).map(([k, v]) => [k === 'n' ? k : `${k}Ms`, round(v)]),
      ),
      p50RatioToCrun: round(ratio),
      samplesMs: (latency.get(c.name) ?? []).map((x) => round(x)),
    })),
    concurrent: [...concurrent].map(([name, t]) => ({
      name,
      medianTotalMs: round(summarize(t).p50),
      totalsMs: t.map((x) => round(x)),
    })),
    idleMemory: memory,
    wallSeconds: round((performance.now() - t0) / 1000, 1),
  };
  const paths = writeResults('start-latency', results, { alsoLatest: true });
  console.error(`\nwrote ${paths.join(', ')} (${results.wallSeconds} s)`);
  return tsbox.status === 'error' ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (e) {
  // A terminal's Ctrl-C also reaches the contender in flight, which then
  // "fails": report the interruption, not that.
  if (interrupted()) console.error('bench: interrupted');
  else console.error(`bench: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  for (const box of tsboxLive) await box.stop().catch(() => {});
  cleanup();
}
process.exit(exitCode);
