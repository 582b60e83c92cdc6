// Registry logic that needs no registry: references, challenges, platforms, manifests.
import { describe, expect, it } from 'vitest';
import type { Descriptor } from '../src/import-oci.js';
import type { OverlayError } from '../src/index.js';
import { parseChallenges } from '../src/registry/auth.js';
import { buildManifest, parsePlatform, pickPlatform } from '../src/registry/manifest.js';
import { configForPush } from '../src/registry/push.js';
import { isLoopbackHost, parseReference, registryBaseUrl } from '../src/registry/reference.js';

const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return `${(e as OverlayError).code} ${(e as OverlayError).field}`;
  }
  return 'no error';
};

describe('image references', () => {
  it('splits host, repository, tag and digest the way Docker does', () => {
    expect(parseReference('127.0.0.1:5000/busybox:latest')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'busybox',
      tag: 'latest',
      name: '127.0.0.1:5000/busybox:latest',
    });
    expect(parseReference('localhost:5000/a/b-c/d_e')).toMatchObject({
      registry: 'localhost:5000',
      repository: 'a/b-c/d_e',
      tag: 'latest',
      name: 'localhost:5000/a/b-c/d_e:latest',
    });
    expect(parseReference('busybox')).toMatchObject({
      registry: 'docker.io',
      repository: 'library/busybox',
      tag: 'latest',
    });
    expect(parseReference('user/app:1.2')).toMatchObject({
      registry: 'docker.io',
      repository: 'user/app',
      tag: '1.2',
    });
    expect(parseReference(`reg.example.com/app@${D1}`)).toEqual({
      registry: 'reg.example.com',
      repository: 'app',
      digest: D1,
      name: `reg.example.com/app@${D1}`,
    });
    expect(parseReference(`localhost/app:v1@${D1}`)).toMatchObject({ tag: 'v1', digest: D1 });
    expect(parseReference('[::1]:5000/app:1').registry).toBe('[::1]:5000');
  });

  it('refuses malformed references, naming the bad part', () => {
    expect(code(() => parseReference(''))).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION ref');
    expect(code(() => parseReference('Busybox'))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION repository',
    );
    expect(code(() => parseReference('a//b'))).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION repository');
    expect(code(() => parseReference('a:-x'))).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION tag');
    expect(code(() => parseReference('a@sha256:12'))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION digest',
    );
    expect(code(() => parseReference(`a@sha512:${'1'.repeat(128)}`))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION digest',
    );
    expect(code(() => parseReference('-bad.host:5000/a'))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION registry',
    );
  });

  it('uses http only for loopback hosts or when told to', () => {
    expect(isLoopbackHost('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('[::1]:5000')).toBe(true);
    expect(isLoopbackHost('10.0.0.1:5000')).toBe(false);
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryBaseUrl('reg.example.com')).toBe('https://reg.example.com');
    expect(registryBaseUrl('reg.example.com:5000', { insecure: true })).toBe(
      'http://reg.example.com:5000',
    );
    expect(registryBaseUrl('docker.io')).toBe('https://registry-1.docker.io');
    expect(registryBaseUrl('127.0.0.1:5000', { tls: true })).toBe('https://127.0.0.1:5000');
  });
});

describe('WWW-Authenticate challenges', () => {
  it('parses bearer and basic challenges with quoted and bare values', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
    expect(parseChallenges('Basic realm="a \\"quoted\\" realm", charset=UTF-8')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm', charset: 'UTF-8' } },
    ]);
    expect(parseChallenges('Basic realm="x", Bearer realm="y"').map((c) => c.scheme)).toEqual([
      'basic',
      'bearer',
    ]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('platforms and manifests', () => {
  const entry = (digest: typeof D1, architecture: string, variant?: string): Descriptor => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: 1,
    annotations: {},
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });

  it('parses platform strings and picks the matching index entry', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
    expect(code(() => parsePlatform('amd64'))).toBe('ERR_TSBOX_OVERLAY_INVALID_OPTION platform');
    expect(code(() => parsePlatform('linux/arm/'))).toBe(
      'ERR_TSBOX_OVERLAY_INVALID_OPTION platform',
    );
    const entries = [entry(D1, 'arm64'), entry(D2, 'amd64')];
    expect(pickPlatform(entries, { os: 'linux', architecture: 'amd64' })?.digest).toBe(D2);
    expect(pickPlatform(entries, { os: 'linux', architecture: 's390x' })).toBeUndefined();
    expect(
      pickPlatform([entry(D1, 'arm', 'v6'), entry(D2, 'arm', 'v7')], parsePlatform('linux/arm/v7'))
        ?.digest,
    ).toBe(D2);
  });

  it('writes manifests with stable bytes and rewrites diff_ids only when they changed', () => {
    const m = buildManifest('docker', { digest: D1, size: 10 }, [{ digest: D2, size: 20 }]);
    expect(JSON.parse(m)).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D1, size: 10 },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D2, size: 20 },
      ],
    });
    expect(buildManifest('docker', { digest: D1, size: 10 }, [{ digest: D2, size: 20 }])).toBe(m);
    const blob = JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: [D1] } });
    expect(configForPush(blob, [D1], [D1])).toBe(blob);
    expect(JSON.parse(configForPush(blob, [D1], [D2]))).toEqual({
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [D2] },
    });
  });
});
