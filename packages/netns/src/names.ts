import { InvalidNetworkInputError } from './errors.js';

/** Linux's IFNAMSIZ (16) minus the NUL terminator. */
export const MAX_INTERFACE_NAME = 15;

/**
 * Checks an interface name the way the kernel's `dev_valid_name` does, so the
 * mistake is reported before any request is sent.
 */
export function checkInterfaceName(name: string, field = 'name'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidNetworkInputError(field, name, 'an interface name is a non-empty string');
  }
  if (Buffer.byteLength(name) > MAX_INTERFACE_NAME) {
    throw new InvalidNetworkInputError(field, name, `longer than ${MAX_INTERFACE_NAME} bytes`);
  }
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new InvalidNetworkInputError(field, name, "contains '/', ':' or whitespace");
  }
  return name;
}

/** Parses `'02:42:ac:11:00:02'` into 6 bytes. */
export function parseMac(text: string, field = 'mac'): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) {
    throw new InvalidNetworkInputError(
      field,
      text,
      "expected six hex pairs like '02:42:0a:59:00:02'",
    );
  }
  return Buffer.from(text.replaceAll(':', ''), 'hex');
}

/** Formats hardware address bytes as lower-case `aa:bb:...`. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
