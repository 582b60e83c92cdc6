import {
  AF_NETLINK,
  AF_UNSPEC,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NFNETLINK_V0,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSGERR_ATTR_MSG,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_SETLINK,
  SO_RCVBUF,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from './constants.js';
import { errnoName, NetlinkError } from './errors.js';
import { libc, syscallError } from './libc.js';
import {
  type Attribute,
  AttributeMap,
  align,
  decodeMessages,
  encodeMessage,
  type IncomingMessage,
} from './message.js';
import { describeNetns, type NetnsTarget, runInNetns } from './netns.js';
import { nfgenmsg, nlmsgerr, nlmsghdr, sockaddrNl, timeval64 } from './structs.js';

/** Options of {@link NetlinkSocket.open}. */
export interface NetlinkSocketOptions {
  /**
   * Open the socket inside this network namespace: every request on it then acts on
   * that namespace. The calling thread enters the namespace only for the `socket()`
   * call and always returns (see {@link runInNetns}).
   */
  netns?: NetnsTarget;
  /** How long a reply may take before the request fails with `EAGAIN` (ms, default 5000). */
  timeoutMs?: number;
  /**
   * The netlink family: `NETLINK_ROUTE` (0, the default: links, addresses, routes)
   * or `NETLINK_NETFILTER` (12: nf_tables, through {@link NetlinkSocket.batch}).
   */
  protocol?: number;
}

/** A request: message type, extra header flags, fixed struct, attributes. */
export interface NetlinkRequest {
  type: number;
  /** Flags besides `NLM_F_REQUEST` and `NLM_F_ACK`/`NLM_F_DUMP`, which are added. */
  flags?: number;
  body: Buffer;
  attributes?: readonly Attribute[];
  /** What the request is about (`'10.89.0.2/24 on eth0'`), for error messages. */
  subject?: string;
}

/** Set on dump messages when the dumped table changed during the dump. */
const NLM_F_DUMP_INTR = 0x10;
const DUMP_ATTEMPTS = 4;
/** Flag on an NLMSG_ERROR whose copy of the request was capped to its header. */
const NLM_F_CAPPED = 0x100;
const RECEIVE_BUFFER = 64 * 1024;
const EINTR = 'EINTR';

const stageOfType: Record<number, string> = {
  [RTM_NEWLINK]: 'netlink.newlink',
  [RTM_DELLINK]: 'netlink.dellink',
  [RTM_GETLINK]: 'netlink.getlink',
  [RTM_SETLINK]: 'netlink.setlink',
  [RTM_NEWADDR]: 'netlink.newaddr',
  [RTM_DELADDR]: 'netlink.deladdr',
  [RTM_GETADDR]: 'netlink.getaddr',
  [RTM_NEWROUTE]: 'netlink.newroute',
  [RTM_DELROUTE]: 'netlink.delroute',
  [RTM_GETROUTE]: 'netlink.getroute',
};

/**
 * A `NETLINK_ROUTE` socket. Requests are synchronous: rtnetlink handles a request
 * inside `sendto`, so the reply is already queued when `recv` runs; a request costs
 * a few microseconds of kernel time, like `fs.*Sync`.
 *
 * Close it when done (`using nl = NetlinkSocket.open()` or {@link close}); the fd is
 * close-on-exec so spawned processes never inherit it.
 */
export class NetlinkSocket implements Disposable {
  /** The namespace the socket was opened in, for error messages. */
  readonly where: string;
  private fd: number;
  private seq: number;

  private constructor(fd: number, where: string) {
    this.fd = fd;
    this.where = where;
    // Start from a time-based number so replies to another socket's requests never match.
    this.seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  }

  /** Opens a socket in the caller's namespace, or in `options.netns`. */
  static open(options: NetlinkSocketOptions = {}): NetlinkSocket {
    const { netns } = options;
    const protocol = options.protocol ?? NETLINK_ROUTE;
    const fd =
      netns === undefined
        ? createSocket(protocol)
        : runInNetns(netns, () => createSocket(protocol));
    try {
      configure(fd, options.timeoutMs ?? 5000);
    } catch (error) {
      libc().close(fd);
      throw error;
    }
    return new NetlinkSocket(fd, netns === undefined ? 'caller' : describeNetns(netns));
  }

  /**
   * Sends a request that asks for an acknowledgement and returns the replies that
   * came before it (e.g. the `RTM_NEWLINK` answering a `RTM_GETLINK` by name).
   *
   * @throws {@link NetlinkError} with the kernel's errno name and the request's stage.
   */
  request(request: NetlinkRequest, stage = stageOf(request.type)): IncomingMessage[] {
    const subject = this.subjectOf(request.subject);
    const seq = this.send(request, NLM_F_REQUEST | NLM_F_ACK, stage);
    const replies: IncomingMessage[] = [];
    for (;;) {
      for (const message of this.receive(stage)) {
        if (message.seq !== seq) continue;
        if (message.type === NLMSG_ERROR) {
          throwIfError(message, stage, subject);
          return replies;
        }
        if (message.type !== NLMSG_NOOP) replies.push(message);
      }
    }
  }

  /**
   * Sends a dump request (`NLM_F_DUMP`) and returns every message of the dump. A
   * dump the kernel marks as interrupted (`NLM_F_DUMP_INTR`: the table changed while
   * it was read, e.g. other containers starting) is retried a few times.
   */
  dump(request: NetlinkRequest, stage = stageOf(request.type)): IncomingMessage[] {
    for (let attempt = 1; ; attempt++) {
      const replies = this.dumpOnce(request, stage);
      const interrupted = replies.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0);
      if (!interrupted || attempt === DUMP_ATTEMPTS) return replies;
    }
  }

  /**
   * Sends an nfnetlink transaction: `NFNL_MSG_BATCH_BEGIN` (naming `subsystem`, e.g.
   * `NFNL_SUBSYS_NFTABLES`), the requests, `NFNL_MSG_BATCH_END`, in one datagram.
   * The kernel applies all of them or none. Every request asks for an ack, and the
   * kernel checks every request even after one failed, so the result says, per
   * request, `undefined` (accepted) or the {@link NetlinkError} it failed with;
   * when any failed, nothing was applied. A failure of the batch as a whole (no
   * permission, the commit itself) is reported for every request.
   */
  batch(
    requests: readonly NetlinkRequest[],
    subsystem: number,
    stage: string,
  ): (NetlinkError | undefined)[] {
    if (requests.length === 0) return [];
    const marker = nfgenmsg.encode({
      family: AF_UNSPEC,
      version: NFNETLINK_V0,
      resourceId: subsystem,
    });
    const begin = this.nextSeq();
    const parts = [
      encodeMessage({ type: NFNL_MSG_BATCH_BEGIN, flags: NLM_F_REQUEST, seq: begin, body: marker }),
    ];
    const index = new Map<number, number>();
    for (const [i, request] of requests.entries()) {
      const seq = this.nextSeq();
      index.set(seq, i);
      parts.push(
        encodeMessage({
          type: request.type,
          flags: NLM_F_REQUEST | NLM_F_ACK | (request.flags ?? 0),
          seq,
          body: request.body,
          ...(request.attributes === undefined ? {} : { attributes: request.attributes }),
        }),
      );
    }
    parts.push(
      encodeMessage({
        type: NFNL_MSG_BATCH_END,
        flags: NLM_F_REQUEST,
        seq: this.nextSeq(),
        body: marker,
      }),
    );
    this.sendDatagram(Buffer.concat(parts), stage);

    const results: (NetlinkError | undefined)[] = requests.map(() => undefined);
    const pending = new Set(index.keys());
    // The kernel handles the whole batch inside sendto: every ack is queued by now.
    while (pending.size > 0) {
      for (const message of this.receive(stage)) {
        if (message.type !== NLMSG_ERROR) continue;
        const { error } = nlmsgerr.decode(message.payload);
        if (message.seq === begin) {
          // Refused as a whole (EPERM, an unknown subsystem): no per-request acks follow.
          if (error === 0) continue;
          const failure = kernelError(
            error,
            stage,
            this.subjectOf(undefined),
            extAckMessage(message),
          );
          return results.map(() => failure);
        }
        const i = index.get(message.seq);
        // Only the first ack of a request counts: a failed commit is reported on the
        // first request before its own (successful) ack.
        if (i === undefined || !pending.delete(message.seq)) continue;
        if (error !== 0) {
          const request = requests[i] as NetlinkRequest;
          results[i] = kernelError(
            error,
            stage,
            this.subjectOf(request.subject),
            extAckMessage(message),
          );
        }
      }
    }
    return results;
  }

  private dumpOnce(request: NetlinkRequest, stage: string): IncomingMessage[] {
    const subject = this.subjectOf(request.subject);
    const seq = this.send(request, NLM_F_REQUEST | NLM_F_DUMP, stage);
    const replies: IncomingMessage[] = [];
    for (;;) {
      for (const message of this.receive(stage)) {
        if (message.seq !== seq) continue;
        if (message.type === NLMSG_DONE) {
          // A dump that failed half-way reports a negative errno in its DONE message.
          const error = message.payload.length >= 4 ? message.payload.readInt32LE(0) : 0;
          if (error < 0) throw kernelError(error, stage, subject, undefined);
          return replies;
        }
        if (message.type === NLMSG_ERROR) {
          throwIfError(message, stage, subject);
          return replies;
        }
        if (message.type !== NLMSG_NOOP) replies.push(message);
      }
    }
  }

  /** Closes the socket; idempotent. */
  close(): void {
    if (this.fd < 0) return;
    libc().close(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The request's subject, plus the namespace when it is not the caller's own. */
  private subjectOf(subject: string | undefined): string | undefined {
    if (this.where === 'caller') return subject;
    return subject === undefined ? `in ${this.where}` : `${subject} in ${this.where}`;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & 0x7fffffff;
    return this.seq;
  }

  private send(request: NetlinkRequest, flags: number, stage: string): number {
    const seq = this.nextSeq();
    const datagram = encodeMessage({
      type: request.type,
      flags: flags | (request.flags ?? 0),
      seq,
      body: request.body,
      ...(request.attributes === undefined ? {} : { attributes: request.attributes }),
    });
    this.sendDatagram(datagram, stage);
    return seq;
  }

  private sendDatagram(datagram: Buffer, stage: string): void {
    if (this.fd < 0) throw new NetlinkError(stage, 'The netlink socket is closed');
    for (;;) {
      const sent = libc().sendto(
        this.fd,
        datagram,
        datagram.length,
        0,
        kernelAddress,
        kernelAddress.length,
      );
      if (sent === datagram.length) return;
      if (sent < 0) {
        const error = syscallError('sendto', stage, this.where);
        if (error.errno === EINTR) continue;
        throw error;
      }
      throw new NetlinkError(stage, `sendto sent ${sent} of ${datagram.length} bytes`);
    }
  }

  private receive(stage: string): IncomingMessage[] {
    for (;;) {
      const received = libc().recv(this.fd, receiveBuffer, receiveBuffer.length, 0);
      if (received >= 0) {
        // Copy: the buffer is reused by the next recv while callers may keep messages.
        return decodeMessages(Buffer.from(receiveBuffer.subarray(0, received)));
      }
      const error = syscallError('recv', stage, this.where);
      if (error.errno === EINTR) continue;
      throw error;
    }
  }
}

/**
 * One receive buffer for every socket of this thread: requests are synchronous, so
 * no two receives overlap, and received bytes are copied out at once. (A 64 KiB
 * buffer per socket made opening a socket cost ~10x its syscalls, in allocation and GC.)
 */
const receiveBuffer = Buffer.alloc(RECEIVE_BUFFER);

/** The kernel's address: port id 0. */
const kernelAddress = sockaddrNl.encode({ family: AF_NETLINK, pid: 0, groups: 0 });

function createSocket(protocol: number): number {
  const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw syscallError('socket', 'netlink.socket');
  return fd;
}

function configure(fd: number, timeoutMs: number): void {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1, 0);
  // Extended acks carry the kernel's reason ("Invalid prefix for given prefix length"),
  // capped acks keep error replies small. Both are best-effort: old kernels lack them.
  libc().setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  libc().setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
  const rcvbuf = Buffer.alloc(4);
  rcvbuf.writeInt32LE(RECEIVE_BUFFER * 4, 0);
  libc().setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, 4);
  // A bounded wait, so a lost reply is an error instead of a hung process.
  const seconds = Math.floor(timeoutMs / 1000);
  const timeout = timeval64.encode({
    secondsLow: seconds,
    microsLow: Math.floor((timeoutMs % 1000) * 1000),
  });
  if (libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length) !== 0) {
    throw syscallError('setsockopt', 'netlink.socket');
  }
  const address = sockaddrNl.encode({ family: AF_NETLINK, pid: 0, groups: 0 });
  if (libc().bind(fd, address, address.length) !== 0) throw syscallError('bind', 'netlink.bind');
}

function stageOf(type: number): string {
  return stageOfType[type] ?? `netlink.${type}`;
}

function throwIfError(message: IncomingMessage, stage: string, subject: string | undefined): void {
  const { error } = nlmsgerr.decode(message.payload);
  if (error === 0) return;
  throw kernelError(error, stage, subject, extAckMessage(message));
}

function kernelError(
  error: number,
  stage: string,
  subject: string | undefined,
  kernelMessage: string | undefined,
): NetlinkError {
  const errno = errnoName(error);
  const about = subject === undefined ? '' : ` (${subject})`;
  const reason = kernelMessage ? `: ${kernelMessage}` : '';
  return new NetlinkError(stage, `${stage}${about} failed with ${errno}${reason}`, {
    errno,
    ...(subject === undefined ? {} : { value: subject }),
    ...(kernelMessage === undefined ? {} : { kernelMessage }),
  });
}

/** The `NLMSGERR_ATTR_MSG` text of an error reply, when the kernel sent one. */
function extAckMessage(message: IncomingMessage): string | undefined {
  if ((message.flags & NLM_F_ACK_TLVS) === 0) return undefined;
  const payload = message.payload;
  const echoed = payload.length >= 4 + nlmsghdr.size ? nlmsghdr.decode(payload, 4).length : 0;
  const echoedLength = (message.flags & NLM_F_CAPPED) !== 0 ? nlmsghdr.size : align(echoed);
  const tlvs = new AttributeMap(payload, 4 + echoedLength);
  return tlvs.string(NLMSGERR_ATTR_MSG);
}
