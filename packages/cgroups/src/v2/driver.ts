import { mkdirWithParent, readCgroupFile, writeCgroupFile } from '../cgroup-fs.js';
import { CgroupError, errnoOf, fsError } from '../errors.js';
import type { CgroupLimits } from '../limits.js';
import type { CgroupManager } from '../manager.js';
import { collectPids, killPids, removeDirs } from '../remove.js';
import type { CgroupEvents, CgroupStats } from '../stats.js';
import { pollUntil } from '../wait.js';
import { type V2Features, v2LimitWrites } from './limit-writes.js';
import { forgetV2Parent, type V2Parent, v2Parent } from './parent.js';
import { readV2Events, readV2Stats } from './stats.js';

const FREEZE_TIMEOUT_MS = 5000;
const KILL_WAIT_MS = 2000;

/** The cgroup v2 driver: one directory in the unified hierarchy. See {@link CgroupManager}. */
export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly id: string;
  readonly name: string;
  readonly paths: readonly string[];
  private readonly p: V2Parent;
  private readonly dir: string;
  private readonly procs: readonly string[];
  private rssPeak = 0;

  constructor(
    id: string,
    name: string,
    private readonly mountRoot: string,
  ) {
    this.id = id;
    this.name = name;
    this.p = v2Parent(mountRoot);
    this.dir = `${this.p.dir}/${name}`;
    this.paths = [this.dir];
    this.procs = [`${this.dir}/cgroup.procs`];
  }

  async create(): Promise<void> {
    try {
      mkdirWithParent(this.dir, () => {
        // The shared parent was removed while empty: make and enable it again.
        forgetV2Parent(this.mountRoot);
        v2Parent(this.mountRoot);
      });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') {
        throw new CgroupError(
          'ERR_TSBOX_CGROUP_EXISTS',
          'cgroup.create',
          `cgroup ${this.dir} already exists`,
          {
            path: this.dir,
            errno: 'EEXIST',
            syscall: 'mkdir',
          },
        );
      }
      throw fsError('cgroup.create', 'mkdir', this.dir, err);
    }
  }

  async apply(limits: CgroupLimits): Promise<void> {
    const features: V2Features = {
      swapMax: this.p.hasFile('memory.swap.max'),
      ioWeightFile: this.p.hasFile('io.weight')
        ? 'io.weight'
        : this.p.hasFile('io.bfq.weight')
          ? 'io.bfq.weight'
          : undefined,
    };
    for (const w of v2LimitWrites(limits, features)) {
      if (!this.p.hasFile(w.file)) {
        throw new CgroupError(
          'ERR_TSBOX_CGROUP_UNSUPPORTED',
          'cgroup.apply',
          `${w.file}: the controller is not enabled under ${this.p.dir}`,
          { path: `${this.dir}/${w.file}`, value: w.value },
        );
      }
      writeCgroupFile(`${this.dir}/${w.file}`, w.value, 'cgroup.apply');
    }
  }

  procsPaths(): readonly string[] {
    return this.procs;
  }

  async addProcess(pid: number): Promise<void> {
    writeCgroupFile(this.procs[0] as string, String(pid), 'cgroup.add');
  }

  stats(): CgroupStats {
    const s = readV2Stats(this.p, this.dir);
    this.rssPeak = Math.max(this.rssPeak, s.memoryRssBytes);
    return { ...s, memoryRssPeakBytes: this.rssPeak };
  }

  events(): CgroupEvents {
    return readV2Events(this.p, this.dir);
  }

  async freeze(): Promise<void> {
    writeCgroupFile(`${this.dir}/cgroup.freeze`, '1', 'cgroup.freeze');
    const events = `${this.dir}/cgroup.events`;
    const frozen = await pollUntil(
      () => /^frozen 1$/m.test(readCgroupFile(events, 'cgroup.freeze')),
      FREEZE_TIMEOUT_MS,
    );
    if (!frozen) {
      writeCgroupFile(`${this.dir}/cgroup.freeze`, '0', 'cgroup.freeze'); // never leave it half-frozen
      throw new CgroupError(
        'ERR_TSBOX_CGROUP_TIMEOUT',
        'cgroup.freeze',
        `${events} did not report frozen in 5 s`,
        {
          path: events,
        },
      );
    }
  }

  async thaw(): Promise<void> {
    writeCgroupFile(`${this.dir}/cgroup.freeze`, '0', 'cgroup.thaw');
  }

  async killAll(): Promise<void> {
    if (collectPids(this.dir).length === 0) return;
    if (this.p.hasFile('cgroup.kill')) {
      writeCgroupFile(`${this.dir}/cgroup.kill`, '1', 'cgroup.kill');
    } else {
      // Kernels before 5.14: freeze so no task forks or frees its pid mid-kill, as on v1.
      await this.freeze();
      try {
        killPids(collectPids(this.dir));
      } finally {
        await this.thaw();
      }
    }
    await pollUntil(() => collectPids(this.dir).length === 0, KILL_WAIT_MS);
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
