// Shared helpers for every bench script: summary statistics, a plain-text
// table, and the JSON result files under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory the result files go to (bench/results, next to this lib). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/**
 * The p-th percentile (0..100) of an ascending-sorted array, interpolating
 * linearly between the two closest ranks (numpy's default), so p50 of an even
 * count is the mean of the two middle samples.
 * @param {number[]} sorted
 * @param {number} p
 * @returns {number}
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/**
 * @typedef {object} Summary
 * @property {number} n
 * @property {number} min
 * @property {number} p50
 * @property {number} p95
 * @property {number} p99
 * @property {number} mean
 * @property {number} max
 * @property {number} stddev
 */

/**
 * Summary statistics of a list of samples (any unit; the benches use ms).
 * @param {number[]} samples
 * @returns {Summary}
 */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = sorted.reduce((s, x) => s + x, 0) / n;
  const variance = sorted.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, n - 1);
  return {
    n,
    min: sorted[0],
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean,
    max: sorted[n - 1],
    stddev: Math.sqrt(variance),
  };
}

/**
 * Round for display and for JSON (microsecond resolution is plenty for ms).
 * @param {number} x
 * @param {number} [digits]
 * @returns {number}
 */
export function round(x, digits = 3) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Render rows as an aligned plain-text table. Numbers are right-aligned and
 * shown with `decimals` digits; strings are left-aligned; null/undefined is "-".
 * @param {string[]} headers
 * @param {Array<Array<string|number|null|undefined>>} rows
 * @param {{ decimals?: number }} [opts]
 * @returns {string}
 */
export function formatTable(headers, rows, opts = {}) {
  const decimals = opts.decimals ?? 2;
  const cells = rows.map((row) =>
    row.map((c) => {
      if (c === null || c === undefined) return { text: '-', right: true };
      if (typeof c === 'number') return { text: c.toFixed(decimals), right: true };
      return { text: String(c), right: false };
    }),
  );
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ? r[i].text.length : 0))),
  );
  const line = (/** @type {{text: string, right: boolean}[]} */ r) =>
    r.map((c, i) => (c.right ? c.text.padStart(widths[i]) : c.text.padEnd(widths[i]))).join('  ');
  const head = line(headers.map((h, i) => ({ text: h, right: i > 0 })));
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [head, rule, ...cells.map(line)].join('\n');
}

/**
 * Write a bench's results as `bench/results/<name>-<timestamp>.json` and as
 * `bench/results/<name>-latest.json`, plus `latest.json` when `alsoLatest` is
 * set (the start-latency bench owns that name, as issue 2 asks).
 * @param {string} name bench name, e.g. 'start-latency'
 * @param {object} data JSON-serialisable results
 * @param {{ alsoLatest?: boolean }} [opts]
 * @returns {string[]} the paths written
 */
export function writeResults(name, data, opts = {}) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  // Colons are awkward in file names on some tools; keep the stamp sortable.
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const text = `${JSON.stringify(data, null, 2)}\n`;
  const paths = [
    join(RESULTS_DIR, `${name}-${stamp}.json`),
    join(RESULTS_DIR, `${name}-latest.json`),
  ];
  if (opts.alsoLatest) paths.push(join(RESULTS_DIR, 'latest.json'));
  for (const p of paths) writeFileSync(p, text);
  return paths;
}
