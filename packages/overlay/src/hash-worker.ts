import { Worker } from 'node:worker_threads';

/**
 * SHA-256 on a worker thread. Hashing is a third of import time on a 2-core machine when
 * done on the main thread (Node's sha256 runs ~130 MB/s here); moving it to the other core
 * lets it overlap with extraction. Chunks are copied to the worker, so what is hashed is
 * exactly what is extracted.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'data') {
    let h = hashes.get(m.id);
    if (!h) { h = createHash('sha256'); hashes.set(m.id, h); }
    h.update(m.data);
    parentPort.postMessage({ type: 'ack', id: m.id, bytes: m.data.byteLength });
  } else if (m.type === 'end') {
    const h = hashes.get(m.id) ?? createHash('sha256');
    hashes.delete(m.id);
    parentPort.postMessage({ type: 'digest', id: m.id, hex: h.digest('hex') });
  } else if (m.type === 'drop') {
    hashes.delete(m.id);
  }
});
`;

type Message =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'digest'; id: number; hex: string };

interface Pending {
  onAck: (bytes: number) => void;
  onDigest?: (hex: string) => void;
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  // The worker must never keep a process alive on its own.
  w.unref();
  w.on('message', (m: Message) => {
    const p = pending.get(m.id);
    if (!p) return;
    if (m.type === 'ack') p.onAck(m.bytes);
    else {
      pending.delete(m.id);
      p.onDigest?.(m.hex);
    }
  });
  w.on('error', () => {
    worker = undefined;
  });
  worker = w;
  return w;
}

/** One running SHA-256 on the shared worker. */
export class OffThreadSha256 {
  private readonly id = nextId++;
  private readonly worker = getWorker();
  /** Bytes posted but not yet hashed; the caller uses it for backpressure. */
  inFlight = 0;
  private waiter: (() => void) | undefined;

  constructor() {
    pending.set(this.id, {
      onAck: (bytes) => {
        this.inFlight -= bytes;
        const w = this.waiter;
        this.waiter = undefined;
        w?.();
      },
    });
    this.worker.ref();
  }

  update(chunk: Buffer): void {
    this.inFlight += chunk.length;
    // Copy: the chunk's memory may be reused by the stream once we return.
    this.worker.postMessage({ type: 'data', id: this.id, data: new Uint8Array(chunk) });
  }

  /** Resolves when fewer than `limit` bytes are waiting to be hashed. */
  async drained(limit: number): Promise<void> {
    while (this.inFlight > limit) await new Promise<void>((r) => (this.waiter = r));
  }

  digest(): Promise<string> {
    return new Promise((resolve) => {
      const p = pending.get(this.id);
      if (p) p.onDigest = resolve;
      this.worker.postMessage({ type: 'end', id: this.id });
    }).finally(() => this.release()) as Promise<string>;
  }

  /** Forgets this hash (after an error). */
  abandon(): void {
    if (!pending.has(this.id)) return;
    pending.delete(this.id);
    this.worker.postMessage({ type: 'drop', id: this.id });
    this.release();
  }

  private release(): void {
    if (pending.size === 0) this.worker.unref();
  }
}
