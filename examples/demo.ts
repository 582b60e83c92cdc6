// The tsbox demo: runs real sandboxes on this machine and prints what they show.
// Run it with `bash scripts/demo.sh` (installs and builds first) or `pnpm demo`.
import { Container, cpuPercent, ExecNotFoundError } from '@tsbox/core';

const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const indent = (s: string) =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

async function show(title: string, box: Container, cmd: string, args: string[]): Promise<void> {
  const r = await box.run(cmd, args);
  console.log(
    `\n${bold(title)}  (exit ${r.exitCode}${r.signal ? `, ${r.signal}` : ''}${r.timedOut ? ', timed out' : ''}, ${r.durationMs.toFixed(1)} ms)`,
  );
  if (r.stdout) console.log(indent(r.stdout));
  if (r.stderr) console.log(indent(`stderr: ${r.stderr}`));
}

const box = new Container().hostname('box').timeout('10s');

console.log(bold('tsbox demo: every box below is a fresh container on this kernel'));

const first = await new Container()
  .hostname('box')
  .env({ GREETING: 'hi' })
  .timeout('2s')
  .run('sh', ['-c', 'echo $GREETING from $(hostname), pid $$']);
console.log(
  `\n${bold('The README example')}\n${indent(JSON.stringify({ ...first, durationMs: Number(first.durationMs.toFixed(2)) }, null, 2))}`,
);

await show('Who is PID 1, and what processes exist inside', box, 'sh', [
  '-c',
  'echo "PID 1 is $(cat /proc/1/comm)"; for p in /proc/[0-9]*; do echo "  pid $(basename $p): $(cat $p/comm 2>/dev/null)"; done',
]);

await show('The host is invisible: its root, /work, /home and host processes', box, 'sh', [
  '-c',
  `echo "/: $(ls / | tr '\\n' ' ')"; test -e /work && echo "/work visible" || echo "/work: not here"; ` +
    `test -e /home && echo "/home visible" || echo "/home: not here"; test -e /proc/${process.pid} && echo "host pid ${process.pid} visible" || echo "host pid ${process.pid} (this demo): not here"`,
]);

await show('Its own network: loopback only', box, 'sh', [
  '-c',
  'ls /sys/class/net; cat /proc/net/dev | tail -n +3',
]);

await show('What it may not do: mount, change the hostname, write /usr', box, 'python3', [
  '-c',
  [
    'import ctypes, errno, socket',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.mount(b"none", b"/tmp", b"tmpfs", 0, None); print("mount:", errno.errorcode[ctypes.get_errno()])',
    'try: socket.sethostname("evil")\nexcept OSError as e: print("sethostname:", errno.errorcode[e.errno])',
    'try: open("/usr/evil", "w")\nexcept OSError as e: print("write /usr:", errno.errorcode[e.errno])',
  ].join('\n'),
]);

await show(
  'Limits as they land: a 1 MiB /tmp, 64 open files, nobody:nogroup',
  box.tmpfs('/tmp', '1M').rlimit('nofile', 64).user(65534, 65534),
  'sh',
  ['-c', 'id; ulimit -n; head -c 2000000 /dev/zero > /tmp/fill; ls -l /tmp/fill'],
);

{
  const oom = await box
    .memory('64M')
    .run('python3', ['-c', 'x = bytearray(200 * 2**20); print("survived")']);
  console.log(
    `\n${bold("cgroup limits: .memory('64M') and a 200 MB allocation")}\n    exit ${oom.exitCode} (${oom.signal}), oomKilled: ${oom.oomKilled} (from the cgroup's OOM counter), peak memory ${((oom.stats?.memoryPeakBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`,
  );
  const bomb = await box
    .pids(32)
    .timeout('2s')
    .run('sh', ['-c', 'bomb() { bomb | bomb & }; bomb; sleep 1']);
  console.log(
    `\n${bold('.pids(32) and a fork bomb')}\n    contained: ${bomb.stats?.pidsLimitHits} forks refused at the limit; the host kept spawning`,
  );
  const busy = await box.cpu(0.2).start('sh', ['-c', 'while :; do :; done']);
  await new Promise((r) => setTimeout(r, 200));
  const a = busy.stats();
  await new Promise((r) => setTimeout(r, 1000));
  const b = busy.stats();
  await busy.stop({ grace: 1 });
  if (a && b) {
    console.log(
      `\n${bold('.cpu(0.2) and a busy loop')}\n    used ${cpuPercent(a, b, 1).toFixed(1)} % of one CPU over 1 s (throttled ${b.cpuThrottledMs.toFixed(0)} ms)`,
    );
  }
}

await show('A timeout kills the whole tree, setsid escapees included', box.timeout('300ms'), 'sh', [
  '-c',
  "setsid sh -c 'sleep 60 & sleep 60' & sleep 60",
]);

try {
  await box.run('no-such-program');
} catch (err) {
  if (!(err instanceof ExecNotFoundError)) throw err;
  console.log(
    `\n${bold('A missing program is a typed error, not exit 127')}\n    ${err.code}: ${err.message}`,
  );
}

const times: number[] = [];
for (let i = 0; i < 30; i++) {
  const t = performance.now();
  await new Container().run('/bin/true');
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(
  `\n${bold('Start-to-exit of /bin/true in a fresh container')}: median ${times[15]?.toFixed(2)} ms over 30 runs (pnpm bench compares with crun, runc, bwrap)`,
);
