import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageConfig, type ImageRecord, ImageStore } from '@tsbox/overlay';
import { InvalidSpecError } from './errors.js';
import type { ContainerSpec, ImageRootfsSpec } from './spec.js';
import { checkContainerPath } from './validate.js';

// An image's run defaults (Env, Entrypoint, Cmd, WorkingDir, User) applied under the
// builder's settings, with Docker's precedence. Resolved when the container starts,
// because a name may be (re)tagged between building the spec and running it.

const stores = new Map<string, ImageStore>();

/** One `ImageStore` per root per process: opening one is cheap, but there is no need twice. */
export function storeAt(root: string): ImageStore {
  let s = stores.get(root);
  if (!s) {
    s = new ImageStore({ root });
    stores.set(root, s);
  }
  return s;
}

/** What the pipeline runs once an image's defaults are applied. */
export interface ImageStart {
  /** The spec with image defaults filled in; `rootfs.image` is the resolved image id. */
  spec: ContainerSpec;
  argv: string[];
  image: ImageRecord;
}

/**
 * Docker's rules: the argv is entrypoint + (explicit command, else the image's cmd); an
 * explicit entrypoint drops the image's cmd; env entries override same-named image ones;
 * an explicit cwd or user overrides WorkingDir / User.
 */
export async function resolveImageStart(
  spec: ContainerSpec,
  command: readonly string[] | undefined,
): Promise<ImageStart> {
  const rootfs = spec.rootfs as ImageRootfsSpec;
  const store = storeAt(rootfs.storeRoot);
  const image = await store.get(rootfs.image);
  const config = image.config;
  const entrypoint = rootfs.entrypoint ?? config.entrypoint;
  const rest = command ?? (rootfs.entrypoint === undefined ? config.cmd : []);
  const argv = [...entrypoint, ...rest];
  if (argv.length === 0 || argv[0] === '') {
    throw new InvalidSpecError(
      'command',
      image.names[0] ?? image.id,
      'the image has no entrypoint or cmd: give run() or start() a command',
    );
  }
  const env: Record<string, string> = {};
  for (const e of config.env) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  let { cwd, uid, gid, groups } = spec;
  if (!spec.explicit?.cwd && config.workingDir !== '/')
    cwd = checkContainerPath('image WorkingDir', config.workingDir, true);
  if (!spec.explicit?.user && config.user !== '') {
    ({ uid, gid } = resolveUser(config, store.layerPaths(image)));
  }
  return {
    spec: {
      ...spec,
      env: { ...env, ...spec.env },
      cwd,
      uid,
      gid,
      groups,
      rootfs: { ...rootfs, image: image.id },
    },
    argv,
    image,
  };
}

/** Finds `name` in the topmost layer that has the file (whiteouts aside: good enough for passwd). */
function readFromLayers(lowerdirs: readonly string[], path: string): string | undefined {
  for (const dir of lowerdirs) {
    const p = join(dir, path);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  return undefined;
}

function lookup(file: string | undefined, name: string): string[] | undefined {
  for (const line of file?.split('\n') ?? []) {
    const f = line.split(':');
    if (f[0] === name) return f;
  }
  return undefined;
}

/**
 * The image's `User` (`name`, `uid`, `name:group`, `uid:gid`) as numbers, looked up in
 * the image's own /etc/passwd and /etc/group, as Docker does. A numeric uid absent from
 * passwd runs with gid 0.
 */
export function resolveUser(
  config: Pick<ImageConfig, 'user'>,
  lowerdirs: readonly string[],
): { uid: number; gid: number } {
  const [user = '', group] = config.user.split(':');
  let passwd: string | undefined;
  const readPasswd = () => {
    passwd ??= readFromLayers(lowerdirs, 'etc/passwd') ?? '';
    return passwd;
  };
  let uid: number;
  let gid = 0;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    const entry = readPasswd()
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[2] === user);
    if (entry) gid = Number(entry[3]);
  } else {
    const entry = lookup(readPasswd(), user);
    if (!entry) throw new InvalidSpecError('image User', config.user, 'no such user in the image');
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (group !== undefined && group !== '') {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const entry = lookup(readFromLayers(lowerdirs, 'etc/group'), group);
      if (!entry)
        throw new InvalidSpecError('image User', config.user, 'no such group in the image');
      gid = Number(entry[2]);
    }
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new InvalidSpecError('image User', config.user, 'unreadable user or group entry');
  return { uid, gid };
}
