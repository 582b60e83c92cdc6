// Spawning helpers shared by the benches: a timed, exit-checked spawn and a
// registry of the children we started, so an interrupted bench kills exactly
// those (never anything by name).
import { execFileSync, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/**
 * Spawn `cmd args`, wait until it has exited and its stderr is closed, and
 * return the wall time in ms measured from just before spawn(). A non-zero
 * exit or a signal rejects with the command's stderr: a contender that fails
 * is an error, never a fast sample.
 * stdout is ignored; stderr is piped (for the error message) for every
 * contender alike, so the pipe's cost is the same for all.
 * @param {string} cmd
 * @param {string[]} args
 * @returns {Promise<number>}
 */
export function timedRun(cmd, args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    /** @type {Buffer[]} */
    const err = [];
    let errLen = 0;
    child.stderr?.on('data', (b) => {
      if (errLen < 4096) {
        err.push(b);
        errLen += b.length;
      }
    });
    child.on('error', (e) => {
      live.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      live.delete(child);
      if (code === 0) return resolve(ms);
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const stderr = Buffer.concat(err).toString().trim();
      reject(new Error(`${cmd} ${args.join(' ')}: ${why}${stderr ? `: ${stderr}` : ''}`));
    });
  });
}

/**
 * Run a command to completion and return its stdout (for versions, set-up and
 * clean-up; not timed). Throws on failure unless `allowFail` is set.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ allowFail?: boolean }} [opts]
 * @returns {string}
 */
export function capture(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (opts.allowFail) return '';
    throw e;
  }
}

/** SIGKILL every child this process started that is still running. */
export function killLiveChildren() {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

/**
 * Run `n` async jobs with at most `width` in flight; returns the total wall
 * time in ms. The first failure rejects (after the jobs in flight settle).
 * @param {number} n
 * @param {number} width
 * @param {(i: number) => Promise<unknown>} job
 * @returns {Promise<number>}
 */
export async function timedPool(n, width, job) {
  let next = 0;
  /** @type {unknown} */
  let failure;
  const worker = async () => {
    while (next < n && failure === undefined) {
      const i = next++;
      try {
        await job(i);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: width }, worker));
  const ms = performance.now() - t0;
  if (failure !== undefined) throw failure;
  return ms;
}
