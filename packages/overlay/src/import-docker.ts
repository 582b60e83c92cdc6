import * as fs from 'node:fs';
import { OverlayError } from './errors.js';
import { parseImageConfigBlob } from './image-config.js';
import type { ImageSource } from './image-source.js';
import { insideDir, readJsonFile } from './json-file.js';

/** One entry of a `docker save` manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/** Validates the parsed `manifest.json` of a `docker save` archive. Pure. */
export function parseDockerManifest(doc: unknown): DockerManifestEntry[] {
  const bad = (why: string) =>
    new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.manifest',
      `docker manifest.json ${why}`,
      {
        field: 'manifest.json',
      },
    );
  if (!Array.isArray(doc) || doc.length === 0) throw bad('must be a non-empty array');
  return doc.map((e: Record<string, unknown>) => {
    if (!e || typeof e.Config !== 'string') throw bad('entry has no Config');
    if (!Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string')) {
      throw bad('entry has no Layers list');
    }
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t) => typeof t === 'string') : [];
    return { Config: e.Config, RepoTags: tags, Layers: e.Layers as string[] };
  });
}

/** Picks the manifest entry named `name` (a RepoTag), or the only/first one. */
export function pickDockerEntry(
  entries: DockerManifestEntry[],
  name?: string,
): DockerManifestEntry {
  if (name === undefined) return entries[0] as DockerManifestEntry;
  const hit = entries.find(
    (e) => e.RepoTags.includes(name) || e.RepoTags.includes(`${name}:latest`),
  );
  if (!hit) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_NOT_FOUND',
      'import.manifest',
      `archive has no image tagged ${name}; it has ${entries.flatMap((e) => e.RepoTags).join(', ') || 'no tags'}`,
      { value: name },
    );
  }
  return hit;
}

/**
 * Reads an unpacked `docker save` archive (manifest.json, config JSON, one tar per layer;
 * both the classic `<id>/layer.tar` layout and Docker 25's `blobs/sha256/...`). The
 * config's `rootfs.diff_ids` give each layer's expected diffID, checked on extraction.
 */
export function readDockerArchive(dir: string, name?: string): ImageSource {
  const { doc } = readJsonFile(`${dir}/manifest.json`, 'import.manifest', 'docker manifest.json');
  const entry = pickDockerEntry(parseDockerManifest(doc), name);
  const configPath = insideDir(dir, entry.Config, 'import.manifest', 'Config');
  const { raw } = readJsonFile(configPath, 'import.config', 'image config');
  const parsed = parseImageConfigBlob(raw);
  if (parsed.diffIds.length !== entry.Layers.length) {
    throw new OverlayError(
      'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
      'import.manifest',
      `manifest lists ${entry.Layers.length} layers but the config has ${parsed.diffIds.length} diff_ids`,
      { field: 'Layers' },
    );
  }
  const layers = entry.Layers.map((rel, i) => {
    const path = insideDir(dir, rel, 'import.manifest', `Layers[${i}]`);
    let size: number;
    try {
      size = fs.statSync(path).size;
    } catch (err) {
      throw new OverlayError(
        'ERR_TSBOX_OVERLAY_INVALID_ARCHIVE',
        'import.manifest',
        `layer ${rel} is missing`,
        {
          path,
          cause: err,
        },
      );
    }
    return { path, size, diffId: parsed.diffIds[i] };
  });
  return {
    format: 'docker-archive',
    layers,
    configBlob: raw,
    names: entry.RepoTags,
  };
}
