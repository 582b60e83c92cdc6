/**
 * Reads extended attributes from a PAX extended header body (`SCHILY.xattr.<name>=<value>`
 * records, the form GNU tar, bsdtar and Docker write).
 *
 * node-tar parses PAX headers but keeps no xattrs; it does hand the raw header text to a
 * `meta` listener, which is what this parses. That text has been decoded as UTF-8, so a
 * binary value (for example `security.capability`) only survives when the raw bytes are
 * supplied as a Buffer; callers pass a Buffer when they have one.
 */
export function parsePaxXattrs(body: Buffer | string): Map<string, Buffer> {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(buf.subarray(pos, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > buf.length) break;
    // A record is "<len> <key>=<value>\n"; the value may hold any byte, even '=' or '\n'.
    const record = buf.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString('utf8');
      if (key.startsWith('SCHILY.xattr.')) {
        out.set(key.slice('SCHILY.xattr.'.length), Buffer.from(record.subarray(eq + 1)));
      } else if (key.startsWith('LIBARCHIVE.xattr.')) {
        // bsdtar's own form: URL-encoded name, base64 value.
        const name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
        if (!out.has(name))
          out.set(name, Buffer.from(record.subarray(eq + 1).toString(), 'base64'));
      }
    }
    pos += len;
  }
  return out;
}
