import * as fs from 'node:fs';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { detectFormat, unpackImageArchive } from './archive-detect.js';
import { type Digest, digestHex, isDigest, sha256 } from './digest.js';
import { ioError, OverlayError } from './errors.js';
import { type ImageConfig, parseImageConfigBlob, synthesizeConfigBlob } from './image-config.js';
import type { ImageSource, ImportFormat } from './image-source.js';
import { readDockerArchive } from './import-docker.js';
import { readOciLayout } from './import-oci.js';
import { importLayerFile, type LayerRecord, readLayerRecord } from './layer-import.js';
import { withLock } from './lock.js';
import { downloadBlob } from './registry/blobs.js';
import { RegistryClient } from './registry/client.js';
import { DEFAULT_PLATFORM, parsePlatform } from './registry/manifest.js';
import { checkAborted, type PullOptions, resolveRemoteImage } from './registry/pull.js';
import {
  configForPush,
  type LayerBlob,
  makeLayerBlob,
  type PushOptions,
  type PushResult,
  pushBlobsAndManifest,
} from './registry/push.js';
import { parseReference } from './registry/reference.js';
import { StoreLayout } from './store-layout.js';
import { libcSyscalls, type Syscalls } from './syscalls.js';
import { writeUpperAsLayerTar } from './upper-to-tar.js';

/** Where the store lives unless told otherwise. */
export const DEFAULT_STORE_ROOT = '/var/lib/tsbox';

/** Options of {@link ImageStore}. */
export interface ImageStoreOptions {
  /** Store root; default {@link DEFAULT_STORE_ROOT}. Layers and staging must share one file system. */
  root?: string;
  /** chown extracted files to their recorded owners; default true when running as root. */
  preserveOwner?: boolean;
  /** The kernel seam; default libc through koffi. */
  syscalls?: Syscalls;
}

/** Progress of an import, reported after every chunk read and every finished layer. */
export interface ImportProgress {
  /** Bytes of layer blobs read so far (as stored, i.e. compressed when compressed). */
  bytes: number;
  /** Total bytes of the layer blobs to read. */
  totalBytes: number;
  /** Layers finished (extracted or found already present). */
  layersDone: number;
  layersTotal: number;
}

/** Options of {@link ImageStore.import}. */
export interface ImportOptions {
  /** Input format; default `'auto'` (detected from the content). */
  format?: ImportFormat | 'auto';
  /**
   * For archives holding several images, which one (a RepoTag or OCI ref name); for any
   * input, a name added to the image record.
   */
  name?: string;
  /** Run defaults for a rootfs tar, which carries no config of its own. */
  config?: Partial<ImageConfig>;
  /** Called as bytes and layers go by. */
  onProgress?: (progress: ImportProgress) => void;
}

/** An image in the store: its config and the layers it stacks. */
export interface ImageRecord {
  /** Image id: sha256 of its config blob, as Docker and OCI define it. */
  id: Digest;
  /** Names it was imported under (`busybox:latest`); may be empty. */
  names: string[];
  /** Layer diffIDs, bottom layer first (config `rootfs.diff_ids` order). */
  layers: Digest[];
  /** Run defaults for the container (Env, Entrypoint, Cmd, WorkingDir, User...). */
  config: ImageConfig;
  architecture: string;
  os: string;
  /**
   * The format it was imported from, `'commit'` for images made by {@link ImageStore.commit},
   * `'registry'` for images pulled by {@link ImageStore.pull}.
   */
  format: ImportFormat | 'commit' | 'registry';
  /** Digest of its OCI manifest (the platform's, for a pull through an index), when it came with one. */
  manifestDigest?: Digest;
  /** Sum of the uncompressed layer sizes, in bytes. */
  size: number;
  createdAt: string;
  /** The config blob exactly as imported (its sha256 is `id`), for commit and push. */
  configBlob: string;
}

/** Options of {@link ImageStore.commit}. */
export interface CommitOptions {
  /** The image the upper dir was mounted over; its layers come first. Omit for a base layer. */
  parent?: ImageRecord | string;
  /** Run defaults to change in the new image (unset fields keep the parent's). */
  config?: Partial<
    Pick<ImageConfig, 'env' | 'entrypoint' | 'cmd' | 'workingDir' | 'user' | 'labels'>
  >;
  /** A name for the new image (`my/snapshot:1`). */
  name?: string;
  /** Recorded in the config's history as `created_by`. */
  comment?: string;
}

/** What {@link ImageStore.remove} and {@link ImageStore.prune} deleted. */
export interface RemoveResult {
  /** Image ids removed. */
  images: Digest[];
  /** Layers deleted because no image references them any more. */
  layers: Digest[];
}

/**
 * A content-addressed store of image layers and image records on the local disk.
 *
 * Each layer is extracted once, into `<root>/layers/<diffID hex>/fs`, and shared read-only
 * as an overlay lowerdir by every image and container that uses it. Images are small JSON
 * records naming their layers. Several processes may use one store at once: imports hold
 * the store lock shared and each layer's lock while extracting it; `remove()` and
 * `prune()` hold the store lock exclusively, so a layer never disappears under an import.
 *
 * The store does not know about containers: do not remove an image while a container
 * still has its layers mounted.
 *
 * @example
 * ```ts
 * const store = new ImageStore({ root: '/var/lib/tsbox' });
 * const img = await store.import('./busybox-docker-save.tar');
 * const lower = store.layerPaths(img); // top layer first, for overlay lowerdir
 * ```
 */
export class ImageStore {
  /** Absolute store root. */
  readonly root: string;
  private readonly layout: StoreLayout;
  private readonly syscalls: Syscalls;
  private readonly preserveOwner: boolean | undefined;

  constructor(options: ImageStoreOptions = {}) {
    this.root = resolvePath(options.root ?? DEFAULT_STORE_ROOT);
    this.layout = new StoreLayout(this.root);
    this.syscalls = options.syscalls ?? libcSyscalls();
    this.preserveOwner = options.preserveOwner;
  }

  /**
   * Imports an image: a rootfs tar (`.tar`, `.tar.gz`), a `docker save` archive, or an OCI
   * image layout (directory or tar). Layers already in the store are not extracted again.
   * Every digest the input promises is checked; on any failure the layers this call
   * created and no image needs are removed, and the error says why
   * (`ERR_TSBOX_OVERLAY_DIGEST_MISMATCH` for a corrupted blob).
   *
   * @returns the image record (also when the image was already present; names are merged).
   */
  async import(path: string, options: ImportOptions = {}): Promise<ImageRecord> {
    const abs = resolvePath(path);
    const format =
      !options.format || options.format === 'auto' ? await detectFormat(abs) : options.format;
    this.layout.ensure();
    const created: Digest[] = [];
    try {
      return await withLock(this.syscalls, this.layout.storeLock, 'shared', () =>
        this.importLocked(abs, format, options, created),
      );
    } catch (err) {
      if (created.length > 0) await this.rollback(created);
      throw err;
    }
  }

  private async importLocked(
    path: string,
    format: ImportFormat,
    options: ImportOptions,
    created: Digest[],
  ): Promise<ImageRecord> {
    let staging: string | undefined;
    try {
      let source: ImageSource;
      if (format === 'rootfs') {
        if (fs.statSync(path).isDirectory()) {
          throw new OverlayError(
            'ERR_TSBOX_OVERLAY_INVALID_OPTION',
            'import.detect',
            `${path} is a directory; a rootfs must be a tar (.tar or .tar.gz)`,
            { path, field: 'format' },
          );
        }
        source = { format, layers: [{ path, size: statSize(path) }], names: [] };
      } else {
        let dir = path;
        if (!fs.statSync(path).isDirectory()) {
          staging = this.layout.makeTemp('unpack');
          await unpackImageArchive(path, staging);
          dir = staging;
        }
        source =
          format === 'docker-archive'
            ? readDockerArchive(dir, options.name)
            : readOciLayout(dir, options.name);
      }
      const layers = await this.importLayers(source, options, created);
      return this.writeImage(source, layers, options);
    } finally {
      if (staging) fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  private async importLayers(
    source: ImageSource,
    options: ImportOptions,
    created: Digest[],
  ): Promise<LayerRecord[]> {
    const progress: ImportProgress = {
      bytes: 0,
      totalBytes: source.layers.reduce((n, l) => n + l.size, 0),
      layersDone: 0,
      layersTotal: source.layers.length,
    };
    const report = options.onProgress;
    const out: LayerRecord[] = [];
    const onBytes = report
      ? (n: number) => {
          progress.bytes += n;
          report({ ...progress });
        }
      : undefined;
    for (const layer of source.layers) {
      const expect: { blobDigest?: Digest; diffId?: Digest } = {};
      if (layer.blobDigest) expect.blobDigest = layer.blobDigest;
      if (layer.diffId) expect.diffId = layer.diffId;
      if (layer.fetch) {
        // A remote layer the store already has is not downloaded at all.
        const have = layer.diffId ? readLayerRecord(this.layout, layer.diffId) : undefined;
        if (have) {
          onBytes?.(layer.size);
          out.push(have);
          progress.layersDone++;
          report?.({ ...progress });
          continue;
        }
        await layer.fetch(onBytes);
      }
      try {
        const res = await importLayerFile(
          {
            layout: this.layout,
            syscalls: this.syscalls,
            preserveOwner: this.preserveOwner,
            // A fetched blob's bytes were counted as they arrived.
            onBytes: layer.fetch ? undefined : onBytes,
          },
          layer.path,
          expect,
        );
        if (res.created) created.push(res.layer.diffId);
        out.push(res.layer);
      } finally {
        if (layer.fetch) fs.rmSync(layer.path, { force: true });
      }
      progress.layersDone++;
      report?.({ ...progress });
    }
    return out;
  }

  private async writeImage(
    source: ImageSource,
    layers: LayerRecord[],
    options: ImportOptions,
  ): Promise<ImageRecord> {
    const diffIds = layers.map((l) => l.diffId);
    const configBlob =
      source.configBlob?.toString('utf8') ?? synthesizeConfigBlob(diffIds, options.config);
    const parsed = parseImageConfigBlob(configBlob);
    const id = sha256(configBlob);
    const names = [...source.names];
    if (options.name && !names.includes(options.name)) names.push(options.name);
    const record: ImageRecord = {
      id,
      names,
      layers: diffIds,
      config: parsed.config,
      architecture: parsed.architecture,
      os: parsed.os,
      format: source.format,
      size: layers.reduce((n, l) => n + l.size, 0),
      createdAt: new Date().toISOString(),
      configBlob,
    };
    if (source.manifestDigest) record.manifestDigest = source.manifestDigest;
    return withLock(this.syscalls, this.layout.imagesLock, 'exclusive', async () => {
      const existing = this.readImage(id);
      if (existing) {
        record.names = [...new Set([...existing.names, ...record.names])];
        record.createdAt = existing.createdAt;
      }
      // A name belongs to one image: moving it here untags whichever image had it.
      for (const other of this.readImages()) {
        if (other.id === id) continue;
        const kept = other.names.filter((n) => !record.names.includes(n));
        if (kept.length !== other.names.length) {
          this.layout.writeAtomic(
            this.layout.imageRecord(other.id),
            JSON.stringify({ ...other, names: kept }),
          );
        }
      }
      this.layout.writeAtomic(this.layout.imageRecord(id), JSON.stringify(record));
      return record;
    });
  }

  /**
   * Pulls an image from a registry (OCI distribution API) into the store and names it by
   * `ref` (`127.0.0.1:5000/busybox:latest`, `registry.example.com/team/app@sha256:...`;
   * no tag means `:latest`). OCI image manifests and Docker schema 2 manifests are read;
   * an OCI index or Docker manifest list is followed to the `linux/amd64` entry, or to
   * `options.platform`. Layers whose diffID the store has are not downloaded.
   *
   * Every blob is hashed while it streams to a private file in the store's staging area
   * and is extracted only after its digest matched; the extraction then checks the diffID,
   * as for {@link ImageStore.import}. On any failure (digest mismatch, HTTP error, auth,
   * abort) the layers this call created are removed and the staging files deleted: the
   * store is left as it was.
   *
   * Plain HTTP is used for loopback hosts (`localhost`, `127.x.x.x`, `[::1]`, unless
   * `tls: true`) and with `insecure: true`; HTTPS otherwise, trusting `options.ca` in
   * addition to Node's CAs.
   * Auth: anonymous; HTTP basic or a bearer token (the `WWW-Authenticate: Bearer` flow,
   * sending `credentials` to the token service) when the registry challenges.
   *
   * @throws OverlayError `ERR_TSBOX_OVERLAY_INVALID_OPTION` (stage `registry.ref`) for a
   *   malformed reference, before any request; `ERR_TSBOX_OVERLAY_NOT_FOUND` for an unknown
   *   repository, tag or platform; `ERR_TSBOX_OVERLAY_AUTH` (stage `registry.auth`);
   *   `ERR_TSBOX_OVERLAY_DIGEST_MISMATCH` (stage `registry.manifest`, `registry.blob` or
   *   `import.verify`); `ERR_TSBOX_OVERLAY_REGISTRY` for other HTTP and protocol failures;
   *   `ERR_TSBOX_OVERLAY_ABORTED`. Each names the reference in `ref`.
   *
   * @example
   * ```ts
   * const img = await store.pull('127.0.0.1:5000/busybox:latest');
   * const arm = await store.pull('registry.example.com/app:1', {
   *   platform: 'linux/arm64',
   *   credentials: { username: 'ci', password: process.env.REGISTRY_TOKEN ?? '' },
   * });
   * ```
   */
  async pull(ref: string, options: PullOptions = {}): Promise<ImageRecord> {
    const target = parseReference(ref);
    const platform = parsePlatform(options.platform ?? DEFAULT_PLATFORM);
    const client = new RegistryClient(target, options, 'pull');
    this.layout.ensure();
    const created: Digest[] = [];
    try {
      return await withLock(this.syscalls, this.layout.storeLock, 'shared', async () => {
        const staging = this.layout.makeTemp('pull');
        try {
          const remote = await resolveRemoteImage(client, platform);
          const source: ImageSource = {
            format: 'registry',
            layers: remote.layers.map((d, i) => {
              const path = join(staging, `${i}-${digestHex(d.digest)}`);
              return {
                path,
                size: d.size,
                blobDigest: d.digest,
                diffId: remote.diffIds[i] as Digest,
                fetch: (onBytes?: (n: number) => void) => {
                  checkAborted(options.signal, 'registry.blob', target.name);
                  return downloadBlob(client, d, path, onBytes);
                },
              };
            }),
            configBlob: remote.configBlob,
            names: [target.name],
            manifestDigest: remote.manifest.digest,
          };
          const layers = await this.importLayers(source, options, created);
          checkAborted(options.signal, 'registry.blob', target.name);
          return this.writeImage(source, layers, {});
        } finally {
          fs.rmSync(staging, { recursive: true, force: true });
        }
      });
    } catch (err) {
      if (created.length > 0) await this.rollback(created);
      throw err;
    }
  }

  /**
   * Pushes an image of the store to a registry under `target` (`host:port/repo:tag`; no
   * tag means `:latest`): each layer blob the repository lacks (HEAD first), then the
   * config, then the manifest (OCI by default, `format: 'docker'` for Docker schema 2).
   *
   * The store keeps extracted layer directories, not the tars they came from, so each
   * layer is written back as a deterministic tar and gzip-compressed (see DESIGN-NOTES,
   * "push regenerates layer tars"). When a regenerated tar hashes differently from the
   * stored diffID, the pushed config carries the new diff_ids and so a new image id,
   * reported as `imageId`. Connection and auth options are those of {@link ImageStore.pull}.
   *
   * @throws OverlayError as for {@link ImageStore.pull}; `ERR_TSBOX_OVERLAY_NOT_FOUND` when
   *   the image is not in the store (before any request).
   */
  async push(
    image: ImageRecord | string,
    target: string,
    options: PushOptions = {},
  ): Promise<PushResult> {
    const dest = parseReference(target);
    const record = await this.get(image);
    const client = new RegistryClient(dest, options, 'pull,push');
    this.layout.ensure();
    const staging = this.layout.makeTemp('push');
    try {
      return await withLock(this.syscalls, this.layout.storeLock, 'shared', async () => {
        const blobs: LayerBlob[] = [];
        for (const [i, diffId] of record.layers.entries()) {
          checkAborted(options.signal, 'registry.layer', dest.name);
          const layerFs = this.layout.layerFs(diffId);
          if (!fs.existsSync(layerFs)) {
            throw new OverlayError(
              'ERR_TSBOX_OVERLAY_NOT_FOUND',
              'registry.layer',
              `layer ${diffId} of image ${record.id} is missing`,
              { path: layerFs, value: diffId, ref: dest.name },
            );
          }
          blobs.push(await makeLayerBlob(layerFs, staging, String(i), this.syscalls));
        }
        const configBlob = configForPush(
          record.configBlob,
          record.layers,
          blobs.map((b) => b.diffId),
        );
        return pushBlobsAndManifest(client, configBlob, blobs, options);
      });
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * Turns a container's overlay upper dir into a new layer on top of `parent` and records
   * the result as a new image (`docker commit`). Whiteouts become `.wh.` entries and
   * opaque dirs `.wh..wh..opq` in the layer tar, which is then imported like any other
   * layer, so the stored layer is exactly what the tar says. The upper dir is only read;
   * for a consistent snapshot the container should be stopped or frozen.
   */
  async commit(upperDir: string, options: CommitOptions = {}): Promise<ImageRecord> {
    const parent = options.parent === undefined ? undefined : await this.get(options.parent);
    this.layout.ensure();
    const created: Digest[] = [];
    const tmp = this.layout.makeTemp('commit');
    try {
      return await withLock(this.syscalls, this.layout.storeLock, 'shared', async () => {
        const tarPath = `${tmp}/layer.tar`;
        await writeUpperAsLayerTar(resolvePath(upperDir), tarPath, this.syscalls);
        const [layer] = await this.importLayers(
          { format: 'rootfs', layers: [{ path: tarPath, size: statSize(tarPath) }], names: [] },
          {},
          created,
        );
        const diffIds = [...(parent?.layers ?? []), (layer as LayerRecord).diffId];
        const configBlob = Buffer.from(commitConfig(parent, diffIds, options));
        const layers = diffIds.map((id) => readLayerRecord(this.layout, id) as LayerRecord);
        return this.writeImage(
          { format: 'commit', layers: [], configBlob, names: [] },
          layers,
          options.name ? { name: options.name } : {},
        );
      });
    } catch (err) {
      if (created.length > 0) await this.rollback(created);
      throw err;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * A new image with `image`'s layers and changed run defaults (what a Dockerfile's ENV,
   * CMD, WORKDIR... do). Adds no layer.
   */
  async configure(
    image: ImageRecord | string,
    config: NonNullable<CommitOptions['config']>,
    options: { name?: string; comment?: string } = {},
  ): Promise<ImageRecord> {
    const parent = await this.get(image);
    this.layout.ensure();
    return withLock(this.syscalls, this.layout.storeLock, 'shared', async () => {
      const configBlob = Buffer.from(
        commitConfig(parent, parent.layers, {
          config,
          comment: options.comment ?? 'tsbox configure',
        }),
      );
      const layers = parent.layers.map((id) => {
        const l = readLayerRecord(this.layout, id);
        if (!l) {
          throw new OverlayError(
            'ERR_TSBOX_OVERLAY_NOT_FOUND',
            'store.configure',
            `layer ${id} is missing`,
            {
              value: id,
            },
          );
        }
        return l;
      });
      return this.writeImage(
        { format: parent.format, layers: [], configBlob, names: [] },
        layers,
        options.name ? { name: options.name } : {},
      );
    });
  }

  /** Removes layers an interrupted import created, unless an image (maybe another import's) uses them. */
  private async rollback(layers: Digest[]): Promise<void> {
    await withLock(this.syscalls, this.layout.storeLock, 'exclusive', async () => {
      const used = this.referencedLayers();
      for (const l of layers) if (!used.has(l)) this.deleteLayer(l);
    });
  }

  /**
   * Finds an image by id (`sha256:<hex>`, the hex, or a unique hex prefix of 12 or more
   * digits) or by name (`busybox:latest`; a bare `busybox` means `:latest`).
   *
   * @throws OverlayError `ERR_TSBOX_OVERLAY_NOT_FOUND`
   */
  async get(ref: string | ImageRecord): Promise<ImageRecord> {
    const hit = this.find(typeof ref === 'string' ? ref : ref.id);
    if (!hit) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_NOT_FOUND',
        'store.get',
        `no image ${String(ref)} in ${this.root}`,
        {
          value: typeof ref === 'string' ? ref : ref.id,
        },
      );
    }
    return hit;
  }

  /** Every image record, oldest first. */
  async list(): Promise<ImageRecord[]> {
    return this.readImages().sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Every layer in the store with how many images reference it. */
  async layers(): Promise<Array<LayerRecord & { references: number }>> {
    const counts = new Map<Digest, number>();
    for (const img of this.readImages())
      for (const l of new Set(img.layers)) counts.set(l, (counts.get(l) ?? 0) + 1);
    return this.layerIds()
      .map((id) => readLayerRecord(this.layout, id))
      .filter((l): l is LayerRecord => l !== undefined)
      .map((l) => ({ ...l, references: counts.get(l.diffId) ?? 0 }));
  }

  /**
   * The image's layer directories in overlayfs `lowerdir` order: top layer first.
   *
   * @throws OverlayError `ERR_TSBOX_OVERLAY_NOT_FOUND` when a layer is missing from disk.
   */
  layerPaths(image: ImageRecord): string[] {
    return [...image.layers].reverse().map((id) => {
      const path = this.layout.layerFs(id);
      if (!fs.existsSync(path)) {
        throw new OverlayError(
          'ERR_TSBOX_OVERLAY_NOT_FOUND',
          'store.layers',
          `layer ${id} of image ${image.id} is missing`,
          {
            path,
            value: id,
          },
        );
      }
      return path;
    });
  }
  /**
   * Like {@link ImageStore.layerPaths} but through short symlinks (`<root>/l/<16 hex>`),
   * so an image with many layers still fits mount(2)'s one-page option limit; overlayfs
   * resolves the links once, at mount time. Links are created on demand, atomically.
   */
  shortLayerPaths(image: ImageRecord): string[] {
    const long = this.layerPaths(image);
    fs.mkdirSync(join(this.root, 'l'), { recursive: true, mode: 0o700 });
    return [...image.layers].reverse().map((id, i) => {
      const link = this.layout.shortLink(id);
      const target = relative(dirname(link), long[i] as string);
      try {
        if (fs.readlinkSync(link) === target) return link;
      } catch {}
      const tmp = join(this.layout.tmpDir, `link-${process.pid}-${i}-${Date.now()}`);
      try {
        fs.symlinkSync(target, tmp);
        fs.renameSync(tmp, link);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw ioError('store.link', err, link);
      }
      return link;
    });
  }

  /**
   * Removes an image record and every layer no other image references. Idempotent for
   * ids: removing an absent id is not an error; an unknown name is.
   */
  async remove(ref: string | ImageRecord): Promise<RemoveResult> {
    this.layout.ensure();
    return withLock(this.syscalls, this.layout.storeLock, 'exclusive', () =>
      withLock(this.syscalls, this.layout.imagesLock, 'exclusive', async () => {
        const key = typeof ref === 'string' ? ref : ref.id;
        const image = this.find(key);
        if (!image) {
          if (isDigest(key)) return { images: [], layers: [] };
          throw new OverlayError(
            'ERR_TSBOX_OVERLAY_NOT_FOUND',
            'store.remove',
            `no image ${key} in ${this.root}`,
            {
              value: key,
            },
          );
        }
        fs.rmSync(this.layout.imageRecord(image.id), { force: true });
        const used = this.referencedLayers();
        const removed = [...new Set(image.layers)].filter((l) => !used.has(l));
        for (const l of removed) this.deleteLayer(l);
        return { images: [image.id], layers: removed };
      }),
    );
  }

  /**
   * Deletes layers no image references (left by interrupted imports or by images removed
   * with other tools) and everything in the staging area. Waits for running imports.
   */
  async prune(): Promise<RemoveResult> {
    this.layout.ensure();
    return withLock(this.syscalls, this.layout.storeLock, 'exclusive', async () => {
      const used = this.referencedLayers();
      const removed = this.layerIds().filter((l) => !used.has(l));
      for (const l of removed) this.deleteLayer(l);
      // No import holds the shared lock now, so nothing in tmp/ is in use.
      // Short links whose layer is gone (a crash between the two deletions).
      const linkDir = join(this.root, 'l');
      for (const name of fs.existsSync(linkDir) ? fs.readdirSync(linkDir) : []) {
        if (!fs.existsSync(join(linkDir, name))) fs.rmSync(join(linkDir, name), { force: true });
      }
      for (const name of fs.readdirSync(this.layout.tmpDir)) {
        fs.rmSync(`${this.layout.tmpDir}/${name}`, { recursive: true, force: true });
      }
      return { images: [], layers: removed };
    });
  }

  private find(ref: string): ImageRecord | undefined {
    const images = this.readImages();
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (/^[0-9a-f]{12,64}$/.test(hex)) {
      const hits = images.filter((i) => digestHex(i.id).startsWith(hex));
      if (hits.length === 1) return hits[0];
    }
    const withTag = /:[^/]*$/.test(ref) ? ref : `${ref}:latest`;
    return images.find((i) => i.names.includes(ref) || i.names.includes(withTag));
  }

  private readImage(id: Digest): ImageRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.layout.imageRecord(id), 'utf8')) as ImageRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('store.read', err, this.layout.imageRecord(id));
    }
  }

  private readImages(): ImageRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.layout.imagesDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError('store.read', err, this.layout.imagesDir);
    }
    return names
      .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
      .map((n) => this.readImage(`sha256:${n.slice(0, 64)}`))
      .filter((i): i is ImageRecord => i !== undefined);
  }

  private layerIds(): Digest[] {
    try {
      return fs
        .readdirSync(this.layout.layersDir)
        .filter((n) => /^[0-9a-f]{64}$/.test(n))
        .map((n) => `sha256:${n}` as Digest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError('store.read', err, this.layout.layersDir);
    }
  }

  private referencedLayers(): Set<Digest> {
    return new Set(this.readImages().flatMap((i) => i.layers));
  }

  private deleteLayer(diffId: Digest): void {
    fs.rmSync(this.layout.shortLink(diffId), { force: true });
    const rec = readLayerRecord(this.layout, diffId);
    for (const b of rec?.blobDigests ?? []) fs.rmSync(this.layout.blobIndex(b), { force: true });
    this.layout.removeTree(this.layout.layerDir(diffId));
  }
}

/** The parent's config with the new layer appended, overrides applied and history noted. */
function commitConfig(
  parent: ImageRecord | undefined,
  diffIds: Digest[],
  options: CommitOptions,
): string {
  const doc = JSON.parse(parent?.configBlob ?? synthesizeConfigBlob([])) as Record<string, unknown>;
  const config = { ...((doc.config as Record<string, unknown> | undefined) ?? {}) };
  const c = options.config ?? {};
  if (c.env) config.Env = c.env;
  if (c.entrypoint) config.Entrypoint = c.entrypoint;
  if (c.cmd) config.Cmd = c.cmd;
  if (c.workingDir) config.WorkingDir = c.workingDir;
  if (c.user !== undefined) config.User = c.user;
  if (c.labels) config.Labels = { ...((config.Labels as object | undefined) ?? {}), ...c.labels };
  const created = new Date().toISOString();
  const history = Array.isArray(doc.history) ? [...doc.history] : [];
  const sameLayers = JSON.stringify(diffIds) === JSON.stringify(parent?.layers ?? []);
  history.push({
    created,
    created_by: options.comment ?? 'tsbox commit',
    ...(sameLayers ? { empty_layer: true } : {}),
  });
  return JSON.stringify({
    ...doc,
    created,
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  });
}

function statSize(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch (err) {
    throw ioError('import.read', err, path);
  }
}
