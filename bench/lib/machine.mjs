// Facts about the machine a result was measured on, stored in every JSON so
// figures from different machines are never compared blindly.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { capture } from './proc.mjs';

/**
 * First line of `<bin> --version`, or null when the binary is absent.
 * @param {string} bin
 */
function version(bin) {
  const out = capture(bin, ['--version'], { allowFail: true });
  return out ? out.split('\n')[0].trim() : null;
}

/** The cgroup layout as seen from this (bench) mount namespace. */
function cgroupLayout() {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2');
  const v1 = mounts.filter((f) => f[2] === 'cgroup').length;
  const v2 = mounts.filter((f) => f[2] === 'cgroup2').map((f) => f[1]);
  return { v1Hierarchies: v1, v2Mounts: v2 };
}

/**
 * How busy the machine is right now: load averages and CPU pressure (PSI).
 * Taken before and after a bench, since other work on a 2-core machine moves
 * every figure.
 */
export function machineLoad() {
  let cpuPressure = null;
  try {
    cpuPressure = readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0];
  } catch {
    // PSI not compiled in
  }
  return { at: new Date().toISOString(), loadavg: os.loadavg(), cpuPressure };
}

export function machineFacts() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    kernel: os.release(),
    arch: os.arch(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? null,
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    crun: version('crun'),
    runc: version('runc'),
    bwrap: version('bwrap'),
    unshare: version('unshare'),
    cgroups: cgroupLayout(),
    gitCommit: capture('git', ['rev-parse', 'HEAD'], { allowFail: true }).trim() || null,
    debian: existsSync('/etc/debian_version')
      ? readFileSync('/etc/debian_version', 'utf8').trim()
      : null,
  };
}
