import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Container, Network } from '../src/index.js';

// Outbound masquerade (`Network.create(name, { masquerade: true })`) against a
// real "outside": a network namespace this test makes, joined to the host by a
// veth pair on a private /30 from 10.255.0.0/16 that nothing on the host uses. A
// TCP server there reports the source address it sees. Containers connect only to
// that namespace's address; nothing is routed or translated anywhere else.
// ip_forward (turned on by a masquerading network) gets its previous value back.

const tag = (process.pid % 100_000).toString(36);
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const PORT = 7070;

/** Cleanup steps, run last-in first-out, every one even when another fails. */
const undo: (() => unknown)[] = [];
afterEach(async () => {
  let first: unknown;
  while (undo.length > 0) {
    try {
      await undo.pop()?.();
    } catch (error) {
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
});

function ip(args: string[], netnsPid?: number): string {
  const [command, argv] =
    netnsPid === undefined
      ? ['ip', args]
      : ['nsenter', [`--net=/proc/${netnsPid}/ns/net`, 'ip', ...args]];
  return execFileSync(command, argv, { encoding: 'utf8', timeout: 10_000 });
}

/** Whether any host address or route (any table) lies in 10.255.`octet`.0/24. */
function hostUses(octet: number): boolean {
  const prefix = `10.255.${octet}.`;
  const addresses = JSON.parse(ip(['-j', '-4', 'addr'])) as {
    addr_info: { local: string }[];
  }[];
  if (addresses.some((l) => l.addr_info.some((a) => a.local.startsWith(prefix)))) return true;
  const routes = JSON.parse(ip(['-j', '-4', 'route', 'show', 'table', 'all'])) as {
    dst: string;
  }[];
  return routes.some((r) => r.dst.startsWith(prefix) || r.dst.startsWith('10.255.0.0/16'));
}

/** A free 10.255.X.0/30: host side .1, outside .2. */
function freeLinkSubnet(): { host: string; outside: string } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const octet = Math.floor(Math.random() * 256);
    if (!hostUses(octet)) return { host: `10.255.${octet}.1`, outside: `10.255.${octet}.2` };
  }
  throw new Error('no free /30 in 10.255.0.0/16 on this host');
}

/** A network namespace held by a `sleep` we spawn; killed (by pid) at cleanup. */
async function outsideNamespace(): Promise<number> {
  const holder = spawn('unshare', ['--net', 'sh', '-c', 'echo ready; exec sleep 120'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  undo.push(() => stop(holder));
  const pid = holder.pid;
  if (pid === undefined) throw new Error('unshare did not start');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('unshare --net timed out')), 5000);
    holder.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    holder.once('error', reject);
  });
  return pid;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/**
 * A TCP server in the outside namespace: for each of `count` connections it prints
 * `peer <source address>` and answers the same, then exits (after 30 s at most).
 */
async function peerReporter(
  netnsPid: number,
  address: string,
  count: number,
): Promise<{ peers: () => string[] }> {
  const script = `
const net = require('node:net');
let n = 0;
const s = net.createServer((c) => {
  const line = 'peer ' + c.remoteAddress;
  console.log(line);
  c.end(line);
  if (++n >= ${count}) s.close();
});
s.listen(${PORT}, ${JSON.stringify(address)}, () => console.log('listening'));
setTimeout(() => process.exit(3), 30000).unref();
`;
  const server = spawn(
    'nsenter',
    [`--net=/proc/${netnsPid}/ns/net`, process.execPath, '-e', script],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  undo.push(() => stop(server));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not listening: ${out}`)), 10_000);
    server.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return {
    peers: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('peer '))
        .map((l) => l.slice(5)),
  };
}

/** Connects to address:PORT from inside a container, prints the reply or the error. */
function client(address: string): [string, string[]] {
  const script = `
import socket
try:
    s = socket.create_connection((${JSON.stringify(address)}, ${PORT}), timeout=3)
    print(s.recv(64).decode())
except OSError as e:
    print('error', type(e).__name__)
`;
  return ['python3', ['-c', script]];
}

describe('outbound masquerade', () => {
  it("rewrites a container's source to the host's address only on a network that opted in", async () => {
    const forwardBefore = readFileSync(IP_FORWARD, 'utf8').trim();
    undo.push(() => writeFileSync(IP_FORWARD, forwardBefore));

    const link = freeLinkSubnet();
    const outside = await outsideNamespace();
    const veth = `tsbm${tag}`.slice(0, 15);
    // The host end stays here; the peer is born in the outside namespace as eth0.
    ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(outside)]);
    undo.push(() => {
      // Gone with the namespace normally; delete it if the namespace outlived us.
      if (ip(['-o', 'link', 'show']).includes(` ${veth}@`)) ip(['link', 'del', veth]);
    });
    ip(['addr', 'add', `${link.host}/30`, 'dev', veth]);
    ip(['link', 'set', veth, 'up']);
    ip(['link', 'set', 'lo', 'up'], outside);
    ip(['addr', 'add', `${link.outside}/30`, 'dev', 'eth0'], outside);
    ip(['link', 'set', 'eth0', 'up'], outside);

    const octet = 100 + Math.floor(Math.random() * 140);
    const masq = await Network.create(`tq${tag}`, {
      subnet: `10.216.${octet}.0/24`,
      masquerade: true,
    });
    undo.push(() => masq.remove());
    const plain = await Network.create(`tp${tag}`, { subnet: `10.216.${octet + 1}.0/24` });
    undo.push(() => plain.remove());
    expect(masq.masquerade).toBe(true);
    // Masquerading needs forwarding: creating the network turned it on.
    expect(readFileSync(IP_FORWARD, 'utf8').trim()).toBe('1');
    // The outside knows its way back to the plain network only (through the host's
    // veth address); the masqueraded network needs no route: replies go to the host.
    ip(['route', 'add', plain.subnet, 'via', link.host], outside);

    const server = await peerReporter(outside, link.outside, 2);
    const viaMasq = await new Container()
      .network(masq)
      .timeout('15s')
      .run(...client(link.outside));
    expect(viaMasq.exitCode).toBe(0);
    expect(viaMasq.ip).toMatch(/^10\.216\./);
    expect(viaMasq.stdout.trim()).toBe(`peer ${link.host}`);

    const viaPlain = await new Container()
      .network(plain)
      .timeout('15s')
      .run(...client(link.outside));
    expect(viaPlain.exitCode).toBe(0);
    expect(viaPlain.stdout.trim()).toBe(`peer ${viaPlain.ip}`);
    expect(server.peers()).toEqual([link.host, viaPlain.ip]);
  });
});
