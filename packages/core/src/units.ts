import { InvalidSpecError } from './errors.js';

/** A size: bytes as a number, or a string such as `'512M'`, `'1.5G'`, `'64k'`, `'100'`. */
export type Size = number | string;
/** A duration: milliseconds as a number, or a string such as `'5s'`, `'250ms'`, `'2m'`. */
export type Duration = number | string;

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

const NUMBER_WITH_UNIT = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/;

/**
 * Parses a size into whole bytes (binary multiples: `1K` = 1024). Throws
 * `InvalidSpecError` naming `field` for anything else, zero and negatives included
 * unless `allowZero`.
 */
export function parseSize(value: Size, field: string, allowZero = false): number {
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = NUMBER_WITH_UNIT.exec(value);
    const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw new InvalidSpecError(
        field,
        value,
        "expected a size such as '512M', '1.5G' or a number of bytes",
      );
    }
    bytes = Number(m[1]) * unit;
  } else {
    throw new InvalidSpecError(
      field,
      value,
      "expected a size (number of bytes or a string like '64M')",
    );
  }
  if (!Number.isFinite(bytes) || bytes < 0 || (!allowZero && bytes === 0)) {
    throw new InvalidSpecError(
      field,
      value,
      allowZero ? 'must be zero or more' : 'must be more than zero',
    );
  }
  if (bytes > Number.MAX_SAFE_INTEGER) throw new InvalidSpecError(field, value, 'is too large');
  return Math.round(bytes);
}

/** Parses a duration into milliseconds; throws `InvalidSpecError` naming `field`. */
export function parseDuration(value: Duration, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const m = NUMBER_WITH_UNIT.exec(value);
    const unit = m ? DURATION_UNITS[(m[2] || 'ms').toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw new InvalidSpecError(
        field,
        value,
        "expected a duration such as '5s', '250ms', '2m' or milliseconds",
      );
    }
    ms = Number(m[1]) * unit;
  } else {
    throw new InvalidSpecError(
      field,
      value,
      "expected a duration (milliseconds or a string like '5s')",
    );
  }
  if (!Number.isFinite(ms) || ms <= 0)
    throw new InvalidSpecError(field, value, 'must be more than zero');
  if (ms > 2 ** 31 - 1) throw new InvalidSpecError(field, value, 'is longer than 24 days');
  return ms;
}
