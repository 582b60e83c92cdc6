import { type Digest, isDigest } from './digest.js';
import { OverlayError } from './errors.js';

/**
 * The run defaults an image carries (the `config` object of the OCI image config, which
 * Docker's uses too). `@tsbox/core` applies them as defaults the builder overrides, as
 * Docker does: an explicit command replaces `cmd`; an explicit entrypoint replaces
 * `entrypoint` and drops `cmd`; explicit env entries override same-named ones.
 */
export interface ImageConfig {
  /** `NAME=value` strings, in image order. */
  env: string[];
  /** Entrypoint argv; empty when the image has none. */
  entrypoint: string[];
  /** Default arguments (or command when there is no entrypoint); empty when none. */
  cmd: string[];
  /** Absolute working directory, or `'/'` when unset. */
  workingDir: string;
  /** `user`, `uid`, `user:group` or `uid:gid`; `''` means root. */
  user: string;
  /** Labels, for information only. */
  labels: Record<string, string>;
  /** Ports the image declares (`'80/tcp'`), for information only. */
  exposedPorts: string[];
  /** Signal to stop the workload with (`'SIGTERM'` when unset). */
  stopSignal: string;
}

/** The parts of an OCI/Docker image config JSON this package reads. */
export interface ParsedImageConfigBlob {
  config: ImageConfig;
  /** Layer diffIDs (sha256 of the uncompressed tars), bottom layer first. */
  diffIds: Digest[];
  architecture: string;
  os: string;
}

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    'import.config',
    `image config field ${field} must be an array of strings`,
    { field },
  );
}

function str(v: unknown, fallback: string, field: string): string {
  if (v === undefined || v === null || v === '') return fallback;
  if (typeof v === 'string') return v;
  throw new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    'import.config',
    `image config field ${field} must be a string`,
    { field },
  );
}

/** Builds an {@link ImageConfig} from the `config` object of an image config (may be absent). */
export function toImageConfig(raw: unknown): ImageConfig {
  const c = (raw ?? {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (c.Labels && typeof c.Labels === 'object') {
    for (const [k, v] of Object.entries(c.Labels as Record<string, unknown>)) {
      if (typeof v === 'string') labels[k] = v;
    }
  }
  return {
    env: strings(c.Env, 'config.Env'),
    entrypoint: strings(c.Entrypoint, 'config.Entrypoint'),
    cmd: strings(c.Cmd, 'config.Cmd'),
    workingDir: str(c.WorkingDir, '/', 'config.WorkingDir'),
    user: str(c.User, '', 'config.User'),
    labels,
    exposedPorts:
      c.ExposedPorts && typeof c.ExposedPorts === 'object' ? Object.keys(c.ExposedPorts) : [],
    stopSignal: str(c.StopSignal, 'SIGTERM', 'config.StopSignal'),
  };
}

/** Parses an image config blob (JSON bytes) as found in docker save archives and OCI layouts. */
export function parseImageConfigBlob(json: Buffer | string): ParsedImageConfigBlob {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(json.toString()) as Record<string, unknown>;
  } catch (err) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.config',
      'image config is not valid JSON',
      { cause: err },
    );
  }
  if (!doc || typeof doc !== 'object') {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.config',
      'image config is not an object',
    );
  }
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  const ids = rootfs?.diff_ids;
  if (!Array.isArray(ids) || !ids.every(isDigest)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.config',
      'image config has no valid rootfs.diff_ids list',
      { field: 'rootfs.diff_ids' },
    );
  }
  return {
    config: toImageConfig(doc.config),
    diffIds: ids,
    architecture: typeof doc.architecture === 'string' ? doc.architecture : 'amd64',
    os: typeof doc.os === 'string' ? doc.os : 'linux',
  };
}

/** Docker's rule for the process argv: entrypoint followed by cmd. */
export function defaultArgv(config: ImageConfig): string[] {
  return [...config.entrypoint, ...config.cmd];
}

/**
 * A minimal OCI image config for layers that came without one (a plain rootfs tar).
 * Key order is fixed so the same layers always give the same image id.
 */
export function synthesizeConfigBlob(diffIds: Digest[], config: Partial<ImageConfig> = {}): string {
  const c: Record<string, unknown> = {};
  if (config.env?.length) c.Env = config.env;
  if (config.entrypoint?.length) c.Entrypoint = config.entrypoint;
  if (config.cmd?.length) c.Cmd = config.cmd;
  if (config.workingDir && config.workingDir !== '/') c.WorkingDir = config.workingDir;
  if (config.user) c.User = config.user;
  return JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: c,
    rootfs: { type: 'layers', diff_ids: diffIds },
  });
}
