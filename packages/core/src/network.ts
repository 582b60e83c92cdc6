/**
 * Named bridge networks for containers: the definition store under
 * `<state root>/.networks/<name>/`, the default `'bridge'` network, and the
 * per-process handles (one host netlink socket, one nftables table) the
 * network resource shares.
 *
 * On-disk layout of one network (all of it removed by {@link Network.remove}):
 * ```
 * /run/tsbox/.networks/app/network.json       the definition (name, subnet, bridge, ...)
 * /run/tsbox/.networks/app/leases/10.89.0.2   IPAM leases (@tsbox/netns Ipam)
 * /run/tsbox/.networks/app/members/<id>.json  who holds which address, names and ports
 * ```
 * The directory starts with a dot because dot entries of the state root are
 * shared infrastructure, not container records (`gc` and the tests skip them).
 *
 * `@tsbox/netns` (and koffi with it) is loaded on first use only: importing
 * `@tsbox/core`, and running containers without a network, never pays for it.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { BridgeNetwork, NatTable, PublishedPort, Rtnetlink, Subnet } from '@tsbox/netns';
import { InvalidSpecError, TsboxError } from './errors.js';
import { STATE_ROOT } from './state.js';

/** Where network definitions, leases and member records live. */
export const NETWORKS_ROOT = join(STATE_ROOT, '.networks');

/** Name of the default network, created on first use. */
export const DEFAULT_NETWORK_NAME = 'bridge';

/**
 * The default network's subnet: a /16 in 10/8 that neither Docker (172.17/16),
 * podman (10.88/16), libvirt (192.168.122/24), Kubernetes' usual pod and service
 * ranges (10.244/16, 10.96/12) nor cloud VPC defaults (172.31/16, 10.0/16) use.
 */
export const DEFAULT_NETWORK_SUBNET = '10.213.0.0/16';

/** The default network's bridge. */
export const DEFAULT_NETWORK_BRIDGE = 'tsbox0';

/** Options of {@link Network.create}. */
export interface NetworkOptions {
  /** IPv4 subnet, `'10.89.0.0/24'` (prefix 8..30). The first host address is the gateway. */
  subnet: string;
  /**
   * Masquerade traffic from the network to the outside (opt-in). Also turns on
   * the host's `net.ipv4.ip_forward`, which tsbox never turns off again.
   */
  masquerade?: boolean;
  /** Bridge interface name (≤ 15 bytes). Default `tsbox-<name>`. */
  bridge?: string;
}

/** Failure to create, find or remove a network. Code `ERR_TSBOX_NETWORK`. */
export class NetworkError extends TsboxError {
  constructor(
    stage: string,
    readonly network: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_TSBOX_NETWORK', stage, message, options);
  }
}

/** One container on a network, as recorded in its member file. */
export interface NetworkMember {
  id: string;
  hostname: string;
  aliases: string[];
  address: string;
  ports: { protocol: 'tcp' | 'udp'; hostPort: number; containerPort: number }[];
  /** The Node process that runs the container, and its start time (pid reuse check). */
  ownerPid: number;
  ownerStart: number;
}

interface NetworkDefinition {
  name: string;
  subnet: string;
  bridge: string;
  gateway: string;
  masquerade: boolean;
  createdAt: string;
}

export type Netns = typeof import('@tsbox/netns');
let netnsModule: Netns | undefined;

/** `@tsbox/netns`, loaded once on first use. */
export async function loadNetns(): Promise<Netns> {
  netnsModule ??= await import('@tsbox/netns');
  return netnsModule;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/**
 * A bridge network containers can join with `new Container().network(net)`.
 * Containers on one network reach each other by address and by name (their
 * hostname and aliases, through `/etc/hosts`); containers on different networks
 * cannot reach each other. Networks outlive the process that created them: they
 * live until {@link Network.remove}.
 *
 * ```ts
 * const net = await Network.create('app', { subnet: '10.89.0.0/24' }); // bridge tsbox-app
 * const db = await new Container().network(net, { alias: 'db' }).start('my-db');
 * await new Container().network(net).run('sh', ['-c', 'nc -w1 db 5432 </dev/null']);
 * await db.stop();
 * await net.remove();
 * ```
 */
export class Network {
  /** Network name (`'app'`). */
  readonly name: string;
  /** IPv4 subnet (`'10.89.0.0/24'`). */
  readonly subnet: string;
  /** Host bridge interface (`'tsbox-app'`). */
  readonly bridge: string;
  /** The gateway address, on the bridge (`'10.89.0.1'`). */
  readonly gateway: string;
  /** Whether outbound traffic is masqueraded. */
  readonly masquerade: boolean;
  readonly #bridgeNetwork: BridgeNetwork;

  /** @internal Use {@link Network.create}, {@link Network.get} or {@link Network.default}. */
  constructor(N: Netns, def: NetworkDefinition) {
    this.name = def.name;
    this.subnet = def.subnet;
    this.bridge = def.bridge;
    this.gateway = def.gateway;
    this.masquerade = def.masquerade;
    this.#bridgeNetwork = N.describeNetwork({
      name: def.name,
      subnet: def.subnet,
      bridge: def.bridge,
      gateway: def.gateway,
      leaseDirectory: join(networkDir(def.name), 'leases'),
    });
  }

  /**
   * Creates a network: its bridge with the gateway address, its isolation from
   * the other networks and (if asked) outbound masquerade. Idempotent for the same
   * name and subnet, so racing creators of one network both succeed.
   *
   * @throws {@link InvalidSpecError} for a bad name or subnet, or a subnet that
   *   overlaps another network or an address of the host.
   * @throws {@link NetworkError} when the name exists with another subnet, or the
   *   kernel or nftables refuse a step (everything created is undone).
   */
  static async create(name: string, options: NetworkOptions): Promise<Network> {
    checkNetworkName(name, true);
    if (typeof options !== 'object' || options === null) {
      throw new InvalidSpecError('network.options', options, 'expected { subnet, masquerade? }');
    }
    return createNetwork(name, options);
  }

  /** The network called `name`, or `undefined` when it does not exist. Reads one file. */
  static async get(name: string): Promise<Network | undefined> {
    checkNetworkName(name, false);
    const cached = known.get(name);
    if (cached) return cached;
    const def = readDefinition(name);
    return def ? remember(new Network(await loadNetns(), def)) : undefined;
  }

  /** Every network that exists, sorted by name. */
  static async list(): Promise<Network[]> {
    const out: Network[] = [];
    for (const name of networkNames()) {
      const net = await Network.get(name);
      if (net) out.push(net);
    }
    return out;
  }

  /**
   * The default network `'bridge'` (bridge `tsbox0`, subnet
   * {@link DEFAULT_NETWORK_SUBNET}), created on first use.
   */
  static default(): Promise<Network> {
    defaultNetwork ??= createNetwork(DEFAULT_NETWORK_NAME, {
      subnet: DEFAULT_NETWORK_SUBNET,
      bridge: DEFAULT_NETWORK_BRIDGE,
    }).catch((error: unknown) => {
      defaultNetwork = undefined;
      throw error;
    });
    return defaultNetwork;
  }

  /** Containers currently on the network (records of dead owners are skipped). */
  members(): NetworkMember[] {
    return readMembers(this.name).filter(ownerAlive);
  }

  /**
   * Removes the network: its bridge, isolation and masquerade entries, leases and
   * records. Idempotent.
   * @throws {@link NetworkError} while containers are still on it.
   */
  async remove(): Promise<void> {
    const live = this.members();
    if (live.length > 0) {
      throw new NetworkError(
        'network.remove',
        this.name,
        `network ${this.name} still has ${live.length} container(s): ${live.map((m) => m.id).join(', ')}`,
      );
    }
    forget(this.name);
    const N = await loadNetns();
    N.removeBridgeNetwork(this.#bridgeNetwork, hostNetlink(N));
    const nat = natTable(N);
    if (await nat.exists()) {
      await nat.unisolateNetwork(this.subnet, this.bridge);
      await nat.disableMasquerade(this.subnet);
    }
    rmSync(networkDir(this.name), { recursive: true, force: true });
  }

  /** @internal The netns description (bridge, IPAM) the network resource uses. */
  bridgeNetwork(): BridgeNetwork {
    return this.#bridgeNetwork;
  }
}

// --- per-process shared state ------------------------------------------------

/** Networks this process created or looked up: name → Network. */
const known = new Map<string, Network>();
let defaultNetwork: Promise<Network> | undefined;
let host: Rtnetlink | undefined;
let nat: NatTable | undefined;
let natReady: Promise<void> | undefined;

function remember(net: Network): Network {
  known.set(net.name, net);
  return net;
}

function forget(name: string): void {
  known.delete(name);
  if (name === DEFAULT_NETWORK_NAME) defaultNetwork = undefined;
}

/**
 * One host netlink socket per process, opened on first network use only (a
 * container without a network never opens it). Requests on it are synchronous,
 * so sharing it between concurrent starts is safe.
 */
export function hostNetlink(N: Netns): Rtnetlink {
  host ??= N.Rtnetlink.open();
  return host;
}

/** Whether two published-port entries are the same mapping (host port to container address and port). */
export function samePublishedPort(a: PublishedPort, b: PublishedPort): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    a.containerAddress === b.containerAddress &&
    a.containerPort === b.containerPort
  );
}

/** tsbox's nftables table (`ip tsbox`). */
export function natTable(N: Netns): NatTable {
  nat ??= new N.NatTable();
  return nat;
}

/**
 * Creates the nftables table once per process, plus the guard that makes
 * `route_localnet` safe: with it on, a container could send packets to the
 * host's 127.0.0.1 services through its bridge; the guard drops every packet to
 * 127.0.0.0/8 that did not come in on `lo` and is not a reply to or the DNAT of
 * a published-port connection (what Kubernetes does since CVE-2020-8558).
 */
export function ensureNatTable(N: Netns): Promise<void> {
  natReady ??= (async () => {
    const t = natTable(N);
    await t.ensure();
    await ensureLocalnetGuard(N, t.table);
  })().catch((error: unknown) => {
    natReady = undefined;
    throw error;
  });
  return natReady;
}

async function ensureLocalnetGuard(N: Netns, table: string): Promise<void> {
  // Made once per boot: a netlink look-up spares every later process an nft spawn.
  if (await natTable(N).hasChain('localnet_guard')) return;
  const script = [
    `create chain ip ${table} localnet_guard { type filter hook input priority filter; policy accept; }`,
    `add rule ip ${table} localnet_guard iifname != "lo" ip daddr 127.0.0.0/8 ct status dnat accept`,
    `add rule ip ${table} localnet_guard iifname != "lo" ip daddr 127.0.0.0/8 ct state established,related accept`,
    `add rule ip ${table} localnet_guard iifname != "lo" ip daddr 127.0.0.0/8 drop`,
  ].join('\n');
  const { code, stderr } = await runNft(N, 'nft.guard', script);
  // The chain is created together with its rules: EEXIST means a previous run made both.
  if (code !== 0 && !/File exists/.test(stderr)) {
    throw new N.NftablesError('nft.guard', `nft: ${stderr.trim()}`, stderr);
  }
}

/**
 * Runs one `nft -f -` transaction, for what `NatTable` has no method for.
 * Resolves with nft's exit code and stderr; rejects only when nft cannot run.
 */
export async function runNft(
  N: Netns,
  stage: string,
  script: string,
): Promise<{ code: number | null; stderr: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.once('error', (cause) => {
      clearTimeout(timer);
      reject(new N.NftablesError(stage, `Cannot run nft: ${cause.message}`, '', cause));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(script);
  });
}

// --- creation ----------------------------------------------------------------

async function createNetwork(name: string, options: NetworkOptions): Promise<Network> {
  const N = await loadNetns();
  let subnet: Subnet;
  try {
    subnet = N.Subnet.parse(options.subnet);
  } catch {
    throw new InvalidSpecError(
      'network.subnet',
      options.subnet,
      "expected an IPv4 CIDR like '10.89.0.0/24'",
    );
  }
  if (subnet.family !== 4 || subnet.prefixLength < 8 || subnet.prefixLength > 30) {
    throw new InvalidSpecError(
      'network.subnet',
      options.subnet,
      'expected an IPv4 subnet /8 to /30',
    );
  }
  const bridge = options.bridge ?? `tsbox-${name}`;
  if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) {
    throw new InvalidSpecError(
      'network.bridge',
      bridge,
      'an interface name is at most 15 letters, digits, _ . - (choose a shorter network name or pass bridge)',
    );
  }
  const existing = readDefinition(name);
  if (existing) {
    if (existing.subnet !== subnet.toString()) {
      throw new NetworkError(
        'network.create',
        name,
        `network ${name} exists with subnet ${existing.subnet}, not ${subnet}`,
      );
    }
    const net = known.get(name) ?? remember(new Network(N, existing));
    // Re-assert the host side: the bridge may have been deleted behind our back.
    N.ensureBridgeNetwork(
      { name, subnet: existing.subnet, bridge: existing.bridge, gateway: existing.gateway },
      hostNetlink(N),
    );
    await ensureNatTable(N);
    return net;
  }
  checkNoOverlap(N, name, subnet, bridge);

  const def: NetworkDefinition = {
    name,
    subnet: subnet.toString(),
    bridge,
    gateway: subnet.at(1),
    masquerade: options.masquerade ?? false,
    createdAt: new Date().toISOString(),
  };
  const nl = hostNetlink(N);
  const spec = { name, subnet: def.subnet, bridge, gateway: def.gateway };
  const bridgeExisted = nl.findLink(bridge) !== undefined;
  try {
    N.ensureBridgeNetwork(spec, nl);
    // Publishing on 127.0.0.1 needs it; the nft guard keeps containers off the host's loopback.
    N.enableRouteLocalnet(bridge);
    await ensureNatTable(N);
    const t = natTable(N);
    await t.isolateNetwork(def.subnet, bridge);
    if (def.masquerade) {
      await t.enableMasquerade(def.subnet);
      N.setIpForwarding(true);
    }
    writeDefinition(def);
  } catch (error) {
    if (!bridgeExisted) N.removeBridgeNetwork(N.describeNetwork(spec), nl);
    if (error instanceof TsboxError) throw error;
    throw new NetworkError(
      'network.create',
      name,
      `cannot create network ${name}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return remember(new Network(N, def));
}

/** A new subnet may not overlap another network's, nor any address of the host. */
function checkNoOverlap(N: Netns, name: string, subnet: Subnet, bridge: string): void {
  const ours = ipv4Range(subnet.toString());
  const overlaps = (cidr: string) => {
    const o = ipv4Range(cidr);
    return o !== undefined && ours !== undefined && o.first <= ours.last && ours.first <= o.last;
  };
  for (const otherName of networkNames()) {
    const other = readDefinition(otherName);
    if (other && other.name !== name && overlaps(other.subnet)) {
      throw new InvalidSpecError(
        'network.subnet',
        subnet.toString(),
        `overlaps network ${other.name} (${other.subnet})`,
      );
    }
  }
  const nl = hostNetlink(N);
  const own = nl.findLink(bridge)?.index;
  for (const a of nl.listAddresses({ family: 4 })) {
    // Host-scope addresses (127.0.0.1/8 on lo) are not routed: no clash.
    if (a.index !== own && a.scope !== 254 && overlaps(a.cidr)) {
      throw new InvalidSpecError(
        'network.subnet',
        subnet.toString(),
        `overlaps the host's address ${a.cidr}`,
      );
    }
  }
}

/** First and last address of an IPv4 CIDR (host bits allowed), as 32-bit numbers. */
function ipv4Range(cidr: string): { first: number; last: number } | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) return undefined;
  const [a, b, c, d, prefix] = m.slice(1).map(Number) as [number, number, number, number, number];
  const ip = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const size = 2 ** (32 - prefix);
  const first = ip - (ip % size);
  return { first, last: first + size - 1 };
}

// --- files ---------------------------------------------------------------------

/** Names of the networks that have a directory (sorted). */
export function networkNames(): string[] {
  try {
    return readdirSync(NETWORKS_ROOT)
      .filter((n) => NAME.test(n))
      .sort();
  } catch {
    return [];
  }
}

export function networkDir(name: string): string {
  return join(NETWORKS_ROOT, name);
}

function readDefinition(name: string): NetworkDefinition | undefined {
  try {
    return JSON.parse(readFileSync(join(networkDir(name), 'network.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

function writeDefinition(def: NetworkDefinition): void {
  const dir = networkDir(def.name);
  mkdirSync(join(dir, 'members'), { recursive: true, mode: 0o755 });
  // Written whole then renamed, so a reader never sees half a definition.
  const tmp = join(dir, `.network.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(def));
  renameSync(tmp, join(dir, 'network.json'));
}

function memberPath(network: string, id: string): string {
  return join(networkDir(network), 'members', `${id}.json`);
}

/** Records a container on a network (what `/etc/hosts` of later members and gc read). */
export function writeMember(network: string, member: NetworkMember): void {
  const path = memberPath(network, member.id);
  try {
    writeFileSync(path, JSON.stringify(member), { flag: 'wx', mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(join(networkDir(network), 'members'), { recursive: true, mode: 0o755 });
    writeFileSync(path, JSON.stringify(member), { flag: 'wx', mode: 0o644 });
  }
}

export function removeMember(network: string, id: string): void {
  try {
    unlinkSync(memberPath(network, id));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Every member record of a network, live or not. */
export function readMembers(network: string): NetworkMember[] {
  const dir = join(networkDir(network), 'members');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: NetworkMember[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, n), 'utf8')) as NetworkMember);
    } catch {
      // Removed while we read, or half-written by a crashed writer: gc decides.
    }
  }
  return out;
}

let ownStart: number | undefined;

/** This process's identity for member records. */
export function ownerIdentity(): { ownerPid: number; ownerStart: number } {
  ownStart ??= processStartTime(process.pid) ?? 0;
  return { ownerPid: process.pid, ownerStart: ownStart };
}

/** Is the process that recorded `m` still running (and not a reused pid)? */
export function ownerAlive(m: Pick<NetworkMember, 'ownerPid' | 'ownerStart'>): boolean {
  if (m.ownerPid === process.pid) return true;
  return processStartTime(m.ownerPid) === m.ownerStart;
}

/** Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`). */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
  } catch {
    return undefined;
  }
}

function checkNetworkName(name: unknown, forCreate: boolean): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidSpecError(
      'network',
      name,
      'a network name is letters, digits, _ . - (at most 64)',
    );
  }
  if (forCreate && (name === 'none' || name === 'host')) {
    throw new InvalidSpecError('network', name, `'${name}' is reserved`);
  }
}
