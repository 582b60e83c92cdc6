import type { Digest } from './digest.js';

/** The input formats {@link ImageStore.import} understands. */
export type ImportFormat = 'rootfs' | 'docker-archive' | 'oci-layout';

/** One layer blob on disk, with whatever digests the image's metadata promises for it. */
export interface LayerSource {
  /** A file holding the layer tar (possibly gzip-compressed). */
  path: string;
  /** Blob digest from a manifest (OCI), verified while reading. */
  blobDigest?: Digest;
  /** diffID from the image config, verified while reading. */
  diffId?: Digest;
  /** Bytes on disk, for progress. */
  size: number;
  /**
   * For layers not on disk yet (a registry pull): puts the verified blob at `path`. Not
   * called when the store already has the layer `diffId` names.
   */
  fetch?: (onBytes?: (n: number) => void) => Promise<void>;
}

/**
 * An image read from its on-disk format, not yet in the store: the layers bottom first,
 * and the raw config blob (absent for a plain rootfs tar, where one is synthesised).
 */
export interface ImageSource {
  /** Where it came from; `'commit'` for a layer made from a container's upper dir. */
  format: ImportFormat | 'commit' | 'registry';
  layers: LayerSource[];
  configBlob?: Buffer;
  /** Names found in the input (`RepoTags`, `org.opencontainers.image.ref.name`). */
  names: string[];
  /** Digest of the manifest, when the format has one. */
  manifestDigest?: Digest;
}
