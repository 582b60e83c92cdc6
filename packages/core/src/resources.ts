import type { CgroupManager } from '@tsbox/cgroups';
import type { MountOp } from '@tsbox/init';
import type { RunResult } from './result.js';
import type { ContainerSpec } from './spec.js';

/** What a resource is prepared for. */
export interface ResourceContext {
  id: string;
  hostname: string;
  spec: ContainerSpec;
}

/**
 * One host resource a container holds (a cgroup, a network attachment, an overlay
 * root ...): prepared before tsbox-init is spawned, released after the container is
 * gone. Each kind lives in its own `resource-*.ts` file; the pipeline only calls
 * these hooks, in order, and releases in reverse order on every path.
 */
export interface ContainerResource {
  /** `cgroup.procs` files the keeper joins before it clones. */
  readonly cgroupProcs?: readonly string[];
  /** The container's cgroup, when this resource is it (for stats, pause, resume). */
  readonly cgroup?: CgroupManager;
  /** Extra mount records, run after the standard ones and before `pivot`. */
  readonly mounts?: readonly MountOp[];
  /** Host-side step between clone and "go", given PID 1's host pid. */
  afterClone?(pid: number): Promise<void> | void;
  /** Runs once the container is gone, before release: fills in what it measured. */
  finish?(result: RunResult): Promise<void> | void;
  /** Undoes the resource. Idempotent; must not throw for what is already gone. */
  release(): Promise<void> | void;
}

/** Makes a resource for a container, or `undefined` when its spec does not need one. */
export type ResourceFactory = (ctx: ResourceContext) => Promise<ContainerResource | undefined>;

/**
 * Prepares every resource in order; if one fails, releases those already made (in
 * reverse) and rethrows, so nothing is left half-created.
 */
export async function prepareResources(
  factories: readonly ResourceFactory[],
  ctx: ResourceContext,
): Promise<ContainerResource[]> {
  const made: ContainerResource[] = [];
  try {
    for (const make of factories) {
      const r = await make(ctx);
      if (r) made.push(r);
    }
    return made;
  } catch (err) {
    await releaseResources(made);
    throw err;
  }
}

/** Releases in reverse order; every release runs even if one throws (the first error is rethrown). */
export async function releaseResources(resources: readonly ContainerResource[]): Promise<void> {
  let first: { error: unknown } | undefined;
  for (const r of [...resources].reverse()) {
    try {
      await r.release();
    } catch (error) {
      first ??= { error };
    }
  }
  if (first) throw first.error;
}
