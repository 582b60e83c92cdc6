// Container start on an image vs on the default host mirror (issue 4, "Numbers it
// must report"): wall time of `run('/bin/true')` from the calling Node process until
// the container is gone and released, p50 over interleaved rounds. Three
// contenders, all tsbox: the host mirror (the baseline), an image root (overlay of a
// busybox layer, writable layer under /run/tsbox/<id>/), and an image root with a
// size-limited writable layer (a tmpfs mounted on the host per container).
//
// Knobs: BENCH_RUNS (default 60 measured runs per contender), BENCH_WARMUP (5).

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { envInt } from './lib/env.mjs';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_RUNS', 60);
const WARMUP = envInt('BENCH_WARMUP', 5);

const tmp = mkdtempSync(join(os.tmpdir(), 'tsbox-bench-image-'));
try {
  // A one-layer busybox image: the binary, `sh` and `true` as applet links, and the
  // mount points tsbox-init needs.
  const tree = join(tmp, 'tree');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc'])
    mkdirSync(join(tree, d), { recursive: true });
  copyFileSync('/bin/busybox', join(tree, 'bin/busybox'));
  chmodSync(join(tree, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true']) symlinkSync('busybox', join(tree, 'bin', a));
  const tar = join(tmp, 'busybox.tar');
  execFileSync('tar', ['-C', tree, '-cf', tar, '.']);

  const { Container, ImageStore } = await import(
    new URL('../packages/core/dist/index.js', import.meta.url).href
  );
  const store = new ImageStore({ root: join(tmp, 'store') });
  const image = await store.import(tar);

  const contenders = [
    { name: 'tsbox host mirror', box: new Container() },
    { name: 'tsbox image', box: new Container().image(image, store) },
    {
      name: 'tsbox image + writableLayerSize',
      box: new Container().image(image, store).writableLayerSize('64M'),
    },
  ];
  /** @type {Map<string, number[]>} */
  const samples = new Map(contenders.map((c) => [c.name, []]));
  const loadBefore = machineLoad();
  for (let round_ = 0; round_ < WARMUP + RUNS; round_++) {
    // Rotate the order every round so no contender always follows another.
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(round_ + i) % contenders.length];
      const t0 = performance.now();
      const r = await c.box.run('/bin/true');
      const ms = performance.now() - t0;
      if (r.exitCode !== 0) throw new Error(`${c.name}: exit ${r.exitCode}: ${r.stderr}`);
      if (round_ >= WARMUP) samples.get(c.name)?.push(ms);
    }
  }
  const loadAfter = machineLoad();
  const base = summarize(samples.get('tsbox host mirror') ?? []);
  const rows = contenders.map((c) => {
    const s = summarize(samples.get(c.name) ?? []);
    return [c.name, s.p50, s.p95, s.p50 / base.p50];
  });
  console.log(formatTable(['/bin/true, ms', 'p50', 'p95', 'p50 ÷ host'], rows));
  writeResults('image', {
    runs: RUNS,
    warmup: WARMUP,
    machine: machineFacts(),
    load: { before: loadBefore, after: loadAfter },
    results: Object.fromEntries(
      contenders.map((c) => {
        const s = summarize(samples.get(c.name) ?? []);
        return [
          c.name,
          {
            p50: round(s.p50),
            p95: round(s.p95),
            samples: samples.get(c.name)?.map((x) => round(x)),
          },
        ];
      }),
    ),
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
