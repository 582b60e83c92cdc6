// Start latency of `/bin/true` in a tsbox container with and without a network
// (issue 5, "Numbers it must report"): 'none' (the default, loopback only) vs the
// default 'bridge' network (lease, hosts/resolv.conf, veth born in the
// container's namespace, address and route; teardown releases the lease and
// leaves the veth to the kernel) vs 'bridge' with one published port (adds one
// nfnetlink transaction to publish and one to unpublish). Contenders are
// interleaved round-robin, rotating the order every round, after warm-up rounds,
// from one Node process.
//
// Then the port step alone: publish + unpublish of one port through NatTable
// (nfnetlink) vs the two `nft -f -` spawns tsbox used before (design note 13), on
// a throwaway table holding only the map (no chains: it affects no traffic).
//
// Knobs: BENCH_RUNS (default 60 measured runs per contender), BENCH_WARMUP (5).

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { envInt } from './lib/env.mjs';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_RUNS', 60);
const WARMUP = envInt('BENCH_WARMUP', 5);

const tsboxUrl = process.env.BENCH_TSBOX_MODULE
  ? pathToFileURL(process.env.BENCH_TSBOX_MODULE)
  : new URL('../packages/core/dist/index.js', import.meta.url);
const { Container, Network } = await import(tsboxUrl.href);
const { NatTable } = await import(new URL('../packages/netns/dist/index.js', import.meta.url).href);

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

const TABLE = `tsbox_bench_${process.pid}`;
const target = { address: '10.213.0.250', port: 80 };
const nat = new NatTable({ table: TABLE });
const port = /** @type {const} */ ({
  protocol: 'tcp',
  hostPort: PORT,
  containerAddress: target.address,
  containerPort: target.port,
});

/** @type {Array<[string, () => Promise<void>]>} */
const portSteps = [
  [
    'NatTable over nfnetlink',
    async () => {
      await nat.publish([port]);
      await nat.unpublish([port], { strict: true });
    },
  ],
  [
    'nft -f - spawned twice',
    async () => {
      await nft(
        `create element ip ${TABLE} tcp_ports { ${PORT} : ${target.address} . ${target.port} }`,
      );
      await nft(`delete element ip ${TABLE} tcp_ports { ${PORT} }`);
    },
  ],
];

/**
 * Runs one `nft -f -` transaction, as tsbox did per container before note 13.
 * @param {string} script
 * @returns {Promise<void>}
 */
function nft(script) {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`nft exit ${code}: ${stderr.trim()}`)),
    );
    child.stdin.end(script);
  });
}

/** @param {Promise<{ exitCode: number, stderr: string }>} p */
async function check(p) {
  const r = await p;
  if (r.exitCode !== 0) throw new Error(`/bin/true exited ${r.exitCode}: ${r.stderr}`);
}

/**
 * Interleaved round-robin runs of each contender, order rotated every round.
 * @param {Array<[string, () => Promise<void>]>} list
 * @returns {Promise<Map<string, number[]>>}
 */
async function measure(list) {
  /** @type {Map<string, number[]>} */
  const out = new Map(list.map(([name]) => [name, []]));
  for (let round_ = 0; round_ < WARMUP + RUNS; round_++) {
    const k = round_ % list.length;
    const order = [...list.slice(k), ...list.slice(0, k)];
    for (const [name, run] of order) {
      const t0 = performance.now();
      await run();
      const ms = performance.now() - t0;
      if (round_ >= WARMUP) out.get(name)?.push(ms);
    }
  }
  return out;
}

const hadBridge = (await Network.get('bridge')) !== undefined;
const loadBefore = machineLoad();
/** @type {Map<string, number[]>} */
let samples;
/** @type {Map<string, number[]>} */
let portSamples;
try {
  samples = await measure(contenders);
} finally {
  // The bench created the default network only if it did not exist: remove only then.
  const bridge = await Network.get('bridge');
  if (!hadBridge && bridge && bridge.members().length === 0) await bridge.remove();
}
await nft(
  `add table ip ${TABLE}\nadd map ip ${TABLE} tcp_ports { type inet_service : ipv4_addr . inet_service; }`,
);
try {
  portSamples = await measure(portSteps);
} finally {
  await nat.remove();
}
const loadAfter = machineLoad();

const summaries = new Map([...samples].map(([name, s]) => [name, summarize(s)]));
const base = summaries.get('none')?.p50 ?? Number.NaN;
const bridgeP50 = summaries.get('bridge')?.p50 ?? Number.NaN;
console.log(
  formatTable(
    ['/bin/true, start to exit', 'p50 ms', 'p95 ms', 'x none', 'x bridge'],
    [...summaries].map(([name, s]) => [name, s.p50, s.p95, s.p50 / base, s.p50 / bridgeP50]),
  ),
);
const portSummaries = new Map([...portSamples].map(([name, s]) => [name, summarize(s)]));
const netlinkP50 = portSummaries.get('NatTable over nfnetlink')?.p50 ?? Number.NaN;
console.log(
  formatTable(
    ['publish + unpublish 1 port', 'p50 ms', 'p95 ms', 'x nfnetlink'],
    [...portSummaries].map(([name, s]) => [name, s.p50, s.p95, s.p50 / netlinkP50]),
  ),
);
const paths = writeResults('network', {
  runs: RUNS,
  warmup: WARMUP,
  machine: machineFacts(),
  load: { before: loadBefore, after: loadAfter },
  portStep: Object.fromEntries(
    [...portSummaries].map(([name, s]) => [
      name,
      {
        p50: round(s.p50),
        p95: round(s.p95),
        mean: round(s.mean),
        samples: portSamples.get(name)?.map((x) => round(x)),
      },
    ]),
  ),
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
