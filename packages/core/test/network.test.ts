import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  Container,
  gc,
  InvalidSpecError,
  Network,
  NetworkError,
  type RunningContainer,
  STATE_ROOT,
} from '../src/index.js';
import { networkDir } from '../src/network.js';
import { stateEntries } from './helpers.js';

// Real bridges, veths and nftables elements. Traffic stays between namespaces
// this file creates and 127.0.0.1. Names and subnets are per run, so a parallel
// session on the same machine does not collide with them.

const tag = (process.pid % 100_000).toString(36);
let subnetCounter = Math.floor(Math.random() * 200);
/** A fresh /24 in 10.215/16 (the default network is 10.213/16). */
function freshSubnet(): string {
  subnetCounter = (subnetCounter + 1) % 250;
  return `10.215.${subnetCounter}.0/24`;
}
let portCounter = 20_000 + Math.floor(Math.random() * 20_000);
const freshPort = () => ++portCounter;

const containers: RunningContainer[] = [];
const networks: Network[] = [];

async function track(c: Promise<RunningContainer>): Promise<RunningContainer> {
  const running = await c;
  containers.push(running);
  return running;
}

async function makeNetwork(suffix: string): Promise<Network> {
  const net = await Network.create(`t${tag}${suffix}`, { subnet: freshSubnet() });
  networks.push(net);
  return net;
}

afterEach(async () => {
  const all = containers.splice(0);
  for (const c of all) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.allSettled(all.map((c) => c.wait()));
  for (const net of networks.splice(0)) await net.remove();
});

afterAll(async () => {
  // The default network is shared: remove it only if nobody (another process) is on it.
  const bridge = await Network.get('bridge');
  if (bridge && bridge.members().length === 0) await bridge.remove();
});

/** A TCP (and optionally UDP) echo server in Python that prints "ready" once listening. */
function echoServer(port: number, udpPort?: number): [string, string[]] {
  const script = `
import socket, sys, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', ${port})); t.listen(16)
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', ${udpPort ?? 0}))
    while True:
        data, peer = u.recvfrom(2048); u.sendto(b'udp:' + data, peer)
if ${udpPort ?? 0}:
    threading.Thread(target=udp, daemon=True).start()
print('ready', flush=True)
while True:
    c, _ = t.accept()
    data = c.recv(2048); c.sendall(b'tcp:' + data); c.close()
`;
  return ['python3', ['-c', script]];
}

/** Starts a container and waits until it printed "ready" (bounded). */
async function startReady(box: Container, argv: [string, string[]]): Promise<RunningContainer> {
  const c = await track(box.start(argv[0], argv[1]));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server not ready: ${out}`)), 15_000);
    c.on('stdout', (chunk) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    c.wait().then((r) => reject(new Error(`server exited: ${r.exitCode} ${r.stderr}`)));
  });
  return c;
}

/** A client command that connects with a timeout and prints the reply or the error class. */
function tcpClient(host: string, port: number): [string, string[]] {
  const script = `
import socket
try:
    s = socket.create_connection((${JSON.stringify(host)}, ${port}), timeout=1.5)
    s.sendall(b'ping'); print(s.recv(64).decode())
except OSError as e:
    print('error', type(e).__name__)
`;
  return ['python3', ['-c', script]];
}

function hostTcp(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    s.setTimeout(3000, () => s.destroy(new Error('tcp timeout')));
    s.on('connect', () => s.write(message));
    s.on('data', (d) => {
      data += d;
    });
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });
}

function hostUdp(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('udp timeout'));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.send(message, port, '127.0.0.1');
  });
}

function linksOnBridge(bridge: string): string[] {
  const dir = `/sys/class/net/${bridge}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

function publishedTo(addresses: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const proto of ['tcp', 'udp']) {
    const r = spawnSync('nft', ['-j', 'list', 'map', 'ip', 'tsbox', `${proto}_ports`], {
      encoding: 'utf8',
    });
    if (r.status !== 0) continue;
    const json = JSON.parse(r.stdout) as {
      nftables: { map?: { elem?: [number, { concat: [string, number] }][] } }[];
    };
    for (const e of json.nftables.flatMap((x) => x.map?.elem ?? [])) {
      if (addresses.has(e[1].concat[0])) out.push(`${e[0]}/${proto}`);
    }
  }
  return out;
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('networking', () => {
  it('two containers on one network talk TCP by alias and by IP', async () => {
    const net = await makeNetwork('a');
    const db = await startReady(
      new Container().network(net, { alias: 'db' }).timeout('30s'),
      echoServer(5432),
    );
    expect(db.ip).toMatch(/^10\.215\.\d+\.2$/);

    const client = new Container().network(net).timeout('10s');
    const byAlias = await client.run(...tcpClient('db', 5432));
    expect(byAlias.stdout.trim()).toBe('tcp:ping');
    expect(byAlias.ip).toBeDefined();
    expect(byAlias.ip).not.toBe(db.ip);

    const byIp = await client.run(...tcpClient(db.ip ?? '', 5432));
    expect(byIp.stdout.trim()).toBe('tcp:ping');

    // The address reported is the one the kernel has on the container's eth0.
    const own = await client.run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(own.stdout).toContain(` ${own.ip}/24 `);

    const hosts = await client.hostname('web').run('cat', ['/etc/hosts']);
    expect(hosts.stdout).toMatch(new RegExp(`^${db.ip?.replaceAll('.', '\\.')}\\t\\w+ db$`, 'm'));
    expect(hosts.stdout).toMatch(/^10\.215\.\d+\.\d+\tweb$/m);
  });

  it("publishes TCP and UDP ports on the host's 127.0.0.1", async () => {
    const tcpPort = freshPort();
    const udpPort = freshPort();
    const web = await startReady(
      new Container()
        .network('bridge')
        .publish(tcpPort, 8080)
        .publish(udpPort, 5353, 'udp')
        .timeout('30s'),
      echoServer(8080, 5353),
    );
    expect(web.ip).toMatch(/^10\.213\./);
    // Published over nfnetlink; the nft binary lists both elements.
    expect(publishedTo(new Set([web.ip ?? '']))).toEqual([`${tcpPort}/tcp`, `${udpPort}/udp`]);
    expect(await hostTcp(tcpPort, 'hello')).toBe('tcp:hello');
    expect(await hostUdp(udpPort, 'hi')).toBe('udp:hi');

    // The same host port cannot be published twice; the failed start leaves nothing.
    const leases = readdirSync(join(networkDir('bridge'), 'leases')).length;
    await expect(
      new Container().network('bridge').publish(tcpPort, 80).run('true'),
    ).rejects.toMatchObject({ code: 'ERR_TSBOX_NETWORK', stage: 'network.publish' });
    expect(readdirSync(join(networkDir('bridge'), 'leases'))).toHaveLength(leases);
    expect(await hostTcp(tcpPort, 'again')).toBe('tcp:again');
    web.kill('SIGKILL');
    await web.wait();
    expect(publishedTo(new Set([web.ip ?? '']))).toEqual([]);
  });

  it("'none' has only lo and cannot reach a bridge's gateway", async () => {
    const net = await makeNetwork('n');
    const links = await new Container().network('none').run('ls', ['/sys/class/net']);
    expect(links.stdout.split('\n').filter(Boolean)).toEqual(['lo']);
    expect(links.ip).toBeUndefined();
    const r = await new Container().timeout('10s').run(...tcpClient(net.gateway, 9));
    expect(r.stdout.trim()).toMatch(/^error /);
  });

  it('the default is no network: only lo', async () => {
    const r = await new Container().run('ls', ['/sys/class/net']);
    expect(r.stdout).toBe('lo\n');
    expect(r.ip).toBeUndefined();
  });

  it('containers on two different networks cannot reach each other', async () => {
    const a = await makeNetwork('x');
    const b = await makeNetwork('y');
    const server = await startReady(new Container().network(a).timeout('30s'), echoServer(7000));
    const same = await new Container()
      .network(a)
      .timeout('10s')
      .run(...tcpClient(server.ip ?? '', 7000));
    expect(same.stdout.trim()).toBe('tcp:ping');
    const other = await new Container()
      .network(b)
      .timeout('10s')
      .run(...tcpClient(server.ip ?? '', 7000));
    expect(other.stdout.trim()).toMatch(/^error /);
  });

  it('50 containers, 8 at a time: 50 distinct addresses, nothing left afterwards', async () => {
    const net = await makeNetwork('m');
    const base = freshPort();
    portCounter += 60;
    const queue = new PQueue({ concurrency: 8 });
    const started = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        queue.add(() =>
          track(
            new Container()
              .network(net)
              .publish(base + i, 80)
              .timeout('60s')
              .start('sleep', ['60']),
          ),
        ),
      ),
    );
    const ips = new Set(started.map((c) => c?.ip));
    expect(ips.size).toBe(50);
    expect(net.members()).toHaveLength(50);
    expect(linksOnBridge(net.bridge)).toHaveLength(50);
    expect(publishedTo(ips as Set<string>)).toHaveLength(50);

    for (const c of started) c?.kill('SIGKILL');
    await Promise.all(started.map((c) => c?.wait()));
    // The kernel removes the veths with the namespaces, in the background.
    expect(await until(() => linksOnBridge(net.bridge).length === 0)).toBe(true);
    expect(readdirSync(join(networkDir(net.name), 'leases'))).toEqual([]);
    expect(net.members()).toEqual([]);
    expect(publishedTo(ips as Set<string>)).toEqual([]);
  });

  it('gc releases the lease, record and ports of a container whose process died', async () => {
    const net = await makeNetwork('g');
    const port = freshPort();
    // A container of another process that was SIGKILLed mid-run.
    const script = `
      import { Container, Network } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)};
      const net = await Network.get(${JSON.stringify(net.name)});
      const c = await new Container().network(net).publish(${port}, 80).start('sleep', ['60']);
      console.log(c.ip, c.id);
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    const [ip = '', id = ''] = child.stdout.trim().split(' ');
    expect(ip).toMatch(/^10\.215\./);
    // Its keeper dies with it (PR_SET_PDEATHSIG), a moment later.
    const record = JSON.parse(readFileSync(join(STATE_ROOT, `${id}.json`), 'utf8'));
    expect(await until(() => !existsSync(`/proc/${record.keeperPid}`))).toBe(true);
    expect(readdirSync(join(networkDir(net.name), 'leases'))).toEqual([ip]);
    expect(publishedTo(new Set([ip]))).toEqual([`${port}/tcp`]);

    const report = await gc();
    expect(report.removed).toContain(join(STATE_ROOT, `${id}.json`));
    expect(report.network.leases).toEqual([`${net.name}/${ip}`]);
    expect(report.network.ports).toEqual([`${port}/tcp`]);
    expect(readdirSync(join(networkDir(net.name), 'leases'))).toEqual([]);
    expect(net.members()).toEqual([]);
    expect(publishedTo(new Set([ip]))).toEqual([]);
  });

  it('a network with containers on it is not removed; overlapping subnets are refused', async () => {
    const net = await makeNetwork('r');
    const c = await track(new Container().network(net).start('sleep', ['30']));
    await expect(net.remove()).rejects.toBeInstanceOf(NetworkError);
    await expect(Network.create(`t${tag}o`, { subnet: net.subnet })).rejects.toBeInstanceOf(
      InvalidSpecError,
    );
    c.kill('SIGKILL');
    await c.wait();
    await net.remove();
    networks.splice(networks.indexOf(net), 1);
    expect(existsSync(`/sys/class/net/${net.bridge}`)).toBe(false);
    const isolated = spawnSync('nft', ['list', 'table', 'ip', 'tsbox'], { encoding: 'utf8' });
    expect(isolated.stdout).not.toContain(net.subnet);
    expect(isolated.stdout).not.toContain(`"${net.bridge}"`);
    expect(existsSync(networkDir(net.name))).toBe(false);
    expect(await Network.get(net.name)).toBeUndefined();
  });

  it('validates at the setter, and publishing without a network fails before anything exists', async () => {
    const box = new Container();
    expect(() => box.publish(0, 80)).toThrow(InvalidSpecError);
    expect(() => box.publish(80, 65536)).toThrow(InvalidSpecError);
    expect(() => box.publish(80, 80, 'sctp' as 'tcp')).toThrow(InvalidSpecError);
    expect(() => box.publish(80, 80).publish(80, 81)).toThrow(InvalidSpecError);
    expect(() => box.network('bridge', { alias: 'bad_name!' })).toThrow(InvalidSpecError);
    expect(() => box.network('bogus' as 'bridge')).toThrow(InvalidSpecError);
    expect(() => box.dns(['not-an-ip'])).toThrow(InvalidSpecError);
    await expect(Network.create('none', { subnet: '10.215.0.0/24' })).rejects.toBeInstanceOf(
      InvalidSpecError,
    );
    await expect(Network.create(`t${tag}z`, { subnet: '10.215.0.1/33' })).rejects.toBeInstanceOf(
      InvalidSpecError,
    );
    const before = stateEntries();
    await expect(box.publish(8080, 80).run('true')).rejects.toMatchObject({
      code: 'ERR_TSBOX_INVALID_SPEC',
      field: 'publish',
    });
    expect(stateEntries()).toEqual(before);
  });

  it('.dns() writes resolv.conf', async () => {
    const r = await new Container().dns(['192.0.2.53']).run('cat', ['/etc/resolv.conf']);
    expect(r.stdout).toBe('nameserver 192.0.2.53\n');
    const net = await makeNetwork('d');
    const s = await new Container()
      .network(net)
      .dns(['192.0.2.54', '192.0.2.55'])
      .run('cat', ['/etc/resolv.conf']);
    expect(s.stdout).toBe('nameserver 192.0.2.54\nnameserver 192.0.2.55\n');
  });
});
