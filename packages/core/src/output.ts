import type { Readable } from 'node:stream';

/**
 * Keeps the first `limit` bytes of a stream and counts the rest. It always keeps
 * reading, so a chatty workload can never block on a full pipe.
 */
export class CappedCollector {
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(
    stream: Readable | null,
    readonly limit: number,
    onChunk: (chunk: Buffer) => void,
  ) {
    stream?.on('data', (chunk: Buffer) => {
      this.#total += chunk.length;
      const room = this.limit - this.#kept;
      if (room > 0) {
        const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
        this.#chunks.push(piece);
        this.#kept += piece.length;
      }
      onChunk(chunk);
    });
  }

  get truncated(): boolean {
    return this.#total > this.#kept;
  }

  get totalBytes(): number {
    return this.#total;
  }

  text(): string {
    return Buffer.concat(this.#chunks, this.#kept).toString('utf8');
  }
}

/** An async iterator over chunks pushed to it, ending when `end()` is called. */
export class ChunkQueue implements AsyncIterableIterator<Buffer> {
  readonly #buffered: Buffer[] = [];
  #waiting: ((r: IteratorResult<Buffer>) => void) | undefined;
  #ended = false;

  push(chunk: Buffer): void {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w({ value: chunk, done: false });
    } else {
      this.#buffered.push(chunk);
    }
  }

  end(): void {
    this.#ended = true;
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Buffer>> {
    const chunk = this.#buffered.shift();
    if (chunk) return Promise.resolve({ value: chunk, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<Buffer>> {
    this.#buffered.length = 0;
    this.#ended = true;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }
}
