import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where each live container keeps its record, like runc's /run/runc. */
export const STATE_ROOT = process.env.TSBOX_STATE_DIR ?? '/run/tsbox';

/** What `/run/tsbox/<id>/state.json` holds while a container lives. */
export interface ContainerState {
  id: string;
  /** Host pid of the host-side tsbox-init (the keeper). */
  keeperPid: number;
  /** Host pid of the Node process that started it. */
  ownerPid: number;
  createdAt: string;
}

let rootReady = false;

/**
 * Creates the container's state directory. Its `root/` subdirectory is where
 * init assembles the root filesystem, inside the container's own mount namespace.
 */
export function createStateDir(id: string): string {
  if (!rootReady) {
    mkdirSync(STATE_ROOT, { recursive: true, mode: 0o700 });
    rootReady = true;
  }
  const dir = join(STATE_ROOT, id);
  mkdirSync(dir, { mode: 0o700 });
  mkdirSync(join(dir, 'root'), { mode: 0o700 });
  return dir;
}

export function writeState(dir: string, state: ContainerState): void {
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
}

/** Removes a state directory; idempotent. */
export function removeStateDir(dir: string): void {
  // The three entries it normally holds, removed directly: a recursive rm walks
  // and stats, and this runs once per container on the hot path.
  try {
    rmSync(join(dir, 'state.json'), { force: true });
    rmdirSync(join(dir, 'root'));
    rmdirSync(dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function readStates(): Array<{ dir: string; state: ContainerState | undefined }> {
  let names: string[];
  try {
    names = readdirSync(STATE_ROOT);
  } catch {
    return [];
  }
  return names.map((name) => {
    const dir = join(STATE_ROOT, name);
    try {
      return {
        dir,
        state: JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as ContainerState,
      };
    } catch {
      return { dir, state: undefined };
    }
  });
}
