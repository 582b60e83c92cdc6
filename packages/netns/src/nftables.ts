/**
 * Published ports and outbound masquerade with nftables, in one table that tsbox
 * owns (`ip tsbox` by default) and never outside it.
 *
 * The table is created once, atomically, and after that never edited rule by rule:
 * published ports are elements of two maps (`tcp_ports`, `udp_ports`:
 * host port → container address . port), masqueraded networks elements of a set
 * (`masq_nets`), networks isolated from each other elements of another
 * (`isolated_nets`). Adding or removing a container's ports is one nf_tables
 * transaction on those elements, so rules never need handles and concurrent
 * containers never edit the same rule.
 *
 * ```
 * table ip tsbox {
 *   map tcp_ports { type inet_service : ipv4_addr . inet_service }
 *   map udp_ports { type inet_service : ipv4_addr . inet_service }
 *   set masq_nets { type ipv4_addr; flags interval }
 *   set isolated_nets { type ipv4_addr; flags interval }
 *   set own_bridges { type ifname . ifname }
 *   chain prerouting  { type nat hook prerouting priority dstnat
 *                       fib daddr type local dnat ip to tcp dport map @tcp_ports ... }
 *   chain output      { type nat hook output priority -100   (same: host → localhost) }
 *   chain postrouting { type nat hook postrouting priority srcnat
 *                       ip saddr 127.0.0.0/8 oifname != "lo" masquerade
 *                       ip saddr @masq_nets ip daddr != @masq_nets masquerade }
 *   chain forward     { type filter hook forward priority filter
 *                       iifname . oifname @own_bridges accept
 *                       ip saddr @isolated_nets ip daddr @isolated_nets drop }
 * }
 * ```
 *
 * Publishing on `127.0.0.1` also needs `route_localnet` on the bridge
 * ({@link enableRouteLocalnet}); the loopback masquerade rule above makes the
 * container's replies come back. Outbound masquerade needs `ip_forward`
 * ({@link setIpForwarding}).
 *
 * What happens per container — publishing, unpublishing, listing ports, checking
 * that the table exists — speaks nfnetlink directly (a `NETLINK_NETFILTER` socket,
 * one batch per call, see `nfnetlink.ts`): no process is spawned. What happens once
 * per boot or per network — creating the table with its chains and rules, adding a
 * network's subnet to the interval sets — runs the `nft` binary (Debian package
 * `nftables`), under `nsenter --net` when a namespace is given: writing rules
 * means encoding nf_tables expressions, and interval sets need nft's range
 * bookkeeping, for steps that are rare.
 */
import { spawn } from 'node:child_process';
import {
  NETLINK_NETFILTER,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_IPV4,
  NFT_MSG_DELTABLE,
  NFTA_TABLE_NAME,
} from './constants.js';
import { InvalidNetworkInputError, NetlinkError } from './errors.js';
import { formatIp, parseIp, Subnet } from './ip.js';
import { attr } from './message.js';
import { checkInterfaceName } from './names.js';
import { describeNetns, type NetnsTarget } from './netns.js';
import {
  deleteSetElements,
  getChain,
  getTable,
  inetServiceKey,
  ipv4ServiceValue,
  listSetElements,
  newSetElements,
  nftablesType,
  parseSetElements,
  type SetElement,
  type SetRef,
} from './nfnetlink.js';
import { type NetlinkRequest, NetlinkSocket } from './socket.js';
import { nfgenmsg } from './structs.js';

/** A port protocol nftables maps are kept for. */
export type PortProtocol = 'tcp' | 'udp';

/** A host port forwarded to a container. */
export interface PublishedPort {
  protocol: PortProtocol;
  /** Port on every local address of the host (127.0.0.1 included). */
  hostPort: number;
  containerAddress: string;
  containerPort: number;
}

/** Options of {@link NatTable}. */
export interface NatTableOptions {
  /** Table name in family `ip` (default `'tsbox'`). */
  table?: string;
  /** Act on the tables of this network namespace instead of the caller's. */
  netns?: NetnsTarget;
  /** The nft binary (default `'nft'`, found on PATH), for the steps that run it. */
  nft?: string;
  /** Kill `nft`, or give up waiting for the kernel's netlink reply, after this long (ms, default 10000). */
  timeoutMs?: number;
}

/** Options of {@link NatTable.unpublish}. */
export interface UnpublishOptions {
  /**
   * Fail with `ENOENT` (removing nothing) when a port is not published, instead of
   * skipping it. Default `false`.
   */
  strict?: boolean;
}

/**
 * nftables refused a change, or `nft` failed. `errno` is the kernel's errno name
 * (`'EEXIST'`: a host port is already published; `'ENOENT'`: no such element or
 * table), from the netlink reply or parsed from nft's message.
 */
export class NftablesError extends Error {
  readonly code = 'ERR_TSBOX_NFTABLES' as const;
  /** `'nft.ensure'`, `'nft.publish'`, `'nft.unpublish'`, `'nft.masquerade'`, ... */
  readonly stage: string;
  readonly errno: string | undefined;
  /** nft's own message; empty for a change made over netlink (see `cause`). */
  readonly stderr: string;

  constructor(stage: string, message: string, stderr: string, cause?: unknown, errno?: string) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'NftablesError';
    this.stage = stage;
    this.stderr = stderr;
    this.errno =
      errno ??
      (/File exists/.test(stderr)
        ? 'EEXIST'
        : /No such file or directory/.test(stderr)
          ? 'ENOENT'
          : undefined);
  }
}

/** tsbox's nftables table: published ports and masqueraded networks. */
export class NatTable {
  readonly table: string;
  private readonly options: NatTableOptions;

  constructor(options: NatTableOptions = {}) {
    this.table = options.table ?? 'tsbox';
    if (!/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/.test(this.table)) {
      throw new InvalidNetworkInputError('table', this.table, 'letters, digits and _ only');
    }
    this.options = options;
  }

  /**
   * Creates the table with its maps, set and chains, unless it exists. One atomic
   * transaction (`create table` fails the whole batch if another process won the
   * race, which is then success). Idempotent.
   */
  async ensure(): Promise<void> {
    // Over netlink, so a process whose table already exists spawns nothing.
    if (await this.exists()) return;
    const t = `ip ${this.table}`;
    const dnat = (chain: string) => [
      `add rule ${t} ${chain} fib daddr type local dnat ip to tcp dport map @tcp_ports`,
      `add rule ${t} ${chain} fib daddr type local dnat ip to udp dport map @udp_ports`,
    ];
    const script = [
      `create table ${t}`,
      `add map ${t} tcp_ports { type inet_service : ipv4_addr . inet_service; }`,
      `add map ${t} udp_ports { type inet_service : ipv4_addr . inet_service; }`,
      `add set ${t} masq_nets { type ipv4_addr; flags interval; }`,
      `add set ${t} isolated_nets { type ipv4_addr; flags interval; }`,
      `add set ${t} own_bridges { type ifname . ifname; }`,
      `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
      `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
      `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
      `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
      ...dnat('prerouting'),
      ...dnat('output'),
      `add rule ${t} postrouting ip saddr 127.0.0.0/8 oifname != "lo" masquerade`,
      `add rule ${t} postrouting ip saddr @masq_nets ip daddr != @masq_nets masquerade`,
      // With br_netfilter loaded (bridge-nf-call-iptables = 1), traffic bridged
      // inside one network also passes this hook, with the bridge as both iif and
      // oif: let it through before dropping what is routed between two networks.
      `add rule ${t} forward iifname . oifname @own_bridges accept`,
      // Routed (not bridged) traffic between two isolated networks.
      `add rule ${t} forward ip saddr @isolated_nets ip daddr @isolated_nets drop`,
    ];
    try {
      await this.run('nft.ensure', ['-f', '-'], script.join('\n'));
    } catch (error) {
      if (error instanceof NftablesError && error.errno === 'EEXIST') return;
      throw error;
    }
  }

  /**
   * Publishes ports in one transaction (all or none): one nfnetlink batch with an
   * exclusive `NFT_MSG_NEWSETELEM` per port.
   * @throws {@link NftablesError} `'EEXIST'` when a host port is already published
   *   (nothing is published then).
   */
  async publish(ports: readonly PublishedPort[]): Promise<void> {
    if (ports.length === 0) return;
    const checked = ports.map(checkPort);
    const requests = checked.map((p) =>
      newSetElements(this.mapOf(p.protocol), [portElement(p)], {
        exclusive: true,
        subject: `${p.hostPort}/${p.protocol} → ${p.containerAddress}:${p.containerPort} in table ip ${this.table}`,
      }),
    );
    const failures = this.transact(requests, 'nft.publish').filter((e) => e !== undefined);
    if (failures.length > 0) throw nftablesError('nft.publish', failures);
  }

  /**
   * Unpublishes host ports in one transaction (one `NFT_MSG_DELSETELEM` per port).
   * Ports that are not published are skipped, unless `options.strict`.
   * @throws {@link NftablesError} `'ENOENT'` with `strict` when a port is not
   *   published (nothing is removed then).
   */
  async unpublish(
    ports: readonly Pick<PublishedPort, 'protocol' | 'hostPort'>[],
    options: UnpublishOptions = {},
  ): Promise<void> {
    let pending: Pick<PublishedPort, 'protocol' | 'hostPort'>[] = [];
    for (const p of ports) {
      const protocol = checkProtocol(p.protocol);
      const hostPort = checkPortNumber(p.hostPort, 'hostPort');
      if (!pending.some((q) => q.protocol === protocol && q.hostPort === hostPort)) {
        pending.push({ protocol, hostPort });
      }
    }
    // The kernel checks every request of a batch and reports each failure, but
    // applies none if one fails: resend without the ports it reported missing.
    // Each round drops at least one port, so this ends.
    while (pending.length > 0) {
      const results = this.transact(
        pending.map((p) =>
          deleteSetElements(this.mapOf(p.protocol), [inetServiceKey.encode({ port: p.hostPort })], {
            subject: `${p.hostPort}/${p.protocol} in table ip ${this.table}`,
          }),
        ),
        'nft.unpublish',
      );
      const failures = results.filter((e) => e !== undefined);
      if (failures.length === 0) return;
      if (options.strict || failures.some((e) => e.errno !== 'ENOENT')) {
        throw nftablesError(
          'nft.unpublish',
          failures.filter((e) => options.strict || e.errno !== 'ENOENT'),
        );
      }
      pending = pending.filter((_, i) => results[i] === undefined);
    }
  }

  /**
   * Unpublishes every port forwarded to `containerAddress` (for gc, when the list
   * of a crashed container's ports is lost). Returns what was removed.
   */
  async unpublishAddress(containerAddress: string): Promise<PublishedPort[]> {
    const ports = (await this.listPublished()).filter(
      (p) => p.containerAddress === containerAddress,
    );
    await this.unpublish(ports);
    return ports;
  }

  /**
   * The ports currently published through this table (a netlink dump of each map).
   * @throws {@link NftablesError} `'ENOENT'` when the table does not exist.
   */
  async listPublished(): Promise<PublishedPort[]> {
    const out: PublishedPort[] = [];
    this.withSocket('nft.list', (socket) => {
      for (const protocol of ['tcp', 'udp'] as const) {
        const replies = socket.dump(listSetElements(this.mapOf(protocol)), 'nft.list');
        for (const element of parseSetElements(replies)) out.push(portOf(protocol, element));
      }
    });
    return out;
  }

  /**
   * Masquerades traffic from `subnet` leaving for addresses outside every
   * masqueraded subnet (opt-in per network). Idempotent.
   */
  enableMasquerade(subnet: string): Promise<void> {
    return this.addSubnet('masq_nets', subnet, 'nft.masquerade');
  }

  /** Stops masquerading `subnet`; idempotent. */
  disableMasquerade(subnet: string): Promise<void> {
    return this.deleteSubnet('masq_nets', subnet, 'nft.masquerade');
  }

  /** Subnets currently masqueraded. */
  listMasqueraded(): Promise<string[]> {
    return this.listSubnets('masq_nets');
  }

  /**
   * Isolates `subnet` from every other isolated subnet: packets the host would
   * route between two of them are dropped (in this table's forward chain, so
   * nothing else on the host is affected). Traffic inside one network is bridged,
   * not routed, and is not affected; pass the network's `bridge` so that stays
   * true on hosts with `br_netfilter` loaded (bridged packets then also traverse
   * the forward hook, with the bridge as in- and out-interface). Idempotent.
   */
  async isolateNetwork(subnet: string, bridge?: string): Promise<void> {
    if (bridge !== undefined) {
      const b = checkInterfaceName(bridge, 'bridge');
      await this.run('nft.isolate', [
        'add',
        'element',
        'ip',
        this.table,
        'own_bridges',
        `{ "${b}" . "${b}" }`,
      ]);
    }
    return this.addSubnet('isolated_nets', subnet, 'nft.isolate');
  }

  /** Ends the isolation of `subnet` (and forgets `bridge`); idempotent. */
  async unisolateNetwork(subnet: string, bridge?: string): Promise<void> {
    if (bridge !== undefined) {
      const b = checkInterfaceName(bridge, 'bridge');
      try {
        await this.run('nft.isolate', [
          'delete',
          'element',
          'ip',
          this.table,
          'own_bridges',
          `{ "${b}" . "${b}" }`,
        ]);
      } catch (error) {
        if (!(error instanceof NftablesError && error.errno === 'ENOENT')) throw error;
      }
    }
    return this.deleteSubnet('isolated_nets', subnet, 'nft.isolate');
  }

  /** Subnets currently isolated from each other. */
  listIsolated(): Promise<string[]> {
    return this.listSubnets('isolated_nets');
  }

  private async addSubnet(set: string, subnet: string, stage: string): Promise<void> {
    const s = Subnet.parse(subnet);
    if (s.family !== 4) throw new InvalidNetworkInputError('subnet', subnet, 'IPv4 only');
    await this.run(stage, ['add', 'element', 'ip', this.table, set, `{ ${s} }`]);
  }

  private async deleteSubnet(set: string, subnet: string, stage: string): Promise<void> {
    const s = Subnet.parse(subnet);
    if (!(await this.listSubnets(set)).includes(s.toString())) return;
    await this.run(stage, ['delete', 'element', 'ip', this.table, set, `{ ${s} }`]);
  }

  private async listSubnets(set: string): Promise<string[]> {
    const json = await this.run('nft.list', ['-j', 'list', 'set', 'ip', this.table, set]);
    const out: string[] = [];
    for (const entry of parseNftJson(json)) {
      for (const element of (entry.set?.elem ?? []) as unknown[]) {
        const prefix = (element as { prefix?: { addr: string; len: number } }).prefix;
        if (prefix) out.push(`${prefix.addr}/${prefix.len}`);
        else if (typeof element === 'string') out.push(`${element}/32`);
      }
    }
    return out;
  }

  /** Whether the table exists (one netlink request). */
  async exists(): Promise<boolean> {
    try {
      this.withSocket('nft.list', (socket) =>
        socket.request(getTable(NFPROTO_IPV4, this.table), 'nft.list'),
      );
      return true;
    } catch (error) {
      if (error instanceof NftablesError && error.errno === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Whether the table has a chain called `chain` (one netlink request), e.g. one a
   * caller added beside tsbox's own with `nft`. `false` also when the table is missing.
   */
  async hasChain(chain: string): Promise<boolean> {
    try {
      this.withSocket('nft.list', (socket) =>
        socket.request(getChain(NFPROTO_IPV4, this.table, chain), 'nft.list'),
      );
      return true;
    } catch (error) {
      if (error instanceof NftablesError && error.errno === 'ENOENT') return false;
      throw error;
    }
  }

  /** Deletes the whole table (all published ports, all masquerading); idempotent. */
  async remove(): Promise<void> {
    const request: NetlinkRequest = {
      type: nftablesType(NFT_MSG_DELTABLE),
      body: nfgenmsg.encode({ family: NFPROTO_IPV4 }),
      attributes: [attr.string(NFTA_TABLE_NAME, this.table)],
      subject: `table ip ${this.table}`,
    };
    const [failure] = this.transact([request], 'nft.remove');
    if (failure !== undefined && failure.errno !== 'ENOENT') {
      throw nftablesError('nft.remove', [failure]);
    }
  }

  /** The map of published ports of a protocol. */
  private mapOf(protocol: PortProtocol): SetRef {
    return { family: NFPROTO_IPV4, table: this.table, set: `${protocol}_ports` };
  }

  /**
   * Runs `fn` with a fresh `NETLINK_NETFILTER` socket in the table's namespace
   * (a few syscalls; a socket kept open would pin a test's namespace), mapping
   * netlink failures to {@link NftablesError}.
   */
  private withSocket<T>(stage: string, fn: (socket: NetlinkSocket) => T): T {
    try {
      using socket = NetlinkSocket.open({
        protocol: NETLINK_NETFILTER,
        timeoutMs: this.options.timeoutMs ?? 10_000,
        ...(this.options.netns === undefined ? {} : { netns: this.options.netns }),
      });
      return fn(socket);
    } catch (error) {
      if (error instanceof NetlinkError) throw nftablesError(stage, [error]);
      throw error;
    }
  }

  /** One nfnetlink transaction: per request, `undefined` or why it failed. */
  private transact(
    requests: readonly NetlinkRequest[],
    stage: string,
  ): (NetlinkError | undefined)[] {
    return this.withSocket(stage, (socket) => socket.batch(requests, NFNL_SUBSYS_NFTABLES, stage));
  }

  private run(stage: string, args: string[], input?: string): Promise<string> {
    const nft = this.options.nft ?? 'nft';
    const netns = this.options.netns;
    const [command, argv] =
      netns === undefined
        ? [nft, args]
        : ['nsenter', [`--net=${nsenterPath(netns)}`, nft, ...args]];
    return new Promise((resolve, reject) => {
      const child = spawn(command, argv, {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.timeoutMs ?? 10_000);
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      child.stderr?.on('data', (d) => {
        stderr += d;
      });
      child.once('error', (cause) => {
        clearTimeout(timer);
        reject(new NftablesError(stage, `Cannot run ${command}: ${cause.message}`, '', cause));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout);
        else {
          const why = signal ? `killed by ${signal}` : `exit ${code}`;
          const text = stderr.trim();
          reject(
            new NftablesError(stage, `nft ${args.join(' ')}: ${why}: ${firstLine(text)}`, text),
          );
        }
      });
      if (input !== undefined && child.stdin) {
        // nft that fails early closes stdin unread; its exit status reports that.
        child.stdin.on('error', () => {});
        child.stdin.end(input);
      }
    });
  }
}

function nsenterPath(netns: NetnsTarget): string {
  // nsenter opens the path itself; our own fd is reachable through /proc/<our pid>/fd.
  return 'fd' in netns ? `/proc/${process.pid}/fd/${netns.fd}` : describeNetns(netns);
}

/** The {@link NftablesError} for the failed requests of one netlink exchange. */
function nftablesError(stage: string, failures: readonly NetlinkError[]): NftablesError {
  const [first] = failures;
  if (first === undefined) return new NftablesError(stage, `${stage} failed`, '');
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : '';
  return new NftablesError(stage, `${first.message}${more}`, '', first, first.errno);
}

/** A published port as a map element: host port → container address . port. */
function portElement(port: PublishedPort): SetElement {
  return {
    key: inetServiceKey.encode({ port: port.hostPort }),
    data: ipv4ServiceValue.encode({
      address: parseIp(port.containerAddress).bytes.readUInt32BE(0),
      port: port.containerPort,
    }),
  };
}

function portOf(protocol: PortProtocol, element: SetElement): PublishedPort {
  const target = ipv4ServiceValue.decode(element.data ?? Buffer.alloc(ipv4ServiceValue.size));
  const address = Buffer.alloc(4);
  address.writeUInt32BE(target.address, 0);
  return {
    protocol,
    hostPort: inetServiceKey.decode(element.key).port,
    containerAddress: formatIp(address),
    containerPort: target.port,
  };
}

interface NftJsonEntry {
  map?: { elem?: unknown[] };
  set?: { elem?: unknown[] };
}

function parseNftJson(text: string): NftJsonEntry[] {
  const parsed = JSON.parse(text || '{"nftables":[]}') as { nftables?: NftJsonEntry[] };
  return parsed.nftables ?? [];
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

function checkProtocol(protocol: string): PortProtocol {
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new InvalidNetworkInputError('protocol', protocol, "expected 'tcp' or 'udp'");
  }
  return protocol;
}

function checkPortNumber(port: number, field: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidNetworkInputError(field, port, 'a port is an integer in 1..65535');
  }
  return port;
}

function checkPort(port: PublishedPort): PublishedPort {
  const address = parseIp(port.containerAddress, 'containerAddress');
  if (address.family !== 4) {
    throw new InvalidNetworkInputError('containerAddress', port.containerAddress, 'IPv4 only');
  }
  return {
    protocol: checkProtocol(port.protocol),
    hostPort: checkPortNumber(port.hostPort, 'hostPort'),
    containerAddress: port.containerAddress,
    containerPort: checkPortNumber(port.containerPort, 'containerPort'),
  };
}
