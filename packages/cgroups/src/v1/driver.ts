import { existsSync } from 'node:fs';
import { mkdirWithParent, readCgroupFile, tryRmdir, writeCgroupFile } from '../cgroup-fs.js';
import { CgroupError, errnoOf, fsError } from '../errors.js';
import type { CgroupLimits } from '../limits.js';
import { CGROUP_PARENT, type CgroupManager } from '../manager.js';
import { collectPids, killPids, removeDirs } from '../remove.js';
import type { CgroupEvents, CgroupStats } from '../stats.js';
import { pollUntil, sleep } from '../wait.js';
import {
  forgetV1Hierarchies,
  type V1Controller,
  type V1Hierarchies,
  v1Hierarchies,
} from './hierarchies.js';
import { type V1Features, v1LimitWrites } from './limit-writes.js';
import { readV1Events, readV1Stats } from './stats.js';

const FREEZE_TIMEOUT_MS = 5000;
const KILL_WAIT_MS = 2000;
const FREEZE_ATTEMPT_MS = 100;

/** The cgroup v1 driver: one directory per controller hierarchy. See {@link CgroupManager}. */
export class CgroupV1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly id: string;
  readonly name: string;
  readonly paths: readonly string[];
  private readonly h: V1Hierarchies;
  private readonly freezerDir: string;
  private readonly procs: readonly string[];
  private rssPeak = 0;

  constructor(
    id: string,
    name: string,
    private readonly mountRoot: string,
  ) {
    this.id = id;
    this.name = name;
    this.h = v1Hierarchies(mountRoot);
    this.paths = this.h.mounts.map((m) => `${m}/${CGROUP_PARENT}/${name}`);
    this.freezerDir = this.paths[this.paths.length - 1] as string;
    this.procs = this.paths.map((p) => `${p}/cgroup.procs`);
  }

  private dirOf = (controller: V1Controller): string | undefined => {
    const mount = this.h.mountOf.get(controller);
    return mount === undefined ? undefined : `${mount}/${CGROUP_PARENT}/${this.name}`;
  };

  async create(): Promise<void> {
    const made: string[] = [];
    for (const dir of this.paths) {
      try {
        mkdirWithParent(dir, () => {
          // The shared parent was removed while empty: prepare it again.
          forgetV1Hierarchies(this.mountRoot);
          v1Hierarchies(this.mountRoot);
        });
        made.push(dir);
      } catch (err) {
        for (const m of made.reverse()) tryRmdir(m, 'cgroup.create');
        if (errnoOf(err) === 'EEXIST') {
          throw new CgroupError(
            'ERR_TSBOX_CGROUP_EXISTS',
            'cgroup.create',
            `cgroup ${dir} already exists`,
            {
              path: dir,
              errno: 'EEXIST',
              syscall: 'mkdir',
            },
          );
        }
        throw fsError('cgroup.create', 'mkdir', dir, err);
      }
    }
  }

  async apply(limits: CgroupLimits): Promise<void> {
    const features: V1Features = {
      memsw: this.h.hasFile('memory', 'memory.memsw.limit_in_bytes'),
      blkioWeightFile: this.h.hasFile('blkio', 'blkio.weight')
        ? 'blkio.weight'
        : this.h.hasFile('blkio', 'blkio.bfq.weight')
          ? 'blkio.bfq.weight'
          : undefined,
    };
    const writes = v1LimitWrites(limits, features);
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i] as (typeof writes)[number];
      const dir = this.dirOf(w.controller);
      if (!dir) {
        throw new CgroupError(
          'ERR_TSBOX_CGROUP_UNSUPPORTED',
          'cgroup.apply',
          `${w.file}: the ${w.controller} controller is not mounted`,
          { value: w.value },
        );
      }
      try {
        writeCgroupFile(`${dir}/${w.file}`, w.value, 'cgroup.apply');
      } catch (err) {
        // Raising a limit above the current memsw limit is refused (memsw ≥ limit always
        // holds): write the new memsw first, then the limit.
        const next = writes[i + 1];
        if (w.file === 'memory.limit_in_bytes' && next?.file === 'memory.memsw.limit_in_bytes') {
          writeCgroupFile(`${dir}/${next.file}`, next.value, 'cgroup.apply');
          writeCgroupFile(`${dir}/${w.file}`, w.value, 'cgroup.apply');
          i++;
          continue;
        }
        throw err;
      }
    }
  }

  procsPaths(): readonly string[] {
    return this.procs;
  }

  async addProcess(pid: number): Promise<void> {
    for (const path of this.procs) writeCgroupFile(path, String(pid), 'cgroup.add');
  }

  stats(): CgroupStats {
    const s = readV1Stats(this.h, this.dirOf);
    this.rssPeak = Math.max(this.rssPeak, s.memoryRssBytes);
    return { ...s, memoryRssPeakBytes: this.rssPeak };
  }

  events(): CgroupEvents {
    return readV1Events(this.dirOf);
  }

  async freeze(): Promise<void> {
    const state = `${this.freezerDir}/freezer.state`;
    const isFrozen = () => readCgroupFile(state, 'cgroup.freeze').trim() === 'FROZEN';
    const deadline = performance.now() + FREEZE_TIMEOUT_MS;
    for (;;) {
      writeCgroupFile(state, 'FROZEN', 'cgroup.freeze');
      if (await pollUntil(isFrozen, FREEZE_ATTEMPT_MS)) return;
      // The v1 freezer can stay FREEZING for good when a parent waits in vfork for a
      // child that is already frozen (seen on 6.x with dash, which vforks). Thawing lets
      // the child exec and the parent leave vfork; then try again (runc does the same).
      writeCgroupFile(state, 'THAWED', 'cgroup.freeze');
      if (performance.now() >= deadline) {
        throw new CgroupError(
          'ERR_TSBOX_CGROUP_TIMEOUT',
          'cgroup.freeze',
          `${state} did not reach FROZEN in 5 s`,
          {
            path: state,
          },
        );
      }
      await sleep(1);
    }
  }

  async thaw(): Promise<void> {
    writeCgroupFile(`${this.freezerDir}/freezer.state`, 'THAWED', 'cgroup.thaw');
  }

  async killAll(): Promise<void> {
    const deadline = performance.now() + KILL_WAIT_MS;
    while (this.members().length > 0 && performance.now() < deadline) {
      // Frozen, no member can fork or exit and free its pid for reuse between the read
      // and the kill. If freezing times out (or the freezer cgroup is gone after a crash
      // mid-create), kill unfrozen: the loop catches what was forked meanwhile.
      const frozen =
        existsSync(this.freezerDir) &&
        (await this.freeze().then(
          () => true,
          () => false,
        ));
      try {
        killPids(this.members());
      } finally {
        if (frozen) await this.thaw(); // SIGKILL is acted on once the tasks run again
      }
      await pollUntil(() => this.members().length === 0, 200);
    }
  }

  /** Every pid in this cgroup and its sub-cgroups, across all hierarchies (deduplicated). */
  private members(): number[] {
    const all = new Set<number>();
    for (const dir of this.paths) for (const pid of collectPids(dir)) all.add(pid);
    return [...all];
  }

  async destroy(): Promise<void> {
    // Fast path: a finished container has no members and every rmdir succeeds at once;
    // only an EBUSY costs the kill round trip.
    await removeDirs(this.paths, () => this.killAll(), 'cgroup.destroy');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.destroy();
  }
}
