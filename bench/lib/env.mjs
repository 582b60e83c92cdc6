/**
 * A positive integer knob from the environment (`BENCH_RUNS=300`), or `dflt` when unset.
 * A value that is not a positive integer is an error, never silently the default.
 * @param {string} name
 * @param {number} dflt
 */
export function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}
