import * as fs from 'node:fs';
import { OverlayError } from './errors.js';

/** Reads and parses a JSON file of an image archive, with typed errors for each failure. */
export function readJsonFile(
  path: string,
  stage: string,
  what: string,
): { raw: Buffer; doc: unknown } {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(path);
  } catch (err) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      stage,
      `${what} is missing: ${path}`,
      { path, errno: (err as NodeJS.ErrnoException).code, cause: err },
    );
  }
  try {
    return { raw, doc: JSON.parse(raw.toString('utf8')) };
  } catch (err) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      stage,
      `${what} is not valid JSON: ${path}`,
      {
        path,
        cause: err,
      },
    );
  }
}

/** Joins `rel` under `dir`, refusing names that would leave it (archives are untrusted). */
export function insideDir(dir: string, rel: unknown, stage: string, field: string): string {
  if (
    typeof rel !== 'string' ||
    rel === '' ||
    rel.startsWith('/') ||
    rel.split('/').includes('..')
  ) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      stage,
      `${field} must be a relative path inside the archive, got ${JSON.stringify(rel)}`,
      { field, value: String(rel) },
    );
  }
  return `${dir}/${rel}`;
}
