import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import {
  type ContainerRootfs,
  prepareContainerRootfs,
  teardownContainerRootfs,
} from './container-rootfs.js';
import { ioError, OverlayError } from './errors.js';
import type { ImageConfig } from './image-config.js';
import type { CommitOptions, ImageRecord, ImageStore } from './store.js';

/** One build instruction. `run` and `copy` add a layer; the others change the config. */
export type BuildStep =
  | { kind: 'run'; argv: string[] }
  | { kind: 'copy'; src: string; dest: string }
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
  /** Executes `run` steps; required when the builder has any. */
  runner?: BuildRunner;
  /** Scratch space for run and copy steps; default the OS temp dir. */
  workDir?: string;
  /** Name for the final image. */
  name?: string;
  /** Ignore and do not record cache entries. */
  noCache?: boolean;
  /** Called once per layer step with whether the cache served it. */
  onStep?: (step: BuildStep, cached: boolean) => void;
}

/**
 * An immutable description of an image build, Dockerfile-like: every method returns a new
 * builder. Build it with {@link buildImage}. Each `run`/`copy` adds a layer; only the
 * last `cmd`/`entrypoint`/`workdir`/`user` counts; `env` and `label` accumulate.
 */
export class ImageBuilder {
  private constructor(
    readonly base: ImageRecord | string | undefined,
    readonly steps: readonly BuildStep[],
  ) {}

  /** An empty builder; start with {@link ImageBuilder.from}. */
  static create(): ImageBuilder {
    return new ImageBuilder(undefined, []);
  }

  /** The base image (record, id or name). */
  from(image: ImageRecord | string): ImageBuilder {
    return new ImageBuilder(image, this.steps);
  }
  /** Run a command in the image being built; its file changes become a layer. */
  run(argv: string[]): ImageBuilder {
    if (argv.length === 0) throw invalid('run needs a command', 'argv');
    return this.add({ kind: 'run', argv: [...argv] });
  }
  /** Copy a host file or directory to absolute `dest` in the image (owned by root). */
  copy(src: string, dest: string): ImageBuilder {
    if (!dest.startsWith('/'))
      throw invalid(`copy destination must be absolute, got ${dest}`, 'dest');
    return this.add({ kind: 'copy', src: resolve(src), dest: posix.normalize(dest) });
  }
  env(vars: Record<string, string>): ImageBuilder {
    return this.add({ kind: 'env', vars: { ...vars } });
  }
  workdir(dir: string): ImageBuilder {
    if (!dir.startsWith('/')) throw invalid(`workdir must be absolute, got ${dir}`, 'dir');
    return this.add({ kind: 'workdir', dir });
  }
  user(user: string): ImageBuilder {
    return this.add({ kind: 'user', user });
  }
  cmd(argv: string[]): ImageBuilder {
    return this.add({ kind: 'cmd', argv: [...argv] });
  }
  entrypoint(argv: string[]): ImageBuilder {
    return this.add({ kind: 'entrypoint', argv: [...argv] });
  }
  label(labels: Record<string, string>): ImageBuilder {
    return this.add({ kind: 'label', labels: { ...labels } });
  }

  private add(step: BuildStep): ImageBuilder {
    return new ImageBuilder(this.base, [...this.steps, step]);
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

/** Applies config steps on top of a config. Pure. */
export function applyConfigStep(config: ImageConfig, step: BuildStep): ImageConfig {
  switch (step.kind) {
    case 'env':
      return { ...config, env: mergeEnv(config.env, step.vars) };
    case 'workdir':
      return { ...config, workingDir: step.dir };
    case 'user':
      return { ...config, user: step.user };
    case 'cmd':
      return { ...config, cmd: step.argv };
    case 'entrypoint':
      // As Docker: a new entrypoint drops the inherited cmd.
      return { ...config, entrypoint: step.argv, cmd: [] };
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

/**
 * Builds `builder` into `store`: layer steps are served from the build cache when the
 * same step was built on the same parent before (a `copy` also keys on its content),
 * otherwise run (through `options.runner`) or copied, and committed as a layer. Config
 * steps are applied in order and written once at the end.
 */
export async function buildImage(
  store: ImageStore,
  builder: ImageBuilder,
  options: BuildOptions = {},
): Promise<ImageRecord> {
  if (builder.base === undefined) throw invalid('the build has no base image: call from()', 'from');
  if (builder.steps.some((s) => s.kind === 'run') && !options.runner) {
    throw invalid('the build has run steps but no runner was given', 'runner');
  }
  let current = await store.get(builder.base);
  let config = current.config;
  const cacheDir = join(store.root, 'build-cache');
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  for (const step of builder.steps) {
    if (step.kind !== 'run' && step.kind !== 'copy') {
      config = applyConfigStep(config, step);
      continue;
    }
    // The config so far is part of the key: a RUN sees env, workdir and user.
    const key = createHash('sha256')
      .update(
        JSON.stringify({
          parent: current.id,
          step,
          config,
          content: step.kind === 'copy' ? hostTreeDigest(step.src) : '',
        }),
      )
      .digest('hex');
    const cached = options.noCache ? undefined : readCache(cacheDir, key);
    const hit = cached && (await store.get(cached).catch(() => undefined));
    if (hit) {
      current = hit;
      options.onStep?.(step, true);
      continue;
    }
    current =
      step.kind === 'run'
        ? await runStep(store, current, step.argv, config, options)
        : await copyStep(store, current, step.src, step.dest, options.workDir ?? tmpdir());
    if (!options.noCache) fs.writeFileSync(join(cacheDir, key), current.id);
    options.onStep?.(step, false);
  }
  const changes: ConfigChanges = {
    env: config.env,
    entrypoint: config.entrypoint,
    cmd: config.cmd,
    workingDir: config.workingDir,
    user: config.user,
    labels: config.labels,
  };
  return store.configure(
    current,
    changes,
    options.name ? { name: options.name, comment: 'tsbox build' } : { comment: 'tsbox build' },
  );
}

function readCache(dir: string, key: string): string | undefined {
  try {
    return fs.readFileSync(join(dir, key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function runStep(
  store: ImageStore,
  parent: ImageRecord,
  argv: string[],
  config: ImageConfig,
  options: BuildOptions,
): Promise<ImageRecord> {
  // Not under the store's tmp/: prune() empties that, and must never meet a live rootfs.
  const work = fs.mkdtempSync(join(options.workDir ?? tmpdir(), 'tsbox-build-'));
  try {
    const rootfs = await prepareContainerRootfs(store, parent, work);
    await (options.runner as BuildRunner)({ rootfs, argv, config });
    assertUnmounted(rootfs);
    return await store.commit(rootfs.upperdir, { parent, comment: `RUN ${JSON.stringify(argv)}` });
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

async function copyStep(
  store: ImageStore,
  parent: ImageRecord,
  src: string,
  dest: string,
  workDir: string,
): Promise<ImageRecord> {
  // Not under the store's tmp/, which prune() empties.
  const upper = fs.mkdtempSync(join(workDir, 'tsbox-copy-'));
  try {
    const target = join(upper, dest);
    fs.mkdirSync(join(target, '..'), { recursive: true, mode: 0o755 });
    try {
      fs.cpSync(src, target, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    } catch (err) {
      throw ioError('build.copy', err, src);
    }
    chownTree(upper);
    return await store.commit(upper, { parent, comment: `COPY ${src} ${dest}` });
  } finally {
    fs.rmSync(upper, { recursive: true, force: true });
  }
}

/** COPY files belong to root in the image, as in Docker, whoever owns them on the host. */
function chownTree(p: string): void {
  fs.lchownSync(p, 0, 0);
  if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p)) chownTree(join(p, n));
}
