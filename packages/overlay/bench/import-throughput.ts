// Import throughput of @tsbox/overlay against GNU tar on the same archive, same process.
//   pnpm exec vite-node packages/overlay/bench/import-throughput.ts [sourceDir]
// (or: node <vite-node.mjs> ...). Default source: /usr/lib/python3.11 (~50 MB).
// Prints MB/s (archive bytes per second of wall time), median of 3 runs each.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../src/store.js';

const source = process.argv[2] ?? '/usr/lib/python3.11';
const RUNS = 5;
const work = fs.mkdtempSync(join(tmpdir(), 'tsbox-bench-import-'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function time(fn: () => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

try {
  const plain = join(work, 'rootfs.tar');
  const gz = join(work, 'rootfs.tar.gz');
  execFileSync('tar', ['--numeric-owner', '-C', source, '-cf', plain, '.']);
  execFileSync('sh', ['-c', `gzip -c -6 '${plain}' > '${gz}'`]);
  const entries = Number(
    execFileSync('sh', ['-c', `tar -tf '${plain}' | wc -l`], { encoding: 'utf8' }),
  );
  const rows: string[] = [];
  for (const [label, archive, gnuFlags] of [
    ['tar', plain, '-xf'],
    ['tar.gz', gz, '-xzf'],
  ] as const) {
    const size = fs.statSync(archive).size;
    const gnu: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out = join(work, `gnu-${i}`);
      fs.mkdirSync(out);
      execFileSync('sync'); // start each run without the previous run's writeback
      gnu.push(await time(() => void execFileSync('tar', ['-C', out, gnuFlags, archive])));
      fs.rmSync(out, { recursive: true, force: true });
      const root = join(work, `store-${i}`);
      const store = new ImageStore({ root });
      execFileSync('sync');
      ours.push(await time(async () => void (await store.import(archive, { format: 'rootfs' }))));
      fs.rmSync(root, { recursive: true, force: true });
    }
    const mbs = (ms: number) => (size / 1024 / 1024 / (ms / 1000)).toFixed(1);
    rows.push(
      `${label.padEnd(7)} ${(size / 1024 / 1024).toFixed(1).padStart(6)} MiB  ` +
        `GNU tar ${median(gnu).toFixed(0).padStart(5)} ms ${mbs(median(gnu)).padStart(6)} MiB/s   ` +
        `tsbox ${median(ours).toFixed(0).padStart(5)} ms ${mbs(median(ours)).padStart(6)} MiB/s   ` +
        `ratio ${(median(ours) / median(gnu)).toFixed(2)}x   (runs: gnu ${gnu.map((x) => x.toFixed(0)).join(' ')}; tsbox ${ours.map((x) => x.toFixed(0)).join(' ')})`,
    );
  }
  console.log(`source ${source}, ${entries} entries, median of ${RUNS}`);
  for (const r of rows) console.log(r);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
