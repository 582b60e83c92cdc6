/**
 * A fixed-layout C struct declared once as a list of fields, then encoded and
 * decoded by name: the byte offsets of a kernel struct live in one place.
 * Fields are little-endian host order (netlink uses host order; tsbox runs on
 * little-endian Linux: x86-64, arm64), except the `*be` kinds: network byte order,
 * for the few fields the kernel declares `__be16`/`__be32` (`nfgenmsg.res_id`).
 * Fields are laid out without padding, so declare explicit `pad` fields where the
 * C struct has them.
 */

/** Wire types a struct field can have (`pad*` fields are zero and not decoded). */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'i32' | 'u16be' | 'u32be' | 'pad8' | 'pad16';

const fieldSize: Record<FieldKind, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  i32: 4,
  u16be: 2,
  u32be: 4,
  pad8: 1,
  pad16: 2,
};

/** The decoded (and encodable) value of a struct: every field by name. */
export type StructValue<F extends readonly (readonly [string, FieldKind])[]> = {
  [K in F[number] as K[1] extends 'pad8' | 'pad16' ? never : K[0]]: number;
};

/** Encoder/decoder for one struct layout. */
export interface StructCodec<V> {
  readonly size: number;
  /** Encodes `values`; missing fields are zero. */
  encode(values: Partial<V>): Buffer;
  /** Writes `values` into `target` at `offset`; returns the offset after the struct. */
  write(target: Buffer, offset: number, values: Partial<V>): number;
  decode(source: Buffer, offset?: number): V;
}

export function defineStruct<const F extends readonly (readonly [string, FieldKind])[]>(
  fields: F,
): StructCodec<StructValue<F>> {
  const layout: { name: string; kind: FieldKind; offset: number }[] = [];
  let size = 0;
  for (const [name, kind] of fields) {
    layout.push({ name, kind, offset: size });
    size += fieldSize[kind];
  }
  const write = (target: Buffer, offset: number, values: Partial<StructValue<F>>): number => {
    const record = values as Record<string, number | undefined>;
    for (const field of layout) {
      const value = record[field.name] ?? 0;
      const at = offset + field.offset;
      if (field.kind === 'u8') target.writeUInt8(value, at);
      else if (field.kind === 'u16') target.writeUInt16LE(value, at);
      else if (field.kind === 'u32') target.writeUInt32LE(value >>> 0, at);
      else if (field.kind === 'i32') target.writeInt32LE(value, at);
      else if (field.kind === 'u16be') target.writeUInt16BE(value, at);
      else if (field.kind === 'u32be') target.writeUInt32BE(value >>> 0, at);
      else target.fill(0, at, at + fieldSize[field.kind]);
    }
    return offset + size;
  };
  return {
    size,
    write,
    encode(values) {
      const out = Buffer.alloc(size);
      write(out, 0, values);
      return out;
    },
    decode(source, offset = 0) {
      const out: Record<string, number> = {};
      for (const field of layout) {
        const at = offset + field.offset;
        if (field.kind === 'u8') out[field.name] = source.readUInt8(at);
        else if (field.kind === 'u16') out[field.name] = source.readUInt16LE(at);
        else if (field.kind === 'u32') out[field.name] = source.readUInt32LE(at);
        else if (field.kind === 'i32') out[field.name] = source.readInt32LE(at);
        else if (field.kind === 'u16be') out[field.name] = source.readUInt16BE(at);
        else if (field.kind === 'u32be') out[field.name] = source.readUInt32BE(at);
      }
      return out as StructValue<F>;
    },
  };
}
