// Start latency of `/bin/true` in a tsbox container with and without a network
// (issue 5, "Numbers it must report"): 'none' (the default, loopback only) vs the
// default 'bridge' network (lease, hosts/resolv.conf, veth born in the
// container's namespace, address and route; teardown releases the lease and
// leaves the veth to the kernel) vs 'bridge' with one published port (adds the
// nft spawns). Contenders are interleaved round-robin, rotating the order every
// round, after warm-up rounds, from one Node process.
//
// Knobs: BENCH_RUNS (default 60 measured runs per contender), BENCH_WARMUP (5).

import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_RUNS', 60);
const WARMUP = envInt('BENCH_WARMUP', 5);

/**
 * @param {string} name
 * @param {number} dflt
 */
function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

const tsboxUrl = process.env.BENCH_TSBOX_MODULE
  ? pathToFileURL(process.env.BENCH_TSBOX_MODULE)
  : new URL('../packages/core/dist/index.js', import.meta.url);
const { Container, Network } = await import(tsboxUrl.href);

// A host port nobody else on this machine is likely to publish.
const PORT = 40_000 + (process.pid % 20_000);

/** @type {Array<[string, () => Promise<void>]>} */
const contenders = [
  ['none', () => check(new Container().run('/bin/true'))],
  ['bridge', () => check(new Container().network('bridge').run('/bin/true'))],
  [
    'bridge + 1 published port',
    () => check(new Container().network('bridge').publish(PORT, 80).run('/bin/true')),
  ],
];

/** @param {Promise<{ exitCode: number, stderr: string }>} p */
async function check(p) {
  const r = await p;
  if (r.exitCode !== 0) throw new Error(`/bin/true exited ${r.exitCode}: ${r.stderr}`);
}

const hadBridge = (await Network.get('bridge')) !== undefined;
const loadBefore = machineLoad();
/** @type {Map<string, number[]>} */
const samples = new Map(contenders.map(([name]) => [name, []]));
try {
  for (let round_ = 0; round_ < WARMUP + RUNS; round_++) {
    const k = round_ % contenders.length;
    const order = [...contenders.slice(k), ...contenders.slice(0, k)];
    for (const [name, run] of order) {
      const t0 = performance.now();
      await run();
      const ms = performance.now() - t0;
      if (round_ >= WARMUP) samples.get(name)?.push(ms);
    }
  }
} finally {
  // The bench created the default network only if it did not exist: remove only then.
  const bridge = await Network.get('bridge');
  if (!hadBridge && bridge && bridge.members().length === 0) await bridge.remove();
}
const loadAfter = machineLoad();

const summaries = new Map([...samples].map(([name, s]) => [name, summarize(s)]));
const base = summaries.get('none')?.p50 ?? Number.NaN;
console.log(
  formatTable(
    ['/bin/true, start to exit', 'p50 ms', 'p95 ms', 'x none'],
    [...summaries].map(([name, s]) => [name, s.p50, s.p95, s.p50 / base]),
  ),
);
const paths = writeResults('network', {
  runs: RUNS,
  warmup: WARMUP,
  machine: machineFacts(),
  load: { before: loadBefore, after: loadAfter },
  results: Object.fromEntries(
    [...summaries].map(([name, s]) => [
      name,
      {
        p50: round(s.p50),
        p95: round(s.p95),
        mean: round(s.mean),
        samples: samples.get(name)?.map((x) => round(x)),
      },
    ]),
  ),
});
console.error(`bench: wrote ${paths.join(', ')}`);
