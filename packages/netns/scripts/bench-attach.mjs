// Measures bridge attach + detach per container through netlink, against the same
// steps done with the `ip` binary, in one process. The container namespace is held
// by an `unshare --net` process spawned before each run and killed after it (not
// timed): detach leaves the veth to the dying namespace, as tsbox core will.
//
//   pnpm --filter @tsbox/netns build && node packages/netns/scripts/bench-attach.mjs [runs]
//
// Only creates tsb*/tsbox* links and a 10.89.250.0/24 bridge; removes them at the end.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  attach,
  detach,
  ensureBridgeNetwork,
  Rtnetlink,
  removeBridgeNetwork,
} from '../dist/index.js';

const runs = Number(process.argv[2] ?? 50);
const state = mkdtempSync(join(tmpdir(), 'tsbox-bench-net-'));
const network = ensureBridgeNetwork({
  name: 'bench',
  bridge: 'tsbbench0',
  subnet: '10.89.250.0/24',
  leaseDirectory: join(state, 'leases'),
});
const host = Rtnetlink.open();

async function holder() {
  const child = spawn('unshare', ['--net', 'sh', '-c', 'echo ready; exec sleep 60'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(child.stdout, 'data');
  return {
    pid: child.pid,
    async kill() {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function ip(args, pid) {
  const [cmd, argv] =
    pid === undefined ? ['ip', args] : ['nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]];
  execFileSync(cmd, argv, { stdio: ['pipe', 'ignore', 'inherit'] });
}

function ipBatch(lines, pid) {
  const [cmd, argv] =
    pid === undefined
      ? ['ip', ['-b', '-']]
      : ['nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-b', '-']];
  execFileSync(cmd, argv, { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'inherit'] });
}

const variants = {
  netlink(pid, i) {
    const attachment = attach(network, { netns: { pid }, owner: `bench-${i}`, host });
    detach(network, attachment);
  },
  'ip-batch'(pid, i) {
    const lease = network.ipam.allocate(`bench-${i}`);
    const name = `tsbb${i}`;
    ipBatch([
      `link add ${name} type veth peer name eth0 netns ${pid}`,
      `link set ${name} master ${network.bridge} up`,
    ]);
    ipBatch(
      [
        'link set lo up',
        'link set eth0 up',
        `addr add ${lease.address}/${lease.prefixLength} dev eth0`,
        `route add default via ${network.gateway} dev eth0`,
      ],
      pid,
    );
    network.ipam.release(lease.address, lease.owner);
  },
  'ip-per-step'(pid, i) {
    const lease = network.ipam.allocate(`bench-${i}`);
    const name = `tsbb${i}`;
    ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
    ip(['link', 'set', name, 'master', network.bridge, 'up']);
    ip(['link', 'set', 'lo', 'up'], pid);
    ip(['link', 'set', 'eth0', 'up'], pid);
    ip(['addr', 'add', `${lease.address}/${lease.prefixLength}`, 'dev', 'eth0'], pid);
    ip(['route', 'add', 'default', 'via', network.gateway, 'dev', 'eth0'], pid);
    network.ipam.release(lease.address, lease.owner);
  },
};

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

// Two schedules, because a dying namespace is not free for whoever comes next: the
// kernel destroys its veth in cleanup_net while holding the rtnl lock, so the next
// rtnetlink request (ours or `ip`'s) can wait for it.
// - dying: each container's namespace is killed right after its detach (a serial
//   run-after-run workload; the next attach may queue behind the previous cleanup);
// - alive: all namespaces exist before the first attach and die after the last.
async function measure(run, schedule) {
  const times = [];
  const total = runs + 3;
  if (schedule === 'dying') {
    for (let i = 0; i < total; i++) {
      const ns = await holder();
      try {
        const start = performance.now();
        run(ns.pid, i);
        times.push(performance.now() - start);
      } finally {
        await ns.kill();
      }
    }
  } else {
    const holders = [];
    try {
      for (let i = 0; i < total; i++) holders.push(await holder());
      for (let i = 0; i < total; i++) {
        const start = performance.now();
        run(holders[i].pid, i);
        times.push(performance.now() - start);
      }
    } finally {
      for (const ns of holders) await ns.kill();
    }
  }
  // The first runs warm up koffi, the JIT and the page cache.
  const sorted = times.slice(3).sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), min: sorted[0] };
}

const results = {};
try {
  for (const schedule of ['alive', 'dying']) {
    for (const [label, run] of Object.entries(variants)) {
      results[`${label} (${schedule})`] = await measure(run, schedule);
    }
  }
} finally {
  host.close();
  removeBridgeNetwork(network);
  rmSync(state, { recursive: true, force: true });
}

const { loadavg } = await import('node:os');
console.log(
  `attach + detach per container, ${runs} runs, ms (load average ${loadavg()[0].toFixed(2)})`,
);
for (const [label, r] of Object.entries(results)) {
  const base = results[`netlink (${label.includes('alive') ? 'alive' : 'dying'})`].p50;
  console.log(
    `${label.padEnd(22)} p50 ${r.p50.toFixed(3).padStart(8)}  p90 ${r.p90.toFixed(3).padStart(8)}  min ${r.min.toFixed(3).padStart(8)}  ${(r.p50 / base).toFixed(1)}x`,
  );
}
