import { type Digest, isDigest } from '../digest.js';
import { OverlayError } from '../errors.js';

/** An image reference split into the parts the distribution API needs. */
export interface ImageReference {
  /** Registry host and optional port as written (`127.0.0.1:5000`); `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry (`busybox`, `library/busybox` on Docker Hub). */
  repository: string;
  /** The tag, unless the reference names only a digest. */
  tag?: string;
  /** The manifest digest, for `repo@sha256:...` references. */
  digest?: Digest;
  /**
   * The name the store records: the reference as written, with `:latest` added when it
   * names neither a tag nor a digest.
   */
  name: string;
}

// The grammar of github.com/distribution/reference (reference.go), sha256 digests only.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** Docker Hub's canonical name and the host that serves its API. */
export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

function bad(ref: string, why: string, field: string): OverlayError {
  return new OverlayError(
    'ERR_TSBOX_OVERLAY_INVALID_OPTION',
    'registry.ref',
    `image reference ${JSON.stringify(ref)} ${why}`,
    { value: ref, ref, field },
  );
}

/**
 * Parses `[host[:port]/]path[:tag][@sha256:hex]` the way Docker does: the first path
 * component is a registry host when it contains `.` or `:` or is `localhost`; otherwise the
 * image is on Docker Hub, where a one-component path means `library/<name>`. Pure; throws
 * `ERR_TSBOX_OVERLAY_INVALID_OPTION` (stage `registry.ref`) for anything malformed.
 */
export function parseReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref === '') throw bad(String(ref), 'is empty', 'ref');
  if (ref.length > 4096) throw bad(ref.slice(0, 64), 'is too long', 'ref');
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(ref, `has a digest that is not sha256:<64 hex>: ${d}`, 'digest');
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `has an invalid tag ${JSON.stringify(tag)}`, 'tag');
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN.test(first)) throw bad(ref, `has an invalid registry host ${first}`, 'registry');
    registry = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw bad(
      ref,
      'has an invalid repository name (lower-case letters, digits and . _ - separators)',
      'repository',
    );
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw bad(ref, 'has a repository name over 255 characters', 'ref');
  const out: ImageReference = {
    registry,
    repository,
    name: tag === undefined && digest === undefined ? `${ref}:latest` : ref,
  };
  if (tag === undefined && digest === undefined) out.tag = 'latest';
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** What the manifest endpoint is asked for: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? (ref.tag as string);
}

/** True for hosts that are this machine, which is served over plain HTTP like Docker does. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The base URL of a registry's API: `https://` when `tls`, else `http://` for loopback
 * hosts or when `insecure`, else `https://`. Docker Hub's API lives on `registry-1.docker.io`.
 */
export function registryBaseUrl(
  registry: string,
  how: { insecure?: boolean | undefined; tls?: boolean | undefined } = {},
): string {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
  const plain = !how.tls && (how.insecure === true || isLoopbackHost(registry));
  return `${plain ? 'http' : 'https'}://${host}`;
}
