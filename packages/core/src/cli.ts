#!/usr/bin/env node
// `tsbox`: run a command in a sandbox from the shell, and clean up after crashes.
//   tsbox run [--timeout 5s] [--hostname h] [--rootfs dir | --image ref [--store dir]] [--user uid[:gid]] [--env K=V]... -- cmd [args...]
//   tsbox gc
import { ImageStore } from '@tsbox/overlay';
import { Container } from './container.js';
import { TsboxError } from './errors.js';
import { gc } from './gc.js';

const USAGE = `usage:
  tsbox run [--timeout 5s] [--hostname NAME] [--rootfs DIR | --image REF [--store DIR]]
            [--user UID[:GID]] [--env K=V]... [--] [CMD [ARGS...]]   (CMD optional with --image)
  tsbox gc     remove state left by containers whose process died`;

async function run(argv: string[]): Promise<number> {
  let box = new Container();
  let image: string | undefined;
  let storeRoot: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('--')) break;
    if (a === '--timeout') box = box.timeout(value());
    else if (a === '--hostname') box = box.hostname(value());
    else if (a === '--rootfs') box = box.rootfs(value());
    else if (a === '--image') image = value();
    else if (a === '--store') storeRoot = value();
    else if (a === '--env') {
      const [k, ...v] = value().split('=');
      box = box.env({ [k as string]: v.join('=') });
    } else if (a === '--user') {
      const [u, g] = value().split(':').map(Number);
      box = box.user(u as number, g ?? (u as number));
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  const [cmd, ...args] = argv.slice(i);
  if (image !== undefined)
    box = box.image(image, new ImageStore(storeRoot === undefined ? {} : { root: storeRoot }));
  else if (!cmd) throw new Error(USAGE);
  const running = await box.start(cmd, args, {
    input: process.stdin.isTTY ? undefined : process.stdin,
  });
  running.on('stdout', (c) => process.stdout.write(c));
  running.on('stderr', (c) => process.stderr.write(c));
  const forward = (sig: NodeJS.Signals) => running.kill(sig);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const r = await running.wait();
  if (r.timedOut) process.stderr.write(`tsbox: timed out after ${r.durationMs.toFixed(0)} ms\n`);
  return r.exitCode;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'run') return run(rest);
  if (verb === 'gc') {
    const report = await gc();
    console.log(
      `removed ${report.removed.length} records, ${report.cgroupsRemoved.length} cgroups; live ${report.live.length}`,
    );
    for (const dir of report.removed) console.log(`  removed ${dir}`);
    for (const lease of report.network.leases) console.log(`  released lease ${lease}`);
    for (const port of report.network.ports) console.log(`  unpublished port ${port}`);
    for (const lease of report.volumes) console.log(`  released volume lease ${lease}`);
    return 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(
      err instanceof TsboxError
        ? `tsbox: ${err.code} (${err.stage}): ${err.message}`
        : `tsbox: ${(err as Error).message}`,
    );
    process.exitCode = 125;
  },
);
