import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// A state root of our own: other test runs on this host share /run/tsbox, and the
// checks below must see only this file's containers. Set before the SDK is imported.
const stateRoot = vi.hoisted(() => {
  const dir = `/run/tsbox-build-test-${process.pid}`;
  process.env.TSBOX_STATE_DIR = dir;
  return dir;
});

import { BUSYBOX, gnuTar, makeBusyboxTree } from '../../overlay/test/fixtures/busybox-tree.js';
import {
  type BuildStep,
  BuildStepError,
  Container,
  DockerfileError,
  ImageBuilder,
  type ImageRecord,
  ImageStore,
  OverlayError,
  STATE_ROOT,
} from '../src/index.js';
import { stateEntries, tsboxInitPids } from './helpers.js';

// Real builds: RUN steps in tsbox containers on the real kernel, COPY through an overlay,
// layers committed to a store in a temp dir. The base image is made here from the host's
// static busybox: a rootfs tar imported as busybox:test with PATH=/bin.

/** overlay and tmpfs mounts that involve our temp dir or the state root. */
function ourMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - (overlay|tmpfs) /.test(l) && (l.includes(work) || l.includes(STATE_ROOT)));
}

/** Scratch dirs a build leaves in its work dir (it should leave none). */
const scratchLeft = () => fs.readdirSync(scratch).filter((n) => n.startsWith('tsbox-'));

let work: string;
let scratch: string;
let store: ImageStore;
let base: ImageRecord;

beforeAll(async () => {
  expect(STATE_ROOT).toBe(stateRoot);
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-build-'));
  scratch = join(work, 'scratch');
  fs.mkdirSync(scratch);
  const tree = join(work, 'busybox-tree');
  fs.mkdirSync(tree);
  makeBusyboxTree(tree);
  gnuTar(tree, join(work, 'busybox.tar'));
  store = new ImageStore({ root: join(work, 'store') });
  base = await store.import(join(work, 'busybox.tar'), {
    name: 'busybox:test',
    config: { env: ['PATH=/bin'] },
  });
});

afterEach(() => {
  expect(ourMounts(), 'overlay/tmpfs mounts left').toEqual([]);
  expect(stateEntries(), `entries left under ${STATE_ROOT}`).toEqual([]);
  expect(tsboxInitPids()).toEqual([]);
  expect(scratchLeft(), 'scratch dirs left').toEqual([]);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(stateRoot, { recursive: true, force: true });
});

/** A fresh build context dir with these files. */
function context(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(join(work, 'ctx-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(join(dir, name, '..'), { recursive: true });
    fs.writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Builds, recording which layer steps the cache served. */
async function build(builder: ImageBuilder, name?: string) {
  const steps: Array<[BuildStep['kind'], boolean]> = [];
  const image = await store.build(builder, {
    workDir: scratch,
    ...(name ? { name } : {}),
    onStep: (s, cached) => steps.push([s.kind, cached]),
  });
  return { image, steps };
}

const DOCKERFILE = `# a five-step app image on the test's busybox
FROM busybox:test
ARG GREETING=hello
RUN echo "$GREETING from run" > /greeting \\
    && mkdir -p /srv
COPY app/ /srv/app/
ENV APP_MODE=prod \\
    GREETING_FILE=/greeting
WORKDIR /srv
workdir app
RUN sh ./setup.sh > built.txt
CMD ["sh", "-c", "cat $GREETING_FILE built.txt; echo mode=$APP_MODE cwd=$(pwd) arg=[$GREETING] owner=$(stat -c %u setup.sh)"]
`;

describe('ImageStore.build', () => {
  it('builds the fluent example of the issue and the image runs', async () => {
    const { image, steps } = await build(
      new ImageBuilder()
        .from(base)
        .run('sh', ['-c', 'echo hi > /greeting'])
        .env({ A: '1' })
        .workdir('/srv')
        .cmd(['cat', '/greeting']),
    );
    expect(steps).toEqual([['run', false]]);
    expect(image.layers).toHaveLength(base.layers.length + 1);
    expect(image.layers.slice(0, -1)).toEqual(base.layers);
    const r = await new Container().image(image, store).run();
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi\n');
    const env = await new Container().image(image, store).run('sh', ['-c', 'echo $A $(pwd)']);
    expect(env.stdout).toBe('1 /srv\n');
  });

  it('builds a Dockerfile, serves a rebuild from the cache, and rebuilds from a changed COPY on', async () => {
    const ctx = context({
      'app/setup.sh': 'echo "setup saw $GREETING in $(pwd) as $(id -u)"\n',
      'app/data/readme': 'data\n',
    });
    const fromFile = () =>
      ImageBuilder.fromDockerfile(DOCKERFILE, ctx, { buildArgs: { GREETING: 'hi' } });

    const first = await build(fromFile(), 'tsbox/app:1');
    expect(first.steps).toEqual([
      ['run', false],
      ['copy', false],
      ['run', false],
    ]);
    expect(first.image.layers).toHaveLength(base.layers.length + 3);
    expect(first.image.names).toEqual(['tsbox/app:1']);
    expect(first.image.config).toMatchObject({
      env: ['PATH=/bin', 'APP_MODE=prod', 'GREETING_FILE=/greeting'],
      workingDir: '/srv/app',
      cmd: ['sh', '-c', expect.stringContaining('cat $GREETING_FILE')],
    });
    const r = await new Container().image('tsbox/app:1', store).run();
    expect(r.stderr).toBe('');
    // The ARG reached both RUNs but is not in the image; COPY'd files belong to root.
    expect(r.stdout).toBe(
      'hi from run\nsetup saw hi in /srv/app as 0\nmode=prod cwd=/srv/app arg=[] owner=0\n',
    );
    const tree = await new Container()
      .image('tsbox/app:1', store)
      .run('cat', ['/srv/app/data/readme']);
    expect(tree.stdout).toBe('data\n');

    // Same Dockerfile, same context: every layer step from the cache, the same image.
    const again = await build(fromFile(), 'tsbox/app:1');
    expect(again.steps).toEqual([
      ['run', true],
      ['copy', true],
      ['run', true],
    ]);
    expect(again.image.id).toBe(first.image.id);

    // A changed file in the context: the COPY and everything after it are rebuilt.
    fs.writeFileSync(join(ctx, 'app/setup.sh'), 'echo "setup v2"\n');
    const changed = await build(fromFile(), 'tsbox/app:2');
    expect(changed.steps).toEqual([
      ['run', true],
      ['copy', false],
      ['run', false],
    ]);
    expect(changed.image.id).not.toBe(first.image.id);
    expect(changed.image.layers.slice(0, base.layers.length + 1)).toEqual(
      first.image.layers.slice(0, base.layers.length + 1),
    );
    const r2 = await new Container().image(changed.image, store).run();
    expect(r2.stdout).toBe('hi from run\nsetup v2\nmode=prod cwd=/srv/app arg=[] owner=0\n');

    // A different build arg changes the first RUN: nothing after it can come from the cache.
    const other = await build(
      ImageBuilder.fromDockerfile(DOCKERFILE, ctx, { buildArgs: { GREETING: 'salut' } }),
    );
    expect(other.steps).toEqual([
      ['run', false],
      ['copy', false],
      ['run', false],
    ]);
    const r3 = await new Container().image(other.image, store).run('cat', ['/greeting']);
    expect(r3.stdout).toBe('salut from run\n');
  });

  it('a failing RUN rejects with BuildStepError and leaves no layer, image, mount or scratch dir', async () => {
    const layersBefore = (await store.layers()).map((l) => l.diffId).sort();
    const imagesBefore = (await store.list()).map((i) => i.id).sort();
    const err = await store
      .build(
        ImageBuilder.fromDockerfile(
          'FROM busybox:test\nENV A=1\nRUN echo partial > /partial; echo nope >&2; exit 3\nCMD ["true"]',
          work,
        ),
        { workDir: scratch },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err).toMatchObject({
      code: 'ERR_TSBOX_BUILD_STEP',
      stage: 'build.run',
      exitCode: 3,
      argv: ['/bin/sh', '-c', 'echo partial > /partial; echo nope >&2; exit 3'],
    });
    expect((err as Error).message).toContain('nope');
    expect((await store.layers()).map((l) => l.diffId).sort()).toEqual(layersBefore);
    expect((await store.list()).map((i) => i.id).sort()).toEqual(imagesBefore);
    expect(fs.readdirSync(join(store.root, 'tmp'))).toEqual([]);
  });

  it('COPY follows symlinks inside the image, and never out of the context', async () => {
    const ctx = context({ 'f.txt': 'file\n', 'dir/inner.txt': 'inner\n' });
    const { image } = await build(
      ImageBuilder.fromDockerfile(
        'FROM busybox:test\nRUN mkdir /srv && ln -s /srv /app\nCOPY f.txt dir /app/\nCOPY f.txt /srv/renamed',
        ctx,
      ),
    );
    const r = await new Container()
      .image(image, store)
      .run('sh', ['-c', 'readlink /app; cat /srv/f.txt /srv/inner.txt /srv/renamed; ls /bin/sh']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('/srv\nfile\ninner\nfile\n/bin/sh\n');

    // A symlink in the context that leads out of it is refused when the build reads it.
    fs.symlinkSync('/etc', join(ctx, 'escape'));
    const err = await store
      .build(ImageBuilder.fromDockerfile('FROM busybox:test\nCOPY escape/passwd /p', ctx), {
        workDir: scratch,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverlayError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_OVERLAY_UNSAFE_PATH', stage: 'build.copy' });
    expect(() => ImageBuilder.fromDockerfile('FROM busybox:test\nCOPY ../x /x', ctx)).toThrow(
      DockerfileError,
    );
  });

  it('builds FROM scratch: the COPY is the first layer', async () => {
    const ctx = fs.mkdtempSync(join(work, 'ctx-'));
    fs.mkdirSync(join(ctx, 'rootfs/bin'), { recursive: true });
    fs.copyFileSync(BUSYBOX, join(ctx, 'rootfs/bin/busybox'));
    fs.chmodSync(join(ctx, 'rootfs/bin/busybox'), 0o755);
    const { image, steps } = await build(
      ImageBuilder.fromDockerfile(
        'FROM scratch\nCOPY rootfs/ /\nRUN ["/bin/busybox", "mkdir", "/made-by-run"]\nENTRYPOINT ["/bin/busybox"]\nCMD ["ls", "/"]',
        ctx,
      ),
    );
    expect(steps).toEqual([
      ['copy', false],
      ['run', false],
    ]);
    expect(image.layers).toHaveLength(2);
    const [top, bottom] = store.layerPaths(image);
    expect(fs.readdirSync(bottom as string)).toEqual(['bin']);
    // The mount points the RUN's container needed (dev, proc, sys) are not in its layer.
    expect(fs.readdirSync(top as string)).toEqual(['made-by-run']);
    const r = await new Container().image(image, store).run();
    // The container's own mount points (dev, proc, sys) and its generated /etc (hostname,
    // hosts) come with it.
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'bin',
      'dev',
      'etc',
      'made-by-run',
      'proc',
      'sys',
    ]);
    await expect(
      store.build(ImageBuilder.fromDockerfile('FROM scratch\nRUN true', ctx)),
    ).rejects.toMatchObject({ code: 'ERR_TSBOX_OVERLAY_INVALID_OPTION', field: 'from' });
  });
});
