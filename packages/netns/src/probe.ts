/**
 * What this host supports for tsbox networking, checked without changing anything:
 * for `tsbox doctor`, so a missing piece is reported up front rather than deep
 * inside a run.
 */
import { spawnSync } from 'node:child_process';
import { listLinks } from './link.js';
import { runInNetns } from './netns.js';
import { NetlinkSocket } from './socket.js';

/** One capability: usable, or why not and what to do. */
export type ProbeResult = { ok: true; detail: string } | { ok: false; reason: string };

/** Result of {@link probeNetworking}. */
export interface NetworkingProbe {
  /** An rtnetlink socket opens and a link dump works (koffi, AF_NETLINK). */
  netlink: ProbeResult;
  /** `setns(CLONE_NEWNET)` works from this thread (needs CAP_SYS_ADMIN). */
  setns: ProbeResult;
  /** The `nft` binary runs (needed only for published ports and NAT). */
  nft: ProbeResult;
}

/** Checks netlink, setns and nft; never throws. */
export function probeNetworking(): NetworkingProbe {
  return {
    netlink: attempt(() => {
      using nl = NetlinkSocket.open();
      return `${listLinks(nl).length} links visible`;
    }),
    // Entering our own namespace exercises the same syscall and permission check.
    setns: attempt(() => runInNetns({ path: '/proc/thread-self/ns/net' }, () => 'setns works')),
    nft: attempt(() => {
      const run = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: 5000 });
      if (run.error)
        throw new Error(`nft not runnable (${run.error.message}); install Debian package nftables`);
      if (run.status !== 0)
        throw new Error(`nft --version exited ${run.status}: ${run.stderr.trim()}`);
      return run.stdout.trim();
    }),
  };
}

function attempt(check: () => string): ProbeResult {
  try {
    return { ok: true, detail: check() };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
