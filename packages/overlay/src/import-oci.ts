import * as fs from 'node:fs';
import { type Digest, digestHex, parseDigest, sha256, verifyDigest } from './digest.js';
import { OverlayError } from './errors.js';
import { parseImageConfigBlob } from './image-config.js';
import type { ImageSource, LayerSource } from './image-source.js';
import { readJsonFile } from './json-file.js';

/** An OCI content descriptor (image-spec descriptor.md), the fields used here. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations: Record<string, string>;
  platform?: { architecture?: string; os?: string; variant?: string };
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
/** The annotation OCI layouts use to name a manifest (`latest`, or a full reference). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

function invalid(why: string, field?: string): OverlayError {
  return new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
    'import.manifest',
    `OCI layout: ${why}`,
    {
      field,
    },
  );
}

/** Validates one descriptor object. Pure. */
export function parseDescriptor(v: unknown, field: string): Descriptor {
  const d = v as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') throw invalid(`${field} is not a descriptor`, field);
  if (typeof d.mediaType !== 'string') throw invalid(`${field}.mediaType is missing`, field);
  if (typeof d.size !== 'number' || d.size < 0) throw invalid(`${field}.size is missing`, field);
  const annotations: Record<string, string> = {};
  if (d.annotations && typeof d.annotations === 'object') {
    for (const [k, a] of Object.entries(d.annotations))
      if (typeof a === 'string') annotations[k] = a;
  }
  const out: Descriptor = {
    mediaType: d.mediaType,
    digest: parseDigest(d.digest, 'import.manifest', `${field}.digest`),
    size: d.size,
    annotations,
  };
  if (d.platform && typeof d.platform === 'object')
    out.platform = d.platform as Descriptor['platform'];
  return out;
}

/** The descriptors of an index document (index.json or a nested image index). Pure. */
export function parseIndex(doc: unknown): Descriptor[] {
  const m = (doc as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(m)) throw invalid('index has no manifests array', 'manifests');
  return m.map((d, i) => parseDescriptor(d, `manifests[${i}]`));
}

/** The config and layer descriptors of an image manifest. Pure. */
export function parseManifest(doc: unknown): { config: Descriptor; layers: Descriptor[] } {
  const m = doc as { config?: unknown; layers?: unknown } | null;
  if (!m || typeof m !== 'object') throw invalid('manifest is not an object');
  if (!Array.isArray(m.layers)) throw invalid('manifest has no layers array', 'layers');
  return {
    config: parseDescriptor(m.config, 'config'),
    layers: m.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`)),
  };
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

/**
 * Chooses a manifest from an index: by name when given (matching the ref-name annotation
 * as `latest` or as the full reference), else the one for this machine's platform, else
 * the only one. Pure.
 */
export function pickManifest(entries: Descriptor[], name?: string): Descriptor {
  let candidates = entries;
  if (name !== undefined) {
    const tag = name.includes(':') ? name.slice(name.lastIndexOf(':') + 1) : 'latest';
    candidates = entries.filter((d) => {
      const ref = d.annotations[REF_NAME];
      const full = d.annotations[CONTAINERD_NAME];
      return ref === name || ref === tag || full === name || full?.endsWith(`/${name}`);
    });
    if (candidates.length === 0) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_NOT_FOUND',
        'import.manifest',
        `OCI layout has no image named ${name}`,
        {
          value: name,
        },
      );
    }
  }
  if (candidates.length === 1) return candidates[0] as Descriptor;
  const arch = NODE_ARCH[process.arch] ?? process.arch;
  const native = candidates.find(
    (d) => !d.platform || (d.platform.os === 'linux' && d.platform.architecture === arch),
  );
  if (!native) throw invalid(`no manifest for linux/${arch}`, 'manifests');
  return native;
}

function blobPath(dir: string, d: Descriptor): string {
  return `${dir}/blobs/sha256/${digestHex(d.digest)}`;
}

/** Reads a small JSON blob and checks its digest before trusting a byte of it. */
function readVerifiedJson(dir: string, d: Descriptor, what: string): { raw: Buffer; doc: unknown } {
  const path = blobPath(dir, d);
  const { raw, doc } = readJsonFile(path, 'import.manifest', what);
  verifyDigest(sha256(raw), d.digest, what);
  return { raw, doc };
}

/**
 * Reads an OCI image layout directory (image-spec image-layout.md): `oci-layout`,
 * `index.json`, `blobs/sha256/<hex>`. Manifests and config are digest-checked here;
 * layer blobs carry their blob digest and diffID for checking during extraction.
 */
export function readOciLayout(dir: string, name?: string): ImageSource {
  const { doc: layoutDoc } = readJsonFile(
    `${dir}/oci-layout`,
    'import.manifest',
    'oci-layout file',
  );
  if (typeof (layoutDoc as { imageLayoutVersion?: unknown })?.imageLayoutVersion !== 'string') {
    throw invalid('oci-layout has no imageLayoutVersion', 'imageLayoutVersion');
  }
  const { doc: indexDoc } = readJsonFile(`${dir}/index.json`, 'import.manifest', 'index.json');
  let chosen = pickManifest(parseIndex(indexDoc), name);
  const names = [chosen.annotations[CONTAINERD_NAME] ?? chosen.annotations[REF_NAME]].filter(
    (n): n is string => n !== undefined,
  );
  // Multi-platform images put an index behind the index; a few levels are plenty.
  for (let depth = 0; INDEX_TYPES.has(chosen.mediaType); depth++) {
    if (depth > 4) throw invalid('image indexes nest too deeply');
    chosen = pickManifest(parseIndex(readVerifiedJson(dir, chosen, 'image index').doc));
  }
  if (!MANIFEST_TYPES.has(chosen.mediaType)) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_UNSUPPORTED',
      'import.manifest',
      `manifest media type ${chosen.mediaType} is not an image manifest`,
      { value: chosen.mediaType },
    );
  }
  const manifest = parseManifest(readVerifiedJson(dir, chosen, 'image manifest').doc);
  const { raw: configBlob } = readVerifiedJson(dir, manifest.config, 'image config');
  const parsed = parseImageConfigBlob(configBlob);
  if (parsed.diffIds.length !== manifest.layers.length) {
    throw invalid(
      `manifest has ${manifest.layers.length} layers but the config has ${parsed.diffIds.length} diff_ids`,
      'layers',
    );
  }
  const layers: LayerSource[] = manifest.layers.map((d, i) => {
    if (d.mediaType.endsWith('+zstd')) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_UNSUPPORTED',
        'import.manifest',
        `layer ${d.digest} is zstd-compressed, which Node 20 cannot decompress`,
        { value: d.mediaType },
      );
    }
    const path = blobPath(dir, d);
    if (!fs.existsSync(path)) throw invalid(`layer blob ${d.digest} is missing`, `layers[${i}]`);
    return { path, size: d.size, blobDigest: d.digest, diffId: parsed.diffIds[i] };
  });
  return { format: 'oci-layout', layers, configBlob, names, manifestDigest: chosen.digest };
}
