// Image import throughput (issue 4, "Numbers it must report"): `ImageStore.import()` of a
// rootfs archive against GNU `tar -x` of the same archive into the same file system, in
// the same script, interleaved round by round. MB/s = archive bytes ÷ wall time until
// the call returns (tsbox also hashes every byte for the layer digest and writes the
// layer atomically; GNU tar does neither). Two archives: plain tar and tar.gz.
//
// Knobs: BENCH_IMPORT_RUNS (default 5 rounds), BENCH_IMPORT_SOURCE (the tree to archive,
// default /usr/lib/python3.11: ~50 MB in ~5000 files, a realistic layer).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { envInt } from './lib/env.mjs';
import { machineFacts, machineLoad } from './lib/machine.mjs';
import { formatTable, round, summarize, writeResults } from './lib/stats.mjs';

const RUNS = envInt('BENCH_IMPORT_RUNS', 5);
const SOURCE = process.env.BENCH_IMPORT_SOURCE || '/usr/lib/python3.11';

if (!existsSync(SOURCE)) {
  console.error(`bench import: source tree ${SOURCE} does not exist (set BENCH_IMPORT_SOURCE)`);
  process.exit(1);
}

// /var/tmp, not /tmp: the store's default root (/var/lib/tsbox) is on disk, and so
// must both extractions be.
const work = mkdtempSync('/var/tmp/tsbox-bench-import-');
try {
  const { ImageStore } = await import(
    new URL('../packages/core/dist/index.js', import.meta.url).href
  );
  const plain = join(work, 'rootfs.tar');
  const gz = join(work, 'rootfs.tar.gz');
  execFileSync('tar', ['--numeric-owner', '-C', SOURCE, '-cf', plain, '.']);
  execFileSync('sh', ['-c', 'gzip -c -6 "$1" > "$2"', 'sh', plain, gz]);
  const entries = Number(
    execFileSync('sh', ['-c', 'tar -tf "$1" | wc -l', 'sh', plain], { encoding: 'utf8' }),
  );

  const archives = [
    { label: 'tar', path: plain, gnuFlag: '-xf' },
    { label: 'tar.gz', path: gz, gnuFlag: '-xzf' },
  ];
  /** @type {Record<string, { gnu: number[], tsbox: number[] }>} */
  const samples = Object.fromEntries(archives.map((a) => [a.label, { gnu: [], tsbox: [] }]));
  const loadBefore = machineLoad();
  for (let i = 0; i < RUNS; i++) {
    for (const a of archives) {
      // Alternate who goes first; sync so neither pays for the other's writeback.
      const order = i % 2 === 0 ? ['gnu', 'tsbox'] : ['tsbox', 'gnu'];
      for (const who of order) {
        const out = join(work, `${who}-${a.label}-${i}`);
        mkdirSync(out);
        execFileSync('sync');
        const t0 = performance.now();
        if (who === 'gnu') {
          execFileSync('tar', ['--numeric-owner', '-p', '-C', out, a.gnuFlag, a.path]);
        } else {
          await new ImageStore({ root: out }).import(a.path, { format: 'rootfs' });
        }
        samples[a.label]?.[who].push(performance.now() - t0);
        rmSync(out, { recursive: true, force: true });
      }
    }
  }
  const loadAfter = machineLoad();

  const results = {};
  const rows = archives.map((a) => {
    const size = statSync(a.path).size;
    const s = samples[a.label] ?? { gnu: [], tsbox: [] };
    const gnu = summarize(s.gnu);
    const ours = summarize(s.tsbox);
    const mbs = (/** @type {number} */ ms) => size / 1e6 / (ms / 1000);
    results[a.label] = {
      bytes: size,
      gnuTar: {
        p50: round(gnu.p50),
        mbPerS: round(mbs(gnu.p50)),
        samples: s.gnu.map((x) => round(x)),
      },
      tsbox: {
        p50: round(ours.p50),
        mbPerS: round(mbs(ours.p50)),
        samples: s.tsbox.map((x) => round(x)),
      },
    };
    return [
      `${a.label} (${(size / 1e6).toFixed(1)} MB)`,
      mbs(gnu.p50),
      mbs(ours.p50),
      mbs(ours.p50) / mbs(gnu.p50),
    ];
  });
  console.log(`import of ${SOURCE} (${entries} entries), median of ${RUNS} rounds`);
  console.log(formatTable(['archive', 'GNU tar MB/s', 'tsbox MB/s', 'tsbox ÷ tar'], rows));
  writeResults('import', {
    runs: RUNS,
    source: SOURCE,
    entries,
    machine: machineFacts(),
    load: { before: loadBefore, after: loadAfter },
    results,
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
