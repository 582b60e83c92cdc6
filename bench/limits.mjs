// What resource limits cost (issue 3, "Numbers it must report"): the cgroup
// create + apply + destroy of `@tsbox/cgroups` on its own, and `run('/bin/true')`
// with limits vs without, for tsbox and, side by side, for `crun run` with the
// same limits in config.json. Run through `pnpm bench` (bench/run.sh), which
// provides the mount namespace crun needs on these machines.
//
// The limits, everywhere: half a CPU (cfs quota 50000 / period 100000), 256 MiB
// of memory and no swap on top (memory+swap = 256 MiB), at most 64 pids.
//
// Knobs: BENCH_RUNS (default 300 measured runs per contender: a delta of about
// 1 ms has to stand out of run-to-run noise of 10+ ms on a loaded machine; about
// a minute of wall time), BENCH_WARMUP (default 10).

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envInt } from './lib/env.mjs';
import { handleInterrupts } from './lib/interrupt.mjs';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { makeBundle, makeMirrorRootfs } from './lib/oci.mjs';
import { capture, killLiveChildren, timedRun } from './lib/proc.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_RUNS', 300);
const WARMUP = envInt('BENCH_WARMUP', 10);

/** The limits under test, in @tsbox/cgroups' terms (also what Container's setters give). */
const LIMITS = { cpus: 0.5, memoryBytes: 256 * 2 ** 20, pidsMax: 64 };
/** The same limits as OCI `linux.resources` (swap is memory+swap on v1: equal = none). */
const OCI_RESOURCES = {
  cpu: { quota: 50000, period: 100000 },
  memory: { limit: 268435456, swap: 268435456 },
  pids: { limit: 64 },
};
/** issue 3's target for what limits may add to tsbox's p50, and what crun is said to pay. */
const TARGET_DELTA_MS = 1;

// --- resources this process creates, and their undo ------------------------

const tmp = mkdtempSync(join(os.tmpdir(), 'tsbox-bench-limits-'));
// Ids (crun containers, @tsbox/cgroups cgroups) are unique to this process, so
// clean-up and the leftover check touch only ours.
const idPrefix = `tsbox-bench-limits-${process.pid}-`;
let idSeq = 0;
const newId = () => `${idPrefix}${idSeq++}`;
const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * `@tsbox/cgroups` names a cgroup `<id>@<ownerPid>.<ownerStartTime>` under
 * `<controller>/tsbox/`; tsbox's containers have random ids but this process
 * as owner. This suffix matches every tsbox cgroup this process made.
 */
const ownerSuffix = (() => {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return `@${process.pid}.${startTime}`;
})();
/** @param {string} name */
const isOurs = (name) => name.startsWith(idPrefix) || name.endsWith(ownerSuffix);

/** @type {Set<{ destroy: () => Promise<void> }>} cgroups created and not yet destroyed */
const cgroupsLive = new Set();

/** Mount points of the cgroup hierarchies in this mount namespace. */
function cgroupMounts() {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1]);
}

/**
 * @param {string} dir
 * @returns {string[]} entries of dir that are ours, as paths (none if dir is absent)
 */
function oursIn(dir) {
  try {
    return readdirSync(dir)
      .filter(isOurs)
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/**
 * Everything of ours that should be gone once the runs are over: cgroup
 * directories (tsbox's under `<controller>/tsbox/`, crun's at
 * `<controller>/<id>`) in every mounted hierarchy, and crun state dirs.
 * crun's `<id>/cgroup.procs` under the throwaway tmpfs at
 * /sys/fs/cgroup/unified (see run.sh) is not counted: it is not a cgroup, and
 * it vanishes with the namespace.
 */
function leftovers() {
  return {
    cgroups: cgroupMounts().flatMap((m) => [...oursIn(m), ...oursIn(join(m, 'tsbox'))]),
    crunState: [
      ...oursIn('/run/crun'),
      ...capture('crun', ['list', '-q'], { allowFail: true })
        .split('\n')
        .filter((id) => id.startsWith(idPrefix))
        .map((id) => `crun list: ${id}`),
    ].filter((v, i, a) => a.indexOf(v) === i),
  };
}

/**
 * Undo whatever a failed or interrupted run left: crun containers of ours
 * (`crun delete -f` removes their cgroups), cgroups created here and not yet
 * destroyed, then any empty cgroup directory of ours; the temp dir. Matched by
 * our id prefix / owner suffix, so nothing of anyone else is touched.
 */
async function cleanup() {
  killLiveChildren();
  await Promise.allSettled([...cgroupsLive].map((cg) => cg.destroy()));
  cgroupsLive.clear();
  for (const id of capture('crun', ['list', '-q'], { allowFail: true }).split('\n')) {
    if (id.startsWith(idPrefix)) capture('crun', ['delete', '-f', id], { allowFail: true });
  }
  for (const dir of oursIn('/run/crun')) rmSync(dir, { recursive: true, force: true });
  const mounts = cgroupMounts();
  for (const m of mounts) {
    // Only empty cgroups go: rmdir refuses one with processes.
    for (const dir of [...oursIn(join(m, 'tsbox')), ...oursIn(m)]) {
      try {
        rmdirSync(dir);
      } catch (e) {
        console.error(`bench: could not remove ${dir}: ${e}`);
      }
    }
  }
  if (!mounts.includes('/sys/fs/cgroup/unified')) {
    for (const dir of oursIn('/sys/fs/cgroup/unified'))
      rmSync(dir, { recursive: true, force: true });
  }
  rmSync(tmp, { recursive: true, force: true });
}

// First signal: stop at the next run boundary; a second one cleans up at once.
const { interrupted, checkInterrupted } = handleInterrupts(cleanup);

// --- the contenders ---------------------------------------------------------

const rootfs = join(tmp, 'rootfs');
makeMirrorRootfs(rootfs);
const plainBundle = makeBundle(join(tmp, 'bundle-plain'), { rootfs, args: ['/bin/true'] });
const limitsBundle = makeBundle(join(tmp, 'bundle-limits'), {
  rootfs,
  args: ['/bin/true'],
  resources: OCI_RESOURCES,
});

/**
 * `crun run -b <bundle> <fresh id>`; on failure make sure the container's
 * state and cgroup are gone before reporting.
 * @param {string} bundle
 */
async function crunRun(bundle) {
  const id = newId();
  try {
    return await timedRun('crun', ['run', '-b', bundle, id]);
  } catch (e) {
    capture('crun', ['delete', '-f', id], { allowFail: true });
    throw e;
  }
}

const root = new URL('..', import.meta.url);
const cgroupsUrl = new URL('packages/cgroups/dist/index.js', root);
const coreUrl = process.env.BENCH_TSBOX_MODULE
  ? pathToFileURL(process.env.BENCH_TSBOX_MODULE)
  : new URL('packages/core/dist/index.js', root);
for (const url of [cgroupsUrl, coreUrl]) {
  // Unlike start-latency, every row here is about tsbox: without a build there
  // is nothing to measure, so that is an error, not a "not built" row.
  if (!existsSync(fileURLToPath(url))) {
    console.error(`bench: ${fileURLToPath(url)} is missing: run \`pnpm build\``);
    process.exit(1);
  }
}
const { createCgroup } = await import(cgroupsUrl.href);
const { Container } = await import(coreUrl.href);

/** @typedef {{ prepareMs: number, cloneMs: number, setupMs: number, execMs: number, runMs: number, teardownMs: number }} Timings */
/** @type {Map<string, Timings[]>} tsbox's own phase timings, per tsbox contender */
const phases = new Map();

/**
 * One tsbox run of /bin/true, exit-checked, its phase timings recorded.
 * @param {string} name contender name (for the phase record)
 * @param {boolean} limited whether the Container sets limits
 * @param {() => any} make the Container to run
 */
async function tsboxRun(name, limited, make) {
  const t0 = performance.now();
  const r = await make().run('/bin/true');
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) {
    throw new Error(`tsbox ${name}: /bin/true exit code ${r.exitCode}: ${r.stderr ?? ''}`);
  }
  // RunResult.stats is present exactly when the container had a cgroup: proof
  // that the limited run took the limits path and the plain one did not.
  if ((r.stats !== undefined) !== limited) {
    throw new Error(
      `tsbox ${name}: stats ${r.stats ? 'present' : 'missing'}: cgroup path not as expected`,
    );
  }
  if (r.timings) phases.get(name)?.push(r.timings);
  return ms;
}

/**
 * @typedef {object} Contender
 * @property {string} name
 * @property {string} command what runs, exactly
 * @property {() => Promise<number>} once one checked run, returns wall ms
 */

/** @type {Contender[]} */
const contenders = [
  {
    name: 'cgroups alone',
    command:
      'createCgroup(<fresh id>, { cpus: 0.5, memoryBytes: 256 * 2**20, pidsMax: 64 }) then cg.destroy()',
    once: async () => {
      const id = newId();
      const t0 = performance.now();
      const cg = await createCgroup(id, LIMITS);
      cgroupsLive.add(cg);
      await cg.destroy();
      const ms = performance.now() - t0;
      cgroupsLive.delete(cg);
      return ms;
    },
  },
  {
    name: 'tsbox',
    command: "new Container().run('/bin/true')",
    once: () => tsboxRun('tsbox', false, () => new Container()),
  },
  {
    name: 'tsbox + limits',
    command: "new Container().cpu(0.5).memory('256M').pids(64).run('/bin/true')",
    once: () =>
      tsboxRun('tsbox + limits', true, () => new Container().cpu(0.5).memory('256M').pids(64)),
  },
  {
    name: 'crun',
    command: 'crun run -b <bundle> <fresh id>   (no linux.resources)',
    once: () => crunRun(plainBundle),
  },
  {
    name: 'crun + limits',
    command: 'crun run -b <bundle> <fresh id>   (linux.resources: cpu, memory+swap, pids)',
    once: () => crunRun(limitsBundle),
  },
];
for (const c of contenders) if (c.name.startsWith('tsbox')) phases.set(c.name, []);

// --- measurements -----------------------------------------------------------

/**
 * Contenders interleaved round-robin, the order rotating every round, so
 * machine noise falls on all of them alike; each round's samples are kept
 * together (as an index) for paired differences.
 * @returns {Promise<Map<string, number[]>>}
 */
async function measure() {
  /** @type {Map<string, number[]>} */
  const samples = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length];
      checkInterrupted();
      const ms = await c.once();
      if (round >= WARMUP) samples.get(c.name)?.push(ms);
    }
    if (round === WARMUP - 1) for (const p of phases.values()) p.length = 0;
  }
  return samples;
}

/**
 * What limits add, two ways: the difference of the p50s (what the issue asks)
 * and the median of the per-round differences (each pair measured in the same
 * round, so slow spells of the machine cancel out).
 * @param {number[]} without
 * @param {number[]} withLimits
 */
function delta(without, withLimits) {
  const paired = withLimits.map((x, i) => x - without[i]);
  return {
    p50DeltaMs: summarize(withLimits).p50 - summarize(without).p50,
    pairedMedianMs: summarize(paired).p50,
  };
}

function checkEnvironment() {
  const unified = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .some((f) => f[1] === '/sys/fs/cgroup/unified' && f[2] === 'cgroup2');
  if (unified && existsSync(`${CGROUP_ROOT}/memory/tasks`)) {
    throw new Error(
      'cgroup2 is mounted at /sys/fs/cgroup/unified on a v1 host: crun refuses this hybrid ' +
        'layout. Run the bench through `pnpm bench` (bench/run.sh), which unmounts it in a ' +
        'private mount namespace.',
    );
  }
}

/** @param {Record<string, number>[]} list */
function medians(list) {
  if (list.length === 0) return null;
  return Object.fromEntries(
    Object.keys(list[0]).map((k) => [k, round(summarize(list.map((t) => t[k])).p50)]),
  );
}

async function main() {
  checkEnvironment();
  const machine = machineFacts();
  const loadBefore = machineLoad();
  const t0 = performance.now();
  console.error(
    `limits: ${RUNS} runs (+${WARMUP} warm-up) x ${contenders.length} contenders, round-robin`,
  );
  const samples = await measure();

  // Nothing of ours may remain: checked before any clean-up, so a leak is seen.
  const left = leftovers();
  const leaked = left.cgroups.length + left.crunState.length > 0;

  const s = new Map([...samples].map(([name, x]) => [name, summarize(x)]));
  const get = (/** @type {string} */ name) =>
    /** @type {import('./lib/stats.mjs').Summary} */ (s.get(name));
  const sample = (/** @type {string} */ name) => /** @type {number[]} */ (samples.get(name));
  const tsboxDelta = delta(sample('tsbox'), sample('tsbox + limits'));
  const crunDelta = delta(sample('crun'), sample('crun + limits'));
  const ratio = get('tsbox + limits').p50 / get('crun + limits').p50;
  const tsboxPhases = Object.fromEntries([...phases].map(([name, t]) => [name, medians(t)]));

  // --- print
  const loadNow = machineLoad();
  console.log(
    `\nmachine: ${machine.kernel}, ${machine.cpus} CPUs, node ${machine.node}; ` +
      `load ${loadBefore.loadavg[0].toFixed(2)} -> ${loadNow.loadavg[0].toFixed(2)}` +
      (loadNow.cpuPressure ? `; cpu pressure now: ${loadNow.cpuPressure}` : ''),
  );
  console.log(
    `\nlimits: cpu 0.5 (quota 50000/100000), memory 256 MiB + no swap, pids 64; ` +
      `wall ms from the calling Node process (n=${RUNS})`,
  );
  console.log(
    formatTable(
      ['contender', 'p50 ms', 'p95 ms', 'mean ms', 'min ms'],
      contenders.map((c) => {
        const x = get(c.name);
        return [c.name, x.p50, x.p95, x.mean, x.min];
      }),
    ),
  );
  const fmt = (/** @type {number} */ x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  console.log(
    `\ntsbox: limits add ${fmt(tsboxDelta.p50DeltaMs)} ms to p50 ` +
      `(median of per-round differences ${fmt(tsboxDelta.pairedMedianMs)} ms; target <= ${TARGET_DELTA_MS} ms)`,
  );
  console.log(
    `crun:  limits add ${fmt(crunDelta.p50DeltaMs)} ms to p50 ` +
      `(median of per-round differences ${fmt(crunDelta.pairedMedianMs)} ms)`,
  );
  console.log(
    `cgroup create + apply + destroy alone (@tsbox/cgroups): p50 ${get('cgroups alone').p50.toFixed(2)} ms`,
  );
  console.log(`tsbox + limits p50 / crun + limits p50: ${ratio.toFixed(2)}`);
  const phaseNames = ['prepareMs', 'cloneMs', 'setupMs', 'execMs', 'runMs', 'teardownMs'];
  console.log("\ntsbox's own phase timings (RunResult.timings), median ms");
  console.log(
    formatTable(
      ['contender', ...phaseNames.map((p) => p.replace(/Ms$/, ''))],
      Object.entries(tsboxPhases).map(([name, m]) => [
        name,
        ...phaseNames.map((p) => (m ? m[p] : null)),
      ]),
    ),
  );
  if (leaked) {
    console.error(`\nbench: FAILED: left behind after the runs:\n${JSON.stringify(left, null, 2)}`);
  } else {
    console.error(
      '\nnothing left behind: no cgroup of ours in any hierarchy (tsbox/ included), no crun state',
    );
  }

  // --- JSON
  const results = {
    bench: 'limits',
    timestamp: new Date().toISOString(),
    machine,
    load: { before: loadBefore, after: loadNow },
    environment:
      'node bench/limits.mjs in a private mount namespace with /sys/fs/cgroup/unified unmounted (bench/run.sh)',
    config: {
      runs: RUNS,
      warmup: WARMUP,
      limits: LIMITS,
      ociResources: OCI_RESOURCES,
      rootfs:
        'host mirror: /usr read-only bind, /bin /lib /lib64 /sbin symlinks into /usr, ' +
        'fresh /proc, tmpfs /dev, tmpfs /tmp',
      ociBundle: {
        plain: JSON.parse(readFileSync(join(plainBundle, 'config.json'), 'utf8')),
        limits: JSON.parse(readFileSync(join(limitsBundle, 'config.json'), 'utf8')),
      },
      modules: { cgroups: fileURLToPath(cgroupsUrl), core: fileURLToPath(coreUrl) },
    },
    latency: contenders.map((c) => ({
      name: c.name,
      command: c.command,
      ...Object.fromEntries(
        Object.entries(get(c.name)).map(([k, v]) => [k === 'n' ? k : `${k}Ms`, round(v)]),
      ),
      samplesMs: sample(c.name).map((x) => round(x)),
    })),
    limitsAdd: {
      tsbox: {
        p50DeltaMs: round(tsboxDelta.p50DeltaMs),
        pairedMedianMs: round(tsboxDelta.pairedMedianMs),
        targetMs: TARGET_DELTA_MS,
      },
      crun: {
        p50DeltaMs: round(crunDelta.p50DeltaMs),
        pairedMedianMs: round(crunDelta.pairedMedianMs),
      },
    },
    cgroupAloneP50Ms: round(get('cgroups alone').p50),
    tsboxLimitsToCrunLimitsP50Ratio: round(ratio),
    tsboxPhaseMediansMs: tsboxPhases,
    leftovers: left,
    wallSeconds: round((performance.now() - t0) / 1000, 1),
  };
  const paths = writeResults('limits', results);
  console.error(`wrote ${paths.join(', ')} (${results.wallSeconds} s)`);
  return leaked ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (e) {
  if (interrupted()) console.error('bench: interrupted');
  else console.error(`bench: FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
