import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve, sep } from 'node:path';
import {
  type ContainerRootfs,
  mountContainerRootfs,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from './container-rootfs.js';
import { type DockerfileOptions, parseDockerfile } from './dockerfile.js';
import { ioError, OverlayError } from './errors.js';
import { type ImageConfig, toImageConfig } from './image-config.js';
import { unmount } from './overlay-mount.js';
import type { CommitOptions, ImageRecord, ImageStore } from './store.js';

/** The base of an image built from nothing, as Docker's `FROM scratch`. */
export const SCRATCH = 'scratch';

/** One build instruction. `run` and `copy` add a layer; the others change the config. */
export type BuildStep =
  | {
      kind: 'run';
      argv: string[];
      /** Build-time environment (Dockerfile ARGs): seen by this step, not kept in the image. */
      env?: Record<string, string>;
    }
  | {
      kind: 'copy';
      /** Host paths; relative to `context` when it is set, else absolute. */
      sources: string[];
      /** Where in the image; relative to the working dir; a trailing `/` means a directory. */
      dest: string;
      /** The build context the sources must stay inside (symlinks included). */
      context?: string;
    }
  | { kind: 'env'; vars: Record<string, string> }
  | { kind: 'workdir'; dir: string }
  | { kind: 'user'; user: string }
  | { kind: 'cmd'; argv: string[] }
  | { kind: 'entrypoint'; argv: string[] }
  | { kind: 'label'; labels: Record<string, string> };

/**
 * Runs a `run` step: executes `argv` with `config` (env, workdir, user) in a container
 * whose root is the prepared, not yet mounted, `rootfs`; everything written lands in
 * `rootfs.upperdir`, which the builder commits as the step's layer. `@tsbox/core` supplies
 * one that runs a real container; the runner mounts the overlay (or has tsbox-init do it)
 * and must unmount it before returning. Rejects when the command fails.
 */
export type BuildRunner = (job: {
  rootfs: ContainerRootfs;
  argv: string[];
  config: ImageConfig;
}) => Promise<void>;

/** Options of {@link buildImage}. */
export interface BuildOptions {
  /**
   * Executes `run` steps; required when the builder has any. `@tsbox/core`'s
   * `ImageStore.build()` defaults it to `containerBuildRunner()`.
   */
  runner?: BuildRunner;
  /** Scratch space for run and copy steps; default the OS temp dir. */
  workDir?: string;
  /** Name for the final image. */
  name?: string;
  /** Ignore and do not record cache entries. */
  noCache?: boolean;
  /** Called once per layer step (`run`, `copy`), in order, with whether the cache served it. */
  onStep?: (step: BuildStep, cached: boolean) => void;
}

/** Options of {@link ImageBuilder.run}. */
export interface RunStepOptions {
  /** Environment for this step only, not kept in the image (what a Dockerfile ARG does). */
  env?: Record<string, string>;
}

/** Options of {@link ImageBuilder.copy}. */
export interface CopyOptions {
  /**
   * A build context directory: sources are relative to it (a leading `/` too) and must
   * not leave it, neither by `..` nor through a symlink. Without it sources are host paths.
   */
  context?: string;
}

/**
 * An immutable description of an image build, Dockerfile-like: every method returns a new
 * builder. Build it with `ImageStore.build()` (`@tsbox/core`) or {@link buildImage}.
 *
 * - Each `run`/`copy` adds a layer; a layer step is taken from the build cache when the
 *   same step (a `copy` keyed on its files' content) was built before on the same parent
 *   with the same config, so a changed step rebuilds itself and every layer after it.
 * - Only the last `cmd`/`entrypoint`/`workdir`/`user` counts; `env` and `label`
 *   accumulate (a variable set again is replaced in place).
 * - Docker's rules: `entrypoint` drops a `cmd` inherited from the base image but keeps
 *   one set earlier in this build; a relative `workdir` or `copy` destination is relative
 *   to the working dir so far; `run` steps see the env, working dir and user so far.
 *
 * ```ts
 * const b = new ImageBuilder()
 *   .from('busybox:latest') // or an ImageRecord, an id, or 'scratch'
 *   .run('sh', ['-c', 'echo hi > /greeting'])
 *   .env({ A: '1' })
 *   .workdir('/srv')
 *   .copy('./app', '/srv/app')
 *   .cmd(['cat', '/greeting']);
 * ```
 */
export class ImageBuilder {
  #base: ImageRecord | string | undefined = undefined;
  #steps: readonly BuildStep[] = [];

  /** An empty builder, same as `new ImageBuilder()`; start with {@link ImageBuilder.from}. */
  static create(): ImageBuilder {
    return new ImageBuilder();
  }

  /**
   * A builder for a Dockerfile (see {@link parseDockerfile} for what is supported). COPY
   * sources are taken from `contextDir`; `FROM` is resolved in the store at build time.
   *
   * @throws DockerfileError `ERR_TSBOX_DOCKERFILE` naming the line and instruction, for
   *   syntax errors and unsupported instructions, before anything is built.
   * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` when `contextDir` is not a directory.
   */
  static fromDockerfile(
    text: string,
    contextDir: string,
    options: DockerfileOptions = {},
  ): ImageBuilder {
    const parsed = parseDockerfile(text, options);
    const context = resolve(contextDir);
    let isDir = false;
    try {
      isDir = fs.statSync(context).isDirectory();
    } catch {}
    if (!isDir) throw invalid(`build context ${context} is not a directory`, 'contextDir');
    const steps = parsed.steps.map((s): BuildStep => (s.kind === 'copy' ? { ...s, context } : s));
    return new ImageBuilder().#derive(parsed.from, steps);
  }

  /** The base image: a record, an id, a name, or {@link SCRATCH}; unset until `from()`. */
  get base(): ImageRecord | string | undefined {
    return this.#base;
  }
  /** The steps, in order. */
  get steps(): readonly BuildStep[] {
    return this.#steps;
  }

  /** The base image (record, id or name, resolved at build time), or `'scratch'` for none. */
  from(image: ImageRecord | string): ImageBuilder {
    if (typeof image === 'string' && image === '') throw invalid('from needs an image', 'from');
    return this.#derive(image, this.#steps);
  }

  /**
   * Run a command in the image being built; its file changes become a layer. Takes an
   * argv (`run(['sh', '-c', 'make'])`) or a command and its arguments
   * (`run('sh', ['-c', 'make'])`); no shell is involved unless you run one.
   */
  run(argv: readonly string[], options?: RunStepOptions): ImageBuilder;
  run(command: string, args?: readonly string[], options?: RunStepOptions): ImageBuilder;
  run(
    first: string | readonly string[],
    second?: readonly string[] | RunStepOptions,
    third?: RunStepOptions,
  ): ImageBuilder {
    let argv: string[];
    let options: RunStepOptions | undefined;
    if (typeof first === 'string') {
      if (second !== undefined && !Array.isArray(second)) {
        throw invalid('run(command, args): args must be an array of strings', 'args');
      }
      argv = [first, ...((second as readonly string[] | undefined) ?? [])];
      options = third;
    } else {
      if (!Array.isArray(first)) throw invalid('run needs a command', 'argv');
      argv = [...first];
      options = second as RunStepOptions | undefined;
    }
    if (argv.length === 0 || argv[0] === '') throw invalid('run needs a command', 'argv');
    if (!argv.every((a) => typeof a === 'string')) {
      throw invalid('run arguments must be strings', 'argv');
    }
    const env = options?.env;
    if (env === undefined) return this.#add({ kind: 'run', argv });
    checkVars(env, 'env');
    return this.#add({ kind: 'run', argv, env: { ...env } });
  }

  /**
   * Copy host files into the image, owned by root, modes and mtimes kept. A directory
   * source copies its contents; a file source goes to `dest`, or into it when `dest` ends
   * with `/` or is a directory in the image. Several sources need a `dest` ending in `/`.
   * A relative `dest` is relative to the working dir. Symlinks in `dest` are followed
   * inside the image, never out to the host.
   */
  copy(src: string | readonly string[], dest: string, options: CopyOptions = {}): ImageBuilder {
    const list = typeof src === 'string' ? [src] : [...src];
    if (list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) {
      throw invalid('copy needs at least one source path', 'src');
    }
    if (typeof dest !== 'string' || dest === '') throw invalid('copy needs a destination', 'dest');
    if (list.length > 1 && !dest.endsWith('/')) {
      throw invalid(
        `with more than one source the destination must end with /, got ${dest}`,
        'dest',
      );
    }
    const normDest = posix.normalize(dest);
    if (options.context === undefined) {
      return this.#add({ kind: 'copy', sources: list.map((s) => resolve(s)), dest: normDest });
    }
    const sources = list.map((s) => {
      const rel = posix.normalize(s.replace(/^\/+/, '') || '.').replace(/(.)\/+$/, '$1');
      if (rel === '..' || rel.startsWith('../')) {
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_UNSAFE_PATH',
          'build.spec',
          `copy source ${s} is outside the build context`,
          { path: s, field: 'src' },
        );
      }
      return rel;
    });
    return this.#add({ kind: 'copy', sources, dest: normDest, context: resolve(options.context) });
  }
  /** Set environment variables in the image (and for later `run` steps). */
  env(vars: Record<string, string>): ImageBuilder {
    checkVars(vars, 'env');
    return this.#add({ kind: 'env', vars: { ...vars } });
  }
  /** The working dir of later `run` steps and of the image; relative to the previous one. */
  workdir(dir: string): ImageBuilder {
    if (typeof dir !== 'string' || dir === '') throw invalid('workdir needs a path', 'dir');
    return this.#add({ kind: 'workdir', dir });
  }
  /** The user of later `run` steps and of the image: `name`, `uid`, `user:group`, `uid:gid`. */
  user(user: string): ImageBuilder {
    if (typeof user !== 'string' || /\s/.test(user)) throw invalid(`bad user ${user}`, 'user');
    return this.#add({ kind: 'user', user });
  }
  /** The image's default command (arguments, when there is an entrypoint). */
  cmd(argv: readonly string[]): ImageBuilder {
    return this.#add({ kind: 'cmd', argv: strings(argv, 'cmd') });
  }
  /** The image's entrypoint; drops a `cmd` inherited from the base image. */
  entrypoint(argv: readonly string[]): ImageBuilder {
    return this.#add({ kind: 'entrypoint', argv: strings(argv, 'entrypoint') });
  }
  /** Add labels to the image. */
  label(labels: Record<string, string>): ImageBuilder {
    return this.#add({ kind: 'label', labels: { ...labels } });
  }

  #derive(base: ImageRecord | string | undefined, steps: readonly BuildStep[]): ImageBuilder {
    const b = new ImageBuilder();
    b.#base = base;
    b.#steps = steps;
    return b;
  }

  #add(step: BuildStep): ImageBuilder {
    return this.#derive(this.#base, [...this.#steps, step]);
  }
}

function strings(argv: readonly string[], field: string): string[] {
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    throw invalid(`${field} must be an array of strings`, field);
  }
  return [...argv];
}

function checkVars(vars: Record<string, string>, field: string): void {
  for (const [k, v] of Object.entries(vars ?? {})) {
    if (!/^[^=\0]+$/.test(k) || typeof v !== 'string') {
      throw invalid(`bad environment variable ${JSON.stringify(k)}`, field);
    }
  }
}

function invalid(message: string, field: string): OverlayError {
  return new OverlayError('ERR_TSBOX_OVERLAY_INVALID_OPTION', 'build.spec', message, { field });
}

/** Docker's ENV rule: a variable set again replaces the earlier entry in place. Pure. */
export function mergeEnv(env: string[], vars: Record<string, string>): string[] {
  const out = [...env];
  for (const [k, v] of Object.entries(vars)) {
    const i = out.findIndex((e) => e.split('=')[0] === k);
    if (i >= 0) out[i] = `${k}=${v}`;
    else out.push(`${k}=${v}`);
  }
  return out;
}

type ConfigChanges = NonNullable<CommitOptions['config']>;

/**
 * Applies a config step on top of a config. `cmdSet`: whether this build set a cmd
 * before, which a new entrypoint then keeps (Docker drops only an inherited one). Pure.
 */
export function applyConfigStep(config: ImageConfig, step: BuildStep, cmdSet = false): ImageConfig {
  switch (step.kind) {
    case 'env':
      return { ...config, env: mergeEnv(config.env, step.vars) };
    case 'workdir':
      return { ...config, workingDir: posix.resolve(config.workingDir || '/', step.dir) };
    case 'user':
      return { ...config, user: step.user };
    case 'cmd':
      return { ...config, cmd: step.argv };
    case 'entrypoint':
      return { ...config, entrypoint: step.argv, cmd: cmdSet ? config.cmd : [] };
    case 'label':
      return { ...config, labels: { ...config.labels, ...step.labels } };
    default:
      return config;
  }
}

/** A digest of a host file tree (names, modes, contents), so COPY caches on content. */
function hostTreeDigest(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, rel: string) => {
    const st = fs.lstatSync(p);
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
    else if (st.isFile()) h.update(fs.readFileSync(p));
    else if (st.isDirectory())
      for (const n of fs.readdirSync(p).sort()) walk(join(p, n), `${rel}/${n}`);
  };
  try {
    walk(path, '');
  } catch (err) {
    throw ioError('build.copy', err, path);
  }
  return h.digest('hex');
}

/** A copy step with its sources found on the host and its destination made absolute. */
interface ResolvedCopy {
  /** `path`: the real host path to read; `name`: the name it is copied under. */
  sources: Array<{ path: string; name: string }>;
  /** Absolute path in the image. */
  dest: string;
  /** `dest` is a directory to copy into (trailing `/` or several sources). */
  intoDir: boolean;
}

/**
 * Finds a copy step's sources. Within a context each source's real path (all symlinks
 * followed) must stay inside the context's real path: a link out of it is refused, as is
 * `..`. A source that is a symlink is followed, as Docker follows it.
 */
function resolveCopy(
  step: Extract<BuildStep, { kind: 'copy' }>,
  config: ImageConfig,
): ResolvedCopy {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch (err) {
      throw ioError('build.copy', err, p);
    }
  };
  const ctx = step.context === undefined ? undefined : real(step.context);
  const sources = step.sources.map((src) => {
    const path = real(ctx === undefined ? src : join(ctx, src));
    if (ctx !== undefined && path !== ctx && !path.startsWith(ctx + sep)) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_UNSAFE_PATH',
        'build.copy',
        `copy source ${src} leads outside the build context ${ctx} (to ${path})`,
        { path: src, value: path },
      );
    }
    return { path, name: basename(src) };
  });
  return {
    sources,
    dest: posix.resolve(config.workingDir || '/', step.dest),
    intoDir: step.dest.endsWith('/') || step.sources.length > 1,
  };
}

function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * Builds `builder` into `store`. A layer step (`run`, `copy`) is taken from the build
 * cache when the same step was built before on the same parent image with the same config
 * so far (a `copy` is keyed on its destination and its files' names, modes and content,
 * not on where they are on the host); otherwise it is run (through `options.runner`) or
 * copied, and committed as a layer. A miss gives a new parent, so every later layer step
 * misses too. Config steps are applied in order and written once at the end, as an image
 * that is cached as well: building the same thing twice returns the same image id.
 *
 * A failing step rejects (for `run`, with the runner's error) and leaves no layer, image,
 * mount or scratch directory of that step behind; layers of earlier steps stay, cached.
 *
 * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` before anything is done for a
 *   builder without `from()`, `run` steps without a runner, or a build from `scratch`
 *   whose first layer step is not a `copy`.
 */
export async function buildImage(
  store: ImageStore,
  builder: ImageBuilder,
  options: BuildOptions = {},
): Promise<ImageRecord> {
  const { base, steps } = builder;
  if (base === undefined) throw invalid('the build has no base image: call from()', 'from');
  if (steps.some((s) => s.kind === 'run') && !options.runner) {
    throw invalid('the build has run steps but no runner was given', 'runner');
  }
  const fromScratch = base === SCRATCH;
  const firstLayer = steps.find((s) => s.kind === 'run' || s.kind === 'copy');
  if (fromScratch && firstLayer?.kind !== 'copy') {
    throw invalid(
      firstLayer
        ? 'a build from scratch has nothing to run a command in: COPY files first'
        : 'a build from scratch needs at least one copy step',
      'from',
    );
  }
  let current = fromScratch ? undefined : await store.get(base);
  let config = current?.config ?? toImageConfig({});
  let cmdSet = false;
  const cacheDir = join(store.root, 'build-cache');
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const lookup = async (key: string) => {
    const cached = options.noCache ? undefined : readCache(cacheDir, key);
    return cached ? await store.get(cached).catch(() => undefined) : undefined;
  };
  for (const step of steps) {
    if (step.kind !== 'run' && step.kind !== 'copy') {
      config = applyConfigStep(config, step, cmdSet);
      if (step.kind === 'cmd') cmdSet = true;
      continue;
    }
    const copy = step.kind === 'copy' ? resolveCopy(step, config) : undefined;
    // The config so far is part of the key: a RUN sees env, workdir and user.
    const key = cacheKey({
      parent: current?.id ?? SCRATCH,
      config,
      step: copy
        ? {
            kind: 'copy',
            dest: copy.dest,
            intoDir: copy.intoDir,
            content: copy.sources.map((s) => [s.name, hostTreeDigest(s.path)]),
          }
        : step,
    });
    const hit = await lookup(key);
    if (hit) {
      current = hit;
      options.onStep?.(step, true);
      continue;
    }
    const workDir = options.workDir ?? tmpdir();
    current = copy
      ? await copyStep(store, current, copy, workDir)
      : await runStep(store, current as ImageRecord, step as RunStep, config, options);
    if (!options.noCache) writeCache(cacheDir, key, current.id);
    options.onStep?.(step, false);
  }
  const image = current as ImageRecord;
  const changes: ConfigChanges = {
    env: config.env,
    entrypoint: config.entrypoint,
    cmd: config.cmd,
    workingDir: config.workingDir,
    user: config.user,
    labels: config.labels,
  };
  // The final config is cached too: configure() stamps a creation time into the config
  // blob, so writing it again would give a new image id for the same build.
  const key = cacheKey({ parent: image.id, changes, name: options.name ?? null });
  const hit = await lookup(key);
  // A name moved to another image since makes the cached one no longer the answer.
  if (hit && (options.name === undefined || hit.names.includes(options.name))) return hit;
  const built = await store.configure(
    image,
    changes,
    options.name ? { name: options.name, comment: 'tsbox build' } : { comment: 'tsbox build' },
  );
  if (!options.noCache) writeCache(cacheDir, key, built.id);
  return built;
}

type RunStep = Extract<BuildStep, { kind: 'run' }>;

function readCache(dir: string, key: string): string | undefined {
  try {
    return fs.readFileSync(join(dir, key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Atomic, so a concurrent build never reads half an id. */
function writeCache(dir: string, key: string, id: string): void {
  const tmp = join(dir, `.${key}.${randomBytes(6).toString('hex')}`);
  try {
    fs.writeFileSync(tmp, id);
    fs.renameSync(tmp, join(dir, key));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw ioError('build.cache', err, join(dir, key));
  }
}

async function runStep(
  store: ImageStore,
  parent: ImageRecord,
  step: RunStep,
  config: ImageConfig,
  options: BuildOptions,
): Promise<ImageRecord> {
  // Build-time variables (ARGs) go under the image's env: ENV wins, as in Docker.
  const env = [...config.env];
  for (const [k, v] of Object.entries(step.env ?? {})) {
    if (!env.some((e) => e.split('=')[0] === k)) env.push(`${k}=${v}`);
  }
  // Not under the store's tmp/: prune() empties that, and must never meet a live rootfs.
  const work = fs.mkdtempSync(join(options.workDir ?? tmpdir(), `tsbox-build-${process.pid}-`));
  try {
    const rootfs = await prepareContainerRootfs(store, parent, work);
    await (options.runner as BuildRunner)({ rootfs, argv: step.argv, config: { ...config, env } });
    assertUnmounted(rootfs);
    return await store.commit(rootfs.upperdir, {
      parent,
      comment: `RUN ${JSON.stringify(step.argv)}`,
    });
  } finally {
    teardownContainerRootfs(work);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The runner should unmount, but a commit must never read an upper dir still in use. */
function assertUnmounted(rootfs: ContainerRootfs): void {
  const mounted = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === rootfs.mergedDir);
  if (mounted) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION',
      'build.run',
      `the runner left ${rootfs.mergedDir} mounted`,
      {
        path: rootfs.mergedDir,
      },
    );
  }
}

/**
 * A copy step. The files are written into the parent image's overlay, mounted on the
 * host for the copy (unmounted before the commit), so directories that exist in the image
 * keep their modes and symlinks in the destination path resolve as in the image. From
 * scratch there is nothing to mount: the files go into an empty directory.
 */
async function copyStep(
  store: ImageStore,
  parent: ImageRecord | undefined,
  copy: ResolvedCopy,
  workDir: string,
): Promise<ImageRecord> {
  // Not under the store's tmp/, which prune() empties.
  const work = fs.mkdtempSync(join(workDir, `tsbox-copy-${process.pid}-`));
  let rootfs: ContainerRootfs | undefined;
  try {
    let root: string;
    let upper: string;
    if (parent) {
      rootfs = await prepareContainerRootfs(store, parent, work);
      mountContainerRootfs(rootfs);
      root = rootfs.mergedDir;
      upper = rootfs.upperdir;
    } else {
      root = upper = join(work, 'root');
      fs.mkdirSync(root, { mode: 0o755 });
    }
    try {
      copyInto(root, copy);
    } finally {
      if (rootfs) unmount(rootfs.mergedDir);
    }
    const names = copy.sources.map((s) => s.name).join(' ');
    return await store.commit(upper, {
      ...(parent ? { parent } : {}),
      comment: `COPY ${names} ${copy.dest}`,
    });
  } finally {
    if (rootfs) teardownContainerRootfs(work);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `path` (absolute, in the image) as a host path under `root`, with symlinks of the
 * components that exist resolved inside `root`: an absolute link target starts again at
 * `root`, and `..` stops there, so nothing resolves to a host path outside the image.
 */
function resolveInRoot(root: string, path: string): string {
  const todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(here);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('build.copy', err, here);
    }
    if (st?.isSymbolicLink()) {
      if (++links > 40) {
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_IO',
          'build.copy',
          `too many symlinks in ${path}`,
          {
            path,
            errno: 'ELOOP',
          },
        );
      }
      const target = fs.readlinkSync(here);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

function copyInto(root: string, copy: ResolvedCopy): void {
  const target = resolveInRoot(root, copy.dest);
  let targetIsDir = false;
  try {
    targetIsDir = fs.statSync(target).isDirectory();
  } catch {}
  for (const src of copy.sources) {
    try {
      if (fs.statSync(src.path).isDirectory()) {
        // A directory's contents are copied, not the directory itself (as Docker).
        fs.mkdirSync(target, { recursive: true, mode: 0o755 });
        for (const n of fs.readdirSync(src.path)) copyTree(join(src.path, n), join(target, n));
      } else {
        const to = copy.intoDir || targetIsDir ? join(target, src.name) : target;
        fs.mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
        copyTree(src.path, to);
      }
    } catch (err) {
      throw ioError('build.copy', err, src.path);
    }
  }
}

/**
 * Copies a host tree, owned by root in the image as Docker does, with modes and mtimes.
 * Existing directories are merged into and keep their own metadata, so copying into
 * `/etc` does not copy up everything already there.
 */
function copyTree(src: string, dst: string): void {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    let existing: fs.Stats | undefined;
    try {
      existing = fs.lstatSync(dst);
    } catch {}
    if (existing && !existing.isDirectory()) fs.rmSync(dst);
    if (!existing?.isDirectory()) fs.mkdirSync(dst, { mode: 0o700 });
    for (const n of fs.readdirSync(src)) copyTree(join(src, n), join(dst, n));
    if (!existing?.isDirectory()) {
      fs.lchownSync(dst, 0, 0);
      fs.chmodSync(dst, st.mode & 0o7777);
      fs.utimesSync(dst, st.atime, st.mtime);
    }
    return;
  }
  if (st.isSymbolicLink()) {
    fs.rmSync(dst, { force: true });
    fs.symlinkSync(fs.readlinkSync(src), dst);
    fs.lchownSync(dst, 0, 0);
    fs.lutimesSync(dst, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_UNSUPPORTED',
      'build.copy',
      `${src} is not a regular file, directory or symlink`,
      { path: src },
    );
  }
  try {
    if (fs.lstatSync(dst).isSymbolicLink()) fs.rmSync(dst);
  } catch {}
  fs.copyFileSync(src, dst);
  fs.lchownSync(dst, 0, 0);
  // After the chown, which clears setuid/setgid bits.
  fs.chmodSync(dst, st.mode & 0o7777);
  fs.utimesSync(dst, st.atime, st.mtime);
}
