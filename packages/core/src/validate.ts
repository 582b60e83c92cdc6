import { statSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { CAPABILITIES, type Capability, RLIMITS, type RlimitName } from '@tsbox/init';
import { InvalidSpecError } from './errors.js';

// Checks used by the builder's setters, so bad input fails at the call that gave it.

const HOSTNAME =
  /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const ENV_NAME = /^[^=\0]+$/;

export function checkHostname(name: unknown): string {
  if (typeof name !== 'string' || name.length > 64 || !HOSTNAME.test(name)) {
    throw new InvalidSpecError(
      'hostname',
      name,
      'expected letters, digits, hyphens and dots, at most 64 characters',
    );
  }
  return name;
}

export function checkEnv(vars: unknown): Record<string, string> {
  if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
    throw new InvalidSpecError('env', vars, 'expected an object of string values');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    if (!ENV_NAME.test(k))
      throw new InvalidSpecError('env', k, 'a variable name may not be empty or contain = or NUL');
    if (typeof v !== 'string' || v.includes('\0')) {
      throw new InvalidSpecError(`env.${k}`, v, 'expected a string without NUL bytes');
    }
    out[k] = v;
  }
  return out;
}

/** An absolute, normalised path inside the container (not `/` unless `allowRoot`). */
export function checkContainerPath(field: string, path: unknown, allowRoot = false): string {
  if (typeof path !== 'string' || path.includes('\0'))
    throw new InvalidSpecError(field, path, 'expected a path string');
  if (!isAbsolute(path))
    throw new InvalidSpecError(field, path, 'must be an absolute path inside the container');
  if (path.split('/').includes('..'))
    throw new InvalidSpecError(field, path, "may not contain '..'");
  const n = normalize(path).replace(/\/+$/, '') || '/';
  if (n === '/' && !allowRoot)
    throw new InvalidSpecError(field, path, 'may not be the root directory');
  return n;
}

/** An existing absolute host path; `kind` checks it is a directory. */
export function checkHostPath(field: string, path: unknown, kind?: 'directory'): string {
  if (typeof path !== 'string' || path.includes('\0'))
    throw new InvalidSpecError(field, path, 'expected a path string');
  if (!isAbsolute(path)) throw new InvalidSpecError(field, path, 'must be an absolute host path');
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new InvalidSpecError(field, path, 'does not exist on the host');
  }
  if (kind === 'directory' && !isDir) throw new InvalidSpecError(field, path, 'is not a directory');
  return normalize(path);
}

export function checkId(field: string, id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
    throw new InvalidSpecError(field, id, 'expected an integer from 0 to 4294967294');
  }
  return id;
}

export function checkCapabilities(field: string, caps: unknown): Capability[] {
  if (!Array.isArray(caps))
    throw new InvalidSpecError(field, caps, 'expected an array of capability names');
  return caps.map((c) => {
    const name = typeof c === 'string' ? c.replace(/^CAP_/i, '').toUpperCase() : c;
    if (typeof name !== 'string' || !(name in CAPABILITIES)) {
      throw new InvalidSpecError(
        field,
        c,
        "unknown capability (use names like 'NET_ADMIN' or 'CAP_NET_ADMIN')",
      );
    }
    return name as Capability;
  });
}

export function checkRlimitName(name: unknown): RlimitName {
  if (typeof name !== 'string' || !(name in RLIMITS)) {
    throw new InvalidSpecError(
      'rlimit',
      name,
      `unknown resource; one of ${Object.keys(RLIMITS).join(', ')}`,
    );
  }
  return name as RlimitName;
}

export function checkRlimitValue(field: string, v: unknown): number | 'infinity' {
  if (v === 'infinity' || v === Number.POSITIVE_INFINITY) return 'infinity';
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidSpecError(field, v, "expected a non-negative integer or 'infinity'");
  }
  return v;
}
