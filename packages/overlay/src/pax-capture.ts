import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
const MAX_PAX = 16 * 1024 * 1024;

/** Reads a tar numeric field: octal text, or base-256 when the top bit is set. */
function tarNumber(field: Buffer): number {
  if ((field[0] ?? 0) & 0x80) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ].*$/s, '')
    .trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/**
 * A pass-through stream that follows tar framing and keeps the raw bytes of every PAX
 * extended header body, keyed by its UTF-8 text.
 *
 * Why: node-tar hands PAX header bodies to `meta` listeners only as a UTF-8 string, which
 * destroys binary xattr values such as `security.capability` (file capabilities, e.g.
 * on `ping`). Looking the string up here gives back the exact bytes. If this framing and
 * node-tar's ever disagreed, the lookup simply misses and the caller falls back to the
 * string, so a mismatch can lose a binary value but never misplace one.
 */
export class PaxCapture extends Transform {
  private readonly bodies = new Map<string, Buffer>();
  private header = Buffer.alloc(0);
  private skip = 0;
  private capture: { chunks: Buffer[]; need: number; pad: number } | undefined;
  private pendingSize: number | undefined;

  /** The raw bytes of the PAX body whose UTF-8 decoding is `text`, removed once taken. */
  rawBody(text: string): Buffer | undefined {
    const raw = this.bodies.get(text);
    if (raw) this.bodies.delete(text);
    return raw;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.capture) {
        const n = Math.min(this.capture.need, chunk.length - pos);
        this.capture.chunks.push(chunk.subarray(pos, pos + n));
        this.capture.need -= n;
        pos += n;
        if (this.capture.need === 0) {
          this.finishCapture(Buffer.concat(this.capture.chunks));
          this.skip = this.capture.pad;
          this.capture = undefined;
        }
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      const n = Math.min(BLOCK - this.header.length, chunk.length - pos);
      this.header = Buffer.concat([this.header, chunk.subarray(pos, pos + n)]);
      pos += n;
      if (this.header.length === BLOCK) {
        this.onHeader(this.header);
        this.header = Buffer.alloc(0);
      }
    }
    cb(null, chunk);
  }

  private onHeader(h: Buffer): void {
    if (h.every((b) => b === 0)) return;
    const type = String.fromCharCode(h[156] ?? 0);
    const size = tarNumber(h.subarray(124, 136));
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if ((type === 'x' || type === 'X') && size > 0 && size <= MAX_PAX) {
      this.capture = { chunks: [], need: size, pad: padded - size };
      return;
    }
    if (type === 'x' || type === 'X' || type === 'g' || type === 'L' || type === 'K') {
      this.skip = padded;
      return;
    }
    // A file entry: a preceding PAX `size` overrides the header; directories have no body
    // (node-tar ignores a directory's size field, and so must we to stay in step).
    let body = this.pendingSize ?? size;
    this.pendingSize = undefined;
    const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    if (type === '5' || ((type === '0' || type === '\0') && name.endsWith('/'))) body = 0;
    this.skip = Math.ceil(body / BLOCK) * BLOCK;
  }

  private finishCapture(body: Buffer): void {
    this.bodies.set(body.toString('utf8'), body);
    const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(body.toString('latin1'));
    this.pendingSize = m?.[1] === undefined ? undefined : Number(m[1]);
  }
}
