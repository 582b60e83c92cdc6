import type { Digest } from '../digest.js';
import { OverlayError } from '../errors.js';
import { parseImageConfigBlob } from '../image-config.js';
import type { Descriptor } from '../import-oci.js';
import type { ImportProgress } from '../store.js';
import { fetchBlob } from './blobs.js';
import type { RegistryClient, RegistryOptions } from './client.js';
import { type Platform, type ResolvedManifest, resolveManifest } from './manifest.js';
import { manifestReference } from './reference.js';

/** Options of {@link ImageStore.pull}. */
export interface PullOptions extends RegistryOptions {
  /**
   * Which image of a multi-platform index to pull: `'linux/arm64'`, `'linux/arm/v7'` or
   * a {@link Platform}; default `linux/amd64`. Ignored for single-platform images.
   */
  platform?: string | Platform;
  /** Called as bytes and layers go by (bytes are downloaded blob bytes). */
  onProgress?: (progress: ImportProgress) => void;
}

/** Image configs are JSON; a few MiB covers long histories. */
const CONFIG_LIMIT = 32 * 1024 * 1024;

/** An image as a registry describes it, before any layer is fetched. */
export interface RemoteImage {
  manifest: ResolvedManifest;
  /** The config blob, digest-checked. */
  configBlob: Buffer;
  /** Layer diffIDs from the config, bottom first, one per manifest layer. */
  diffIds: Digest[];
  layers: Descriptor[];
}

/** Fetches and checks the manifest (following an index to `platform`) and the config. */
export async function resolveRemoteImage(
  client: RegistryClient,
  platform: Platform,
): Promise<RemoteImage> {
  const manifest = await resolveManifest(client, manifestReference(client.ref), platform);
  const configBlob = await fetchBlob(client, manifest.config, CONFIG_LIMIT);
  let diffIds: Digest[];
  try {
    diffIds = parseImageConfigBlob(configBlob).diffIds;
  } catch (err) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_REGISTRY',
      'registry.config',
      `config ${manifest.config.digest} of ${client.ref.name}: ${(err as Error).message}`,
      { ref: client.ref.name, value: manifest.config.digest, cause: err },
    );
  }
  if (diffIds.length !== manifest.layers.length) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_REGISTRY',
      'registry.manifest',
      `manifest of ${client.ref.name} lists ${manifest.layers.length} layers but its config has ${diffIds.length} diff_ids`,
      { ref: client.ref.name, field: 'layers' },
    );
  }
  return { manifest, configBlob, diffIds, layers: manifest.layers };
}

/** Throws `ERR_TSBOX_OVERLAY_ABORTED` when the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined, stage: string, ref: string): void {
  if (signal?.aborted) {
    throw new OverlayError('ERR_TSBOX_OVERLAY_ABORTED', stage, `transfer of ${ref} was aborted`, {
      ref,
      cause: signal.reason,
    });
  }
}
