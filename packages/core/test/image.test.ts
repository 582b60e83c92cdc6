import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// A state root of our own: other test runs on this host share /run/tsbox, and the
// checks below must see only this file's containers. Set before the SDK is imported.
const stateRoot = vi.hoisted(() => {
  const dir = `/run/tsbox-image-test-${process.pid}`;
  process.env.TSBOX_STATE_DIR = dir;
  return dir;
});

// The image fixtures are @tsbox/overlay's own, built from /bin/busybox.
import { makeBusyboxTree } from '../../overlay/test/fixtures/busybox-tree.js';
import { makeDockerArchive, makeLayers } from '../../overlay/test/fixtures/image-archives.js';
import {
  BuildStepError,
  buildImage,
  Container,
  containerBuildRunner,
  gc,
  ImageBuilder,
  type ImageRecord,
  ImageStore,
  InvalidSpecError,
  OverlayError,
  STATE_ROOT,
} from '../src/index.js';
import { stateEntries, tsboxInitPids } from './helpers.js';

// Image roots on the real kernel: a two-layer `docker save` archive built from the
// host's busybox (base layer + a layer whose whiteout deletes /del/gone.txt), imported
// into a store in a temp dir. Image config: Env PATH=/bin GREETING=hello, Entrypoint
// ["/bin/sh","-c"], Cmd ["cat /etc/greeting"], WorkingDir /data, User 1000:1000.

/** overlay and tmpfs mounts that involve the store or the state root. */
function ourMounts(storeRoot: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(
      (l) =>
        / - (overlay|tmpfs) /.test(l) && (l.includes(storeRoot) || l.includes(`${STATE_ROOT}/`)),
    );
}

function treeListing(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = join(d, name);
      const st = fs.lstatSync(p);
      out.push(`${p.slice(dir.length)} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

/** treeListing plus every regular file's bytes: the layers must stay byte-identical. */
function treeContent(dir: string): string {
  const out: string[] = [treeListing(dir)];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = join(d, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile())
        out.push(`${p.slice(dir.length)} ${fs.readFileSync(p).toString('base64')}`);
    }
  };
  walk(dir);
  return out.join('\n');
}

let work: string;
let store: ImageStore;
let img: ImageRecord;
let box: Container;

beforeAll(async () => {
  expect(STATE_ROOT).toBe(stateRoot);
  work = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-image-'));
  const layers = makeLayers(work);
  const archive = makeDockerArchive(work, layers);
  store = new ImageStore({ root: join(work, 'store') });
  img = await store.import(archive.tar);
  box = new Container().image(img, store).timeout('20s');
});

afterEach(() => {
  expect(ourMounts(work), 'overlay/tmpfs mounts left').toEqual([]);
  expect(stateEntries(), `entries left under ${STATE_ROOT}`).toEqual([]);
  expect(tsboxInitPids()).toEqual([]);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(stateRoot, { recursive: true, force: true });
});

describe('image root', () => {
  it('runs the image entrypoint + cmd as its user in its working dir when given no command', async () => {
    const r = await box.run();
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi\n');
    const id = await box.run('echo $GREETING $PATH $(pwd) $(id -u):$(id -g)');
    expect(id.stdout).toBe('hello /bin /data 1000:1000\n');
  });

  it('shows the union of the layers: the whited-out file is absent', async () => {
    const r = await box
      .user(0)
      .run('test -e /del/gone.txt && echo present; cat /del/stay.txt /etc/os-release; ls /opq');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('stays\nNAME="tsbox busybox"\nID=busybox\nc.txt\n');
  });

  it('builder settings override the image defaults', async () => {
    const r = await box
      .env({ GREETING: 'bye' })
      .cwd('/tmp')
      .user(0)
      .run('echo $GREETING $(pwd) $(id -u):$(id -g)');
    expect(r.stdout).toBe('bye /tmp 0:0\n');
    const e = await box.entrypoint([]).run('cat', ['/etc/greeting']);
    expect(e.stdout).toBe('hi\n');
    // An explicit entrypoint drops the image's cmd, as in Docker.
    const only = await box.entrypoint(['/bin/echo', 'from']).run();
    expect(only.stdout).toBe('from\n');
  });

  it('writes go to the container layer: the image and a second container do not see them', async () => {
    const layerDirs = store.layerPaths(img);
    const before = layerDirs.map(treeListing);
    const root = box.user(0);
    const w = await root.run(
      'echo changed > /etc/greeting && rm /del/stay.txt && echo new > /new && cat /etc/greeting && ls /del',
    );
    expect(w.exitCode).toBe(0);
    expect(w.stdout).toBe('changed\n');
    const r = await root.run('cat /etc/greeting /del/stay.txt; test -e /new || echo no-new');
    expect(r.stdout).toBe('hi\nstays\nno-new\n');
    expect(layerDirs.map(treeListing)).toEqual(before);
  });

  it('two containers of one image run side by side with separate writable layers', async () => {
    const root = box.user(0);
    await using a = await root.start('echo a > /f; sleep 30');
    const rb = await root.run('sleep 0.3; cat /f 2>/dev/null || echo none');
    expect(rb.stdout).toBe('none\n');
    // The running one has its record and its writable layer's directory.
    expect(stateEntries().sort()).toEqual([a.id, `${a.id}.json`]);
    expect(fs.readFileSync(join(STATE_ROOT, a.id, 'rootfs/rw/upper/f'), 'utf8')).toBe('a\n');
  });

  it('writableLayerSize caps writes with ENOSPC inside the container', async () => {
    const r = await box
      .user(0)
      .writableLayerSize('4M')
      .run('dd if=/dev/zero of=/big bs=1M count=16 2>&1; echo rc=$?');
    expect(r.stdout).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/rc=1/);
  });

  it('gets generated /etc/hostname and /etc/hosts; the layers stay byte-identical', async () => {
    const layerDirs = store.layerPaths(img);
    const before = layerDirs.map(treeContent);
    const script =
      'cat /etc/hostname /etc/hosts; hostname; if echo x >> /etc/hosts; then echo wrote; else echo refused; fi; tail -1 /etc/hosts';
    const hosts =
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\timgbox\n';
    // Writable as any file of the image (the change goes to the container's own layer),
    // read-only with readonlyRootfs().
    const rw = await box.user(0).hostname('imgbox').entrypoint([]).run('sh', ['-c', script]);
    expect(rw.stdout).toBe(`imgbox\n${hosts}imgbox\nwrote\nx\n`);
    const ro = await box
      .user(0)
      .readonlyRootfs()
      .hostname('imgbox')
      .entrypoint([])
      .run('sh', ['-c', script]);
    expect(ro.stdout).toBe(`imgbox\n${hosts}imgbox\nrefused\n127.0.1.1\timgbox\n`);
    expect(ro.stderr).toMatch(/Read-only file system/);
    // /etc keeps the image's attributes, and its other files are still there.
    const etc = await box
      .entrypoint([])
      .run('sh', ['-c', 'ls /etc; stat -c %a:%u:%g /etc; hostname -i']);
    // busybox's `hostname -i` resolves the hostname: through the generated /etc/hosts.
    expect(etc.stdout).toMatch(/\n127\.0\.1\.1\n$/);
    expect(etc.stdout).toContain('greeting\n');
    expect(etc.stdout).toContain('os-release\n');
    const top = layerDirs.find((d) => fs.existsSync(join(d, 'etc'))) as string;
    const imageEtc = fs.statSync(join(top, 'etc'));
    expect(etc.stdout).toContain(
      `${(imageEtc.mode & 0o7777).toString(8)}:${imageEtc.uid}:${imageEtc.gid}\n`,
    );
    // Without .hostname() the container's id is its name, in /etc/hosts too.
    const byId = await box
      .entrypoint([])
      .run('sh', ['-c', 'cat /etc/hostname; grep -c "$(hostname)" /etc/hosts']);
    expect(byId.stdout).toBe(`${byId.id}\n1\n`);
    // resolv.conf as on the host mirror: generated with .dns() (or a network), else the image's.
    const dns = await box.entrypoint([]).dns(['192.0.2.1']).run('cat', ['/etc/resolv.conf']);
    expect(dns.stdout).toBe('nameserver 192.0.2.1\n');
    const none = await box
      .entrypoint([])
      .run('sh', ['-c', 'test -e /etc/resolv.conf || echo none']);
    expect(none.stdout).toBe('none\n');
    // A bind of the caller's own over a generated file wins.
    const mine = join(work, 'my-hosts');
    fs.writeFileSync(mine, '10.1.2.3\tmine\n');
    const own = await box
      .entrypoint([])
      .mount({ source: mine, target: '/etc/hosts' })
      .run('cat', ['/etc/hosts']);
    expect(own.stdout).toBe('10.1.2.3\tmine\n');
    expect(layerDirs.map(treeContent)).toEqual(before);
  });

  it('on a network: /etc/hosts names the peers already there, resolv.conf is generated', async () => {
    const { Network } = await import('../src/index.js');
    const layerDirs = store.layerPaths(img);
    const before = layerDirs.map(treeContent);
    const net = await Network.create(`img${(process.pid % 10_000).toString(36)}`, {
      subnet: `10.216.${Math.floor(Math.random() * 250)}.0/24`,
    });
    try {
      await using server = await box
        .user(0)
        .entrypoint([])
        .hostname('server')
        .network(net, { alias: 'db' })
        .start('sh', ['-c', 'echo up; sleep 30']);
      const client = await box
        .user(0)
        .entrypoint([])
        .network(net)
        .dns(['192.0.2.53'])
        .run('sh', [
          '-c',
          'grep -w db /etc/hosts; cat /etc/resolv.conf; grep -c "$(hostname)" /etc/hosts',
        ]);
      expect(client.stdout).toBe(`${server.ip}\tserver db\nnameserver 192.0.2.53\n1\n`);
      // The server's own file names itself by its address, with its alias.
      const self = await box
        .entrypoint([])
        .network(net, { alias: 'self-alias' })
        .run('sh', ['-c', 'grep -w "$(hostname)" /etc/hosts; hostname -i']);
      expect(self.stdout).toBe(`${self.ip}\t${self.id} self-alias\n${self.ip}\n`);
    } finally {
      await net.remove();
    }
    expect(layerDirs.map(treeContent)).toEqual(before);
  });

  it('readonlyRootfs makes writes fail with EROFS', async () => {
    const r = await box.user(0).readonlyRootfs().run('echo x > /etc/greeting; echo rc=$?');
    expect(r.stdout).toBe('rc=1\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    const ok = await box.readonlyRootfs().run();
    expect(ok.stdout).toBe('hi\n');
  });

  it('a missing image rejects and leaves nothing behind', async () => {
    await expect(new Container().image('no/such:image', store).run('true')).rejects.toThrow(
      OverlayError,
    );
  });

  it('a set-up failure after the writable layer is prepared leaves nothing behind', async () => {
    // A store whose layer was replaced by a file: preparing works (paths only, tmpfs
    // mounted), then init's overlay mount fails inside the container.
    const broken = new ImageStore({ root: join(work, 'broken-store') });
    const rec = await broken.import(join(work, 'docker-save.tar'));
    const [top] = broken.layerPaths(rec);
    fs.rmSync(top as string, { recursive: true });
    fs.writeFileSync(top as string, 'not a directory');
    const err = await new Container()
      .image(rec, broken)
      .writableLayerSize('1M')
      .run('true')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_INIT', stage: 'init.mount.root' });
  });

  it("an image's absolute symlinks never lead set-up out to the host", async () => {
    // A hostile image: /escape points at a host directory by its absolute path. The
    // working dir, tmpfs and bind targets are made before pivot_root; tsbox-init
    // resolves them inside the image's root (openat2 RESOLVE_IN_ROOT), never on the host.
    const hostDir = fs.mkdtempSync(join(tmpdir(), 'tsbox-escape-target-'));
    try {
      const tree = join(work, 'escape-tree');
      fs.mkdirSync(tree);
      makeBusyboxTree(tree);
      fs.symlinkSync(hostDir, join(tree, 'escape'));
      fs.mkdirSync(join(tree, 'srv'), { recursive: true });
      fs.symlinkSync('/srv', join(tree, 'inside'));
      const tar = join(work, 'escape.tar');
      const { execFileSync } = await import('node:child_process');
      execFileSync('tar', ['-C', tree, '-cf', tar, '.']);
      const hostile = await store.import(tar);
      const hostFile = join(work, 'bind-source.txt');
      fs.writeFileSync(hostFile, 'bound\n');
      const base = new Container().image(hostile, store).timeout('20s');
      // Inside the image /escape dangles: set-up refuses each path (typed, at its stage).
      for (const [what, c] of [
        ['cwd', base.cwd('/escape/cwd')],
        ['tmpfs', base.tmpfs('/escape/tmp', '1M')],
        ['file bind', base.mount({ source: hostFile, target: '/escape/file.txt' })],
        ['dir bind', base.mount({ source: work, target: '/escape/dir' })],
      ] as const) {
        await expect(c.run('true'), what).rejects.toMatchObject({ code: 'ERR_TSBOX_INIT' });
        expect(fs.readdirSync(hostDir), `${what}: made on the host`).toEqual([]);
      }
      // A symlink that resolves inside the image is followed there, as Docker does.
      const r = await base
        .cwd('/inside/cwd')
        .mount({ source: hostFile, target: '/inside/file.txt' })
        .run('sh', ['-c', 'pwd; cat /bin/../inside/file.txt; ls /srv']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('/srv/cwd\nbound\ncwd\nfile.txt\n'); // busybox pwd is physical
      expect(fs.readdirSync(hostDir), 'made on the host').toEqual([]);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
    }
  });

  it('an image with no command needs one from the caller', async () => {
    const bare = join(work, 'bare-tree');
    fs.mkdirSync(bare);
    makeBusyboxTree(bare);
    const tar = join(work, 'bare.tar');
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-C', bare, '-cf', tar, '.']);
    const plain = await store.import(tar);
    await expect(new Container().image(plain, store).run()).rejects.toThrow(InvalidSpecError);
    const r = await new Container().image(plain.id, store).run('/bin/cat', ['/etc/os-release']);
    expect(r.stdout).toContain('tsbox busybox');
  });

  it('setters that need an image say so', () => {
    expect(() => new Container().writableLayerSize('1M')).toThrow(InvalidSpecError);
    expect(() => new Container().entrypoint([])).toThrow(InvalidSpecError);
    expect(() => box.writableLayerSize('lots')).toThrow(InvalidSpecError);
  });

  it("commit() turns a running container's writable layer into a new image", async () => {
    const root = box.user(0);
    const c = await root
      .writableLayerSize('8M')
      .pids(256) // a cgroup, so commit() pauses the container for the copy
      .start('echo snap > /f; rm /del/stay.txt; sleep 30');
    try {
      // Wait for the writes to land (the file is in the upper dir once written).
      const upper = join(STATE_ROOT, c.id, 'rootfs/rw/upper');
      for (let i = 0; i < 100 && !fs.existsSync(join(upper, 'del/stay.txt')); i++)
        await new Promise((r) => setTimeout(r, 20));
      const snap = await c.commit('my/snapshot:1');
      expect(snap.names).toContain('my/snapshot:1');
      expect(snap.layers.slice(0, 2)).toEqual(img.layers);
      const r = await new Container()
        .image('my/snapshot:1', store)
        .user(0)
        .run('cat /f; test -e /del/stay.txt || echo deleted');
      expect(r.stdout).toBe('snap\ndeleted\n');
    } finally {
      await c.stop({ grace: '50ms' });
    }
    await expect(c.commit('too/late:1')).rejects.toMatchObject({
      code: 'ERR_TSBOX_CONTAINER_STATE',
    });
  });

  it('a Node process that exits with an image container running leaves nothing behind', async () => {
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import { Container, ImageStore } from ${JSON.stringify(core)};
      const store = new ImageStore({ root: ${JSON.stringify(store.root)} });
      const c = await new Container().image(${JSON.stringify(img.id)}, store).user(0)
        .writableLayerSize('4M').start('echo x > /f; sleep 30');
      process.stdout.write(c.id); process.exit(0);`;
    const id = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, TSBOX_STATE_DIR: STATE_ROOT },
    });
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(stateEntries()).toEqual([]);
    expect(ourMounts(STATE_ROOT)).toEqual([]);
  });

  it("containerBuildRunner runs build steps in containers on the step's overlay", async () => {
    const builder = ImageBuilder.create()
      .from(img)
      .user('0')
      .run(['sh', '-c', 'echo built by $(id -u) in $(pwd) with $GREETING > /built'])
      .cmd(['cat /built']);
    const built = await buildImage(store, builder, {
      runner: containerBuildRunner(new Container().timeout('20s')),
      name: 'tsbox/built:1',
      noCache: true,
    });
    const r = await new Container().image('tsbox/built:1', store).run();
    expect(r.stdout).toBe('built by 0 in /data with hello\n');
    expect(built.layers.length).toBe(3);
    const failing = ImageBuilder.create().from(img).run(['sh', '-c', 'echo nope >&2; exit 3']);
    const err = await buildImage(store, failing, {
      runner: containerBuildRunner(),
      noCache: true,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildStepError);
    expect(err).toMatchObject({ code: 'ERR_TSBOX_BUILD_STEP', exitCode: 3 });
    expect((err as Error).message).toContain('nope');
    expect(
      fs.readdirSync(tmpdir()).filter((n) => n.startsWith(`tsbox-build-${process.pid}-`)),
    ).toEqual([]);
  });

  it('gc unmounts and removes the writable layer of a container whose owner died', async () => {
    // What a crashed owner leaves: /run/tsbox/<id>/rootfs with a tmpfs mounted, no record.
    const { prepareContainerRootfs } = await import('@tsbox/overlay');
    const dir = join(STATE_ROOT, 'deadbeef0001');
    await prepareContainerRootfs(store, img, dir, { writableLayerSize: '1M' });
    expect(ourMounts(work).length + ourMounts(STATE_ROOT).length).toBeGreaterThan(0);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(dir, old, old);
    const report = await gc();
    expect(report.removed).toContain(dir);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('image User resolution', () => {
  it('looks names up in the topmost layer that has /etc/passwd and /etc/group', async () => {
    const { resolveUser } = await import('../src/image-defaults.js');
    const top = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-user-'));
    const bottom = fs.mkdtempSync(join(tmpdir(), 'tsbox-core-user-'));
    try {
      fs.mkdirSync(join(top, 'etc'));
      fs.mkdirSync(join(bottom, 'etc'));
      fs.writeFileSync(
        join(top, 'etc/passwd'),
        'root:x:0:0::/root:/bin/sh\napp:x:1234:999::/:/bin/sh\n',
      );
      fs.writeFileSync(join(bottom, 'etc/passwd'), 'app:x:1:1::/:/bin/sh\n');
      fs.writeFileSync(join(bottom, 'etc/group'), 'staff:x:50:\n');
      const dirs = [top, bottom];
      expect(resolveUser({ user: 'app' }, dirs)).toEqual({ uid: 1234, gid: 999 });
      expect(resolveUser({ user: 'app:staff' }, dirs)).toEqual({ uid: 1234, gid: 50 });
      expect(resolveUser({ user: '1234' }, dirs)).toEqual({ uid: 1234, gid: 999 });
      expect(resolveUser({ user: '77' }, dirs)).toEqual({ uid: 77, gid: 0 });
      expect(resolveUser({ user: '77:88' }, dirs)).toEqual({ uid: 77, gid: 88 });
      expect(() => resolveUser({ user: 'nobody' }, dirs)).toThrow(InvalidSpecError);
      expect(() => resolveUser({ user: 'app:wheel' }, dirs)).toThrow(InvalidSpecError);
    } finally {
      fs.rmSync(top, { recursive: true });
      fs.rmSync(bottom, { recursive: true });
    }
  });
});
