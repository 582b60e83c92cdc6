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
 * ```ts
 * const built = await buildImage(store, ImageBuilder.create().from(img)
 *   .run(['sh', '-c', 'echo hi > /greeting']).cmd(['cat', '/greeting']),
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
    const [command, ...args] = argv;
    const r = await box.run(command as string, args);
    if (r.exitCode !== 0) throw new BuildStepError(argv, r.exitCode, r.stderr);
  };
}
