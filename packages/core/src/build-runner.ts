import * as fs from 'node:fs';
import { join } from 'node:path';
import type { BuildRunner } from '@tsbox/overlay';
import { Container } from './container.js';
import { TsboxError } from './errors.js';
import { resolveUser } from './image-defaults.js';

/** A `RUN` step of an image build exited non-zero or was killed. */
export class BuildStepError extends TsboxError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(
      'ERR_TSBOX_BUILD_STEP',
      'build.run',
      `build step ${JSON.stringify(argv)} exited with ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' / ') || 'no stderr'}`,
    );
    this.name = 'BuildStepError';
  }
}

/**
 * A `BuildRunner` for `buildImage()` that runs each `RUN` step in a tsbox container on the
 * step's prepared overlay (mounted by tsbox-init inside the container's namespace, so
 * nothing is left mounted when the step returns), with the image config so far: Env,
 * WorkingDir and User, as Docker's RUN does. `base` supplies everything else (timeout,
 * capabilities, limits...); its root filesystem setting is replaced.
 *
 * `ImageStore.build()` uses one made with a plain `new Container()` unless given another:
 *
 * ```ts
 * const built = await store.build(new ImageBuilder().from(img)
 *   .run('sh', ['-c', 'echo hi > /greeting']).cmd(['cat', '/greeting']),
 *   { runner: containerBuildRunner(new Container().timeout('5m')) });
 * ```
 */
export function containerBuildRunner(base: Container = new Container()): BuildRunner {
  return async ({ rootfs, argv, config }) => {
    const env: Record<string, string> = {};
    for (const e of config.env) {
      const eq = e.indexOf('=');
      if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
    }
    const { uid, gid } =
      config.user === '' ? { uid: 0, gid: 0 } : resolveUser(config, rootfs.lowerdirs);
    const box = new Container({
      ...base.spec(),
      rootfs: { kind: 'overlay', options: rootfs.options, readonly: false },
    })
      .env(env)
      .cwd(config.workingDir)
      .user(uid, gid);
    const spec = box.spec();
    // The mount points the container needs and the image lacks (a FROM scratch image has
    // no /proc): created in the upper dir by the run, they are not the step's changes.
    const targets = ['/proc', '/dev', '/sys', ...spec.mounts.map((m) => m.target)];
    targets.push(...spec.tmpfs.map((t) => t.target));
    const stubs = targets
      .map((t) => firstMissing(rootfs.lowerdirs, t))
      .filter((p): p is string => p !== undefined);
    const [command, ...args] = argv;
    try {
      const r = await box.run(command as string, args);
      if (r.exitCode !== 0) throw new BuildStepError(argv, r.exitCode, r.stderr);
    } finally {
      for (const stub of stubs) removeIfOnlyDirs(join(rootfs.upperdir, stub));
    }
  };
}

/** Whether `path` exists in the image made of `lowerdirs` (top first); whiteouts count. */
function inImage(lowerdirs: readonly string[], path: string): boolean {
  for (const layer of lowerdirs) {
    try {
      const st = fs.lstatSync(join(layer, path));
      // A 0:0 character device is a whiteout: deleted by this layer.
      return !(st.isCharacterDevice() && st.rdev === 0);
    } catch {}
  }
  return false;
}

/** The shortest prefix of absolute `path` the image lacks (`/a` for `/a/b` when no /a). */
function firstMissing(lowerdirs: readonly string[], path: string): string | undefined {
  let prefix = '';
  for (const part of path.split('/').filter(Boolean)) {
    prefix += `/${part}`;
    if (!inImage(lowerdirs, prefix)) return prefix;
  }
  return undefined;
}

/** Removes a tree made only of (empty) directories: a mount stub, not a step's work. */
function removeIfOnlyDirs(path: string): void {
  const onlyDirs = (p: string): boolean => {
    try {
      const st = fs.lstatSync(p);
      return st.isDirectory() && fs.readdirSync(p).every((n) => onlyDirs(join(p, n)));
    } catch {
      return false;
    }
  };
  if (onlyDirs(path)) fs.rmSync(path, { recursive: true, force: true });
}
