import { OverlayError } from './errors.js';

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * Parses a size (`'100M'`, `'1.5G'`, `'64k'`, binary multiples, or a number of bytes) into
 * whole bytes; rejects anything else before any resource is created.
 */
export function parseSize(value: string | number, field: string): number {
  let bytes: number | undefined;
  if (typeof value === 'number') {
    bytes = value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(value);
    if (m?.[1] !== undefined) {
      bytes = Number(m[1]) * (MULTIPLIERS[(m[2] ?? '').toLowerCase()] ?? Number.NaN);
    }
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes <= 0) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'options',
      `${field} must be a positive size such as '100M' or a number of bytes, got ${JSON.stringify(value)}`,
      { field, value: String(value) },
    );
  }
  return Math.floor(bytes);
}
