import { Header } from 'tar';

const BLOCK = 512;

/** One entry to write; the fields of a tar header plus binary-safe xattrs. */
export interface TarEntryHeader {
  /** Relative path; directories without a trailing slash (added here). */
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  mode: number;
  uid: number;
  gid: number;
  /** Data bytes that follow (regular files only). */
  size: number;
  mtime: Date;
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
  xattrs?: Map<string, Buffer>;
}

/** One PAX record, `"<len> <key>=<value>\n"`, where len counts itself. Binary-safe. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Zero padding after `size` data bytes, up to the next 512-byte block. */
export function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/**
 * Encodes the header block(s) of one entry: a PAX extended header when a field does not
 * fit ustar or the entry has xattrs (node-tar's PAX writer has no xattrs, and its headers
 * cannot carry binary values), then the ustar header (node-tar's encoder).
 */
export function encodeHeaders(e: TarEntryHeader): Buffer {
  const path = e.type === 'Directory' ? `${e.path}/` : e.path;
  const header = new Header({
    path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'File' ? e.size : 0,
    mtime: e.mtime,
    linkpath: e.linkpath ?? '',
    devmaj: e.devmaj ?? 0,
    devmin: e.devmin ?? 0,
    uname: '',
    gname: '',
  });
  const block = Buffer.alloc(BLOCK);
  const needPax = header.encode(block);
  const records: Buffer[] = [];
  if (needPax || /[^\x20-\x7e]/.test(path) || /[^\x20-\x7e]/.test(e.linkpath ?? '')) {
    records.push(paxRecord('path', path));
    if (e.linkpath) records.push(paxRecord('linkpath', e.linkpath));
    if (e.type === 'File') records.push(paxRecord('size', String(e.size)));
    records.push(paxRecord('uid', String(e.uid)), paxRecord('gid', String(e.gid)));
  }
  for (const [name, value] of e.xattrs ?? [])
    records.push(paxRecord(`SCHILY.xattr.${name}`, value));
  if (records.length === 0) return block;
  const body = Buffer.concat(records);
  const paxHeader = new Header({
    path: 'PaxHeader',
    type: 'ExtendedHeader',
    mode: 0o644,
    size: body.length,
    mtime: e.mtime,
    uid: 0,
    gid: 0,
  });
  const paxBlock = Buffer.alloc(BLOCK);
  paxHeader.encode(paxBlock);
  return Buffer.concat([paxBlock, body, padding(body.length), block]);
}
