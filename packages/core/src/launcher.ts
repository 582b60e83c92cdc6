import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { constants } from 'node:os';
import { initBinaryPath } from '@tsbox/init';
import { InitProtocolError } from './errors.js';

/**
 * A keeper (host-side tsbox-init) started by the launcher: its pid, its stdio as
 * sockets, and `close` once it has exited and its streams have ended, like a
 * ChildProcess.
 */
export interface Keeper extends EventEmitter {
  readonly pid: number;
  readonly stdin: net.Socket | null;
  readonly stdout: net.Socket;
  readonly stderr: net.Socket;
  /** fd 3 of the keeper: the wire config out, init's messages in. */
  readonly sync: net.Socket;
  kill(signal: NodeJS.Signals): void;
}

interface Slot {
  withInput: boolean;
  streams: Map<string, net.Socket>;
  pid: number | undefined;
  resolve: (k: Keeper) => void;
  reject: (e: Error) => void;
  keeper: KeeperHandle | undefined;
}

class KeeperHandle extends EventEmitter implements Keeper {
  #open = 0;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  constructor(
    readonly pid: number,
    readonly sync: net.Socket,
    readonly stdout: net.Socket,
    readonly stderr: net.Socket,
    readonly stdin: net.Socket | null,
  ) {
    super();
    for (const s of [sync, stdout, stderr, stdin]) {
      if (!s) continue;
      this.#open++;
      s.once('close', () => {
        this.#open--;
        this.#maybeClose();
      });
    }
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.#exit = { code, signal };
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#exit && this.#open === 0) {
      const { code, signal } = this.#exit;
      this.#exit = undefined;
      this.emit('close', code, signal);
    }
  }

  kill(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }
}

const SIGNALS = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/**
 * One `tsbox-init --launcher` per Node process forks the keepers: forking a
 * tiny static process is far cheaper than Node forking itself (see the C file).
 * The keepers connect back to a unix socket of this process for their streams.
 */
class Launcher {
  readonly #proc: ChildProcess;
  readonly #server: net.Server;
  readonly #address = `\0tsbox-${process.pid}-${randomBytes(6).toString('hex')}`;
  readonly #slots = new Map<string, Slot>();
  readonly #byPid = new Map<number, Slot>();
  readonly listening: Promise<void>;
  #next = 0;
  #dead: Error | undefined;

  constructor() {
    this.#server = net.createServer((s) => this.#accept(s));
    this.listening = new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#address, () => resolve());
    });
    this.#server.unref();
    this.#proc = spawn(initBinaryPath(), ['--launcher'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {},
    });
    this.#proc.unref();
    (this.#proc.stdin as unknown as net.Socket).unref();
    (this.#proc.stdout as unknown as net.Socket).unref();
    let pending = '';
    this.#proc.stdout?.setEncoding('utf8');
    this.#proc.stdout?.on('data', (d: string) => {
      pending += d;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        this.#report(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
    });
    this.#proc.stdin?.on('error', () => undefined);
    this.#proc.on('error', (e) => this.#die(e));
    this.#proc.on('exit', () => this.#die(new Error('tsbox-init --launcher exited')));
  }

  #starting = 0;
  #pending(delta: number): void {
    const before = this.#starting;
    this.#starting += delta;
    const out = this.#proc.stdout as unknown as net.Socket;
    if (before === 0 && this.#starting > 0) {
      out.ref();
      this.#server.ref();
    } else if (before > 0 && this.#starting === 0) {
      out.unref();
      this.#server.unref();
    }
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  async start(withInput: boolean): Promise<Keeper> {
    // While a start is pending, the launcher's pipe and the server keep this process
    // alive; once started, the keeper's own sockets do.
    this.#pending(+1);
    try {
      await this.listening;
      if (this.#dead) throw this.#dead;
    } catch (err) {
      this.#pending(-1);
      throw err;
    }
    // The slot key doubles as a secret: any local process can connect to an abstract
    // socket, but only the keeper learns this name (through the launcher's pipe).
    const n = `${++this.#next}-${randomBytes(8).toString('hex')}`;
    return new Promise<Keeper>((resolve, reject) => {
      this.#slots.set(n, {
        withInput,
        streams: new Map(),
        pid: undefined,
        // Still counted until its exit is reported: that report arrives on the
        // launcher's pipe, which must keep this process alive until then.
        resolve,
        reject,
        keeper: undefined,
      });
      this.#proc.stdin?.write(`spawn ${n} @${this.#address.slice(1)} ${withInput ? 1 : 0}\n`);
    });
  }

  #report(line: string): void {
    const [verb, a, b, c] = line.split(' ');
    if (verb === 'started' && a !== undefined) {
      const slot = this.#slots.get(a);
      if (!slot) return;
      slot.pid = Number(b);
      this.#byPid.set(slot.pid, slot);
      this.#ready(a, slot);
    } else if (verb === 'failed' && a !== undefined) {
      const slot = this.#slots.get(a);
      this.#slots.delete(a);
      if (slot) this.#pending(-1);
      slot?.reject(
        new InitProtocolError('init.spawn', `the launcher could not fork a keeper (errno ${b})`),
      );
    } else if (verb === 'exit' && a !== undefined) {
      const pid = Number(a);
      const slot = this.#byPid.get(pid);
      if (!slot) return;
      this.#byPid.delete(pid);
      const code = Number(b);
      const signal = Number(c) > 0 ? (SIGNALS.get(Number(c)) ?? null) : null;
      this.#pending(-1);
      if (slot.keeper) {
        slot.keeper.exited(code >= 0 ? code : null, signal);
      } else {
        // Died before all its streams connected.
        for (const [n, s] of this.#slots) if (s === slot) this.#slots.delete(n);
        for (const s of slot.streams.values()) s.destroy();
        slot.reject(
          new InitProtocolError(
            'init.spawn',
            `tsbox-init exited (${code}) before connecting its streams`,
          ),
        );
      }
    }
  }

  #accept(socket: net.Socket): void {
    let hello = '';
    const onReadable = () => {
      let chunk: Buffer | null = socket.read() as Buffer | null;
      while (chunk !== null) {
        const text = chunk.toString('latin1');
        const nl = text.indexOf('\n');
        if (nl < 0) {
          hello += text;
        } else {
          hello += text.slice(0, nl);
          socket.off('readable', onReadable);
          const rest = chunk.subarray(nl + 1);
          if (rest.length > 0) socket.unshift(rest);
          const [n, name] = hello.split(' ');
          const slot = n === undefined ? undefined : this.#slots.get(n);
          if (!slot || !name) {
            socket.destroy();
            return;
          }
          slot.streams.set(name, socket);
          this.#ready(n as string, slot);
          return;
        }
        chunk = socket.read() as Buffer | null;
      }
    };
    socket.on('readable', onReadable);
  }

  #ready(n: string, slot: Slot): void {
    const want = slot.withInput ? 4 : 3;
    if (slot.pid === undefined || slot.streams.size < want || slot.keeper) return;
    this.#slots.delete(n);
    const get = (name: string) => slot.streams.get(name) as net.Socket;
    slot.keeper = new KeeperHandle(
      slot.pid,
      get('sync'),
      get('out'),
      get('err'),
      slot.withInput ? get('in') : null,
    );
    slot.resolve(slot.keeper);
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = new InitProtocolError('init.launcher', err.message);
    this.#server.close();
    for (const slot of this.#slots.values()) slot.reject(this.#dead);
    this.#slots.clear();
    // Its keepers die with it (PR_SET_PDEATHSIG): report them gone.
    for (const slot of this.#byPid.values()) slot.keeper?.exited(null, 'SIGKILL');
    this.#byPid.clear();
    if (launcher === this) launcher = undefined;
  }
}

let launcher: Launcher | undefined;

/** Starts a keeper through this process's launcher (started on first use). */
export function startKeeper(withInput: boolean): Promise<Keeper> {
  if (!launcher || launcher.dead) launcher = new Launcher();
  return launcher.start(withInput);
}
