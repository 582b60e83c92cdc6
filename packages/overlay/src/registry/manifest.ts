import { type Digest, sha256, verifyDigest } from '../digest.js';
import { OverlayError } from '../errors.js';
import { type Descriptor, parseIndex, parseManifest } from '../import-oci.js';
import type { RegistryClient } from './client.js';
import { readBody } from './http.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);
const MANIFEST_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  OCI_LAYER_GZIP,
  'application/vnd.docker.image.rootfs.diff.tar',
  DOCKER_LAYER_GZIP,
]);
/** Manifests are small JSON documents; anything larger is refused unread. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

/** An OS/architecture pair (and optional variant) as image indexes describe platforms. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The platform pulled from a multi-arch index unless another is asked for. */
export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Parses `'linux/arm64'`, `'linux/arm/v7'` or a {@link Platform}. Pure. */
export function parsePlatform(p: string | Platform): Platform {
  if (typeof p !== 'string') {
    if (p && typeof p.os === 'string' && typeof p.architecture === 'string') return p;
  } else {
    const [os, architecture, variant, extra] = p.split('/');
    if (os && architecture && extra === undefined && variant !== '') {
      return variant === undefined ? { os, architecture } : { os, architecture, variant };
    }
  }
  throw new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_OPTION',
    'registry.platform',
    `platform must be "os/architecture[/variant]" such as "linux/amd64", got ${JSON.stringify(p)}`,
    { field: 'platform', value: String(typeof p === 'string' ? p : JSON.stringify(p)) },
  );
}

/** The entry of an index for `platform`, or undefined. Pure. */
export function pickPlatform(entries: Descriptor[], platform: Platform): Descriptor | undefined {
  return entries.find(
    (d) =>
      d.platform?.os === platform.os &&
      d.platform?.architecture === platform.architecture &&
      (platform.variant === undefined || d.platform?.variant === platform.variant) &&
      MANIFEST_TYPES.has(d.mediaType),
  );
}

/** A manifest document as served, with the digest of its exact bytes. */
export interface FetchedManifest {
  mediaType: string;
  raw: Buffer;
  digest: Digest;
  doc: unknown;
}

/**
 * GETs a manifest (tag or digest) and checks its bytes: against the digest asked for, and
 * against the registry's `Docker-Content-Digest` header.
 */
export async function fetchManifest(
  client: RegistryClient,
  reference: string,
): Promise<FetchedManifest> {
  const req = {
    method: 'GET' as const,
    path: `${client.repoPath}/manifests/${reference}`,
    headers: { accept: [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST].join(', ') },
    stage: 'registry.manifest',
  };
  const res = await client.send(req);
  if (res.status === 404) {
    await client.fail(res, req, `manifest ${reference}`, 'ERR_TSBOX_OVERLAY_NOT_FOUND', reference);
  }
  if (res.status !== 200) await client.fail(res, req, `manifest ${reference}`);
  const raw = await readBody(res, MANIFEST_LIMIT, {
    ...req,
    url: res.url,
    ref: client.ref.name,
  });
  const digest = sha256(raw);
  const what = `manifest ${reference} of ${client.ref.name}`;
  if (reference.startsWith('sha256:')) {
    verifyDigest(digest, reference as Digest, what, 'registry.manifest', client.ref.name);
  }
  const header = res.headers['docker-content-digest'];
  if (typeof header === 'string' && header.startsWith('sha256:')) {
    verifyDigest(digest, header as Digest, what, 'registry.manifest', client.ref.name);
  }
  let doc: { mediaType?: unknown; schemaVersion?: unknown };
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw invalid(client, `${what} is not valid JSON`, err);
  }
  const contentType =
    String(res.headers['content-type'] ?? '')
      .split(';')[0]
      ?.trim() ?? '';
  const mediaType = typeof doc?.mediaType === 'string' ? doc.mediaType : contentType;
  return { mediaType, raw, digest, doc };
}

function invalid(client: RegistryClient, message: string, cause?: unknown): OverlayError {
  return new OverlayError('ERR_TSBOX_OVERLAY_REGISTRY', 'registry.manifest', message, {
    ref: client.ref.name,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Runs one of import-oci's pure parsers, re-labelling its errors as registry errors. */
function parseWith<T>(client: RegistryClient, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof OverlayError && err.code === 'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE') {
      throw invalid(client, `${client.ref.name}: ${err.message.replace(/^OCI layout: /, '')}`, err);
    }
    throw err;
  }
}

/** An image manifest resolved for one platform: where its config and layers are. */
export interface ResolvedManifest {
  /** Digest of the image manifest (not of the index that pointed to it). */
  digest: Digest;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/**
 * Resolves a reference to one image manifest: an OCI index or Docker manifest list is
 * followed to the entry for `platform`; an image manifest is taken as it is.
 */
export async function resolveManifest(
  client: RegistryClient,
  reference: string,
  platform: Platform,
): Promise<ResolvedManifest> {
  let m = await fetchManifest(client, reference);
  for (let depth = 0; INDEX_TYPES.has(m.mediaType); depth++) {
    if (depth > 3) throw invalid(client, `image indexes of ${client.ref.name} nest too deeply`);
    const doc = m.doc;
    const entries = parseWith(client, () => parseIndex(doc));
    const hit = pickPlatform(entries, platform);
    if (!hit) {
      const have = entries
        .map((d) => [d.platform?.os, d.platform?.architecture, d.platform?.variant])
        .map((p) => p.filter(Boolean).join('/'))
        .join(', ');
      const want = [platform.os, platform.architecture, platform.variant].filter(Boolean);
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_NOT_FOUND',
        'registry.manifest',
        `${client.ref.name} has no image for ${want.join('/')}; it has ${have || 'none'}`,
        { ref: client.ref.name, value: want.join('/') },
      );
    }
    m = await fetchManifest(client, hit.digest);
    verifyDigest(m.digest, hit.digest, 'platform manifest', 'registry.manifest', client.ref.name);
  }
  if (!MANIFEST_TYPES.has(m.mediaType)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_UNSUPPORTED',
      'registry.manifest',
      `${client.ref.name} has a manifest of type ${m.mediaType || 'unknown'}; only OCI and Docker schema 2 images are supported`,
      { ref: client.ref.name, value: m.mediaType },
    );
  }
  const doc = m.doc;
  const parsed = parseWith(client, () => parseManifest(doc));
  for (const l of parsed.layers) {
    if (!LAYER_TYPES.has(l.mediaType)) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_UNSUPPORTED',
        'registry.manifest',
        `layer ${l.digest} of ${client.ref.name} has media type ${l.mediaType}; only tar and tar+gzip layers are supported`,
        { ref: client.ref.name, value: l.mediaType },
      );
    }
  }
  return { digest: m.digest, mediaType: m.mediaType, ...parsed };
}

/** The manifest flavour {@link ImageStore.push} writes. */
export type ManifestFormat = 'oci' | 'docker';

/** Media types for one manifest flavour. */
export function mediaTypes(format: ManifestFormat): {
  manifest: string;
  config: string;
  layer: string;
} {
  return format === 'docker'
    ? { manifest: DOCKER_MANIFEST, config: DOCKER_CONFIG, layer: DOCKER_LAYER_GZIP }
    : { manifest: OCI_MANIFEST, config: OCI_CONFIG, layer: OCI_LAYER_GZIP };
}

/** Serialises an image manifest with gzip layers. Pure; key order fixed, so digests are stable. */
export function buildManifest(
  format: ManifestFormat,
  config: { digest: Digest; size: number },
  layers: Array<{ digest: Digest; size: number }>,
): string {
  const t = mediaTypes(format);
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: t.manifest,
    config: { mediaType: t.config, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: t.layer, digest: l.digest, size: l.size })),
  });
}
