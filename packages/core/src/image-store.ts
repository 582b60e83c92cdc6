import {
  type BuildOptions,
  buildImage,
  type ImageBuilder,
  type ImageRecord,
  ImageStore as OverlayImageStore,
} from '@tsbox/overlay';
import { containerBuildRunner } from './build-runner.js';

/**
 * `@tsbox/overlay`'s image store, plus {@link ImageStore.build}, which runs `RUN` steps in
 * tsbox containers. (`@tsbox/overlay` cannot import `@tsbox/core`, so the container runner
 * is plugged in here.) Everything else — import, commit, get, remove, prune — is the
 * overlay store's; a store made by either class works with both.
 *
 * ```ts
 * import { Container, ImageBuilder, ImageStore } from '@tsbox/core';
 * const store = new ImageStore(); // /var/lib/tsbox
 * const built = await store.build(
 *   new ImageBuilder().from('busybox:latest')
 *     .run('sh', ['-c', 'echo hi > /greeting']).env({ A: '1' }).workdir('/srv')
 *     .cmd(['cat', '/greeting']),
 *   { name: 'greeter:1' },
 * );
 * const r = await new Container().image(built, store).run(); // stdout 'hi\n'
 * ```
 */
export class ImageStore extends OverlayImageStore {
  /**
   * Builds an image from `builder` (fluent, or `ImageBuilder.fromDockerfile()`) into this
   * store, with the build cache: see `buildImage()` in `@tsbox/overlay`. `RUN` steps run
   * in containers made by `options.runner`, default `containerBuildRunner()` (a plain
   * `new Container()`; pass `containerBuildRunner(new Container().timeout('10m'))` and
   * the like for limits).
   *
   * @throws BuildStepError `ERR_TSBOX_BUILD_STEP` when a `RUN` step exits non-zero; the
   *   failed step leaves no layer, mount or scratch directory behind.
   * @throws DockerfileError, OverlayError for an invalid build, before anything runs.
   */
  build(builder: ImageBuilder, options: BuildOptions = {}): Promise<ImageRecord> {
    return buildImage(this, builder, {
      ...options,
      runner: options.runner ?? containerBuildRunner(),
    });
  }
}
