/** How a container run ended. Flat, with explicit flags: nobody decodes exit code 137. */
export interface RunResult {
  /** The container's id (also its default hostname and the name of its `/run/tsbox/<id>.json` record). */
  id: string;
  /**
   * The workload's exit status as a shell reports it: its exit code, or 128 + n when
   * signal n ended it.
   */
  exitCode: number;
  /** The signal that ended the workload (`'SIGKILL'` after a timeout), or null. */
  signal: NodeJS.Signals | null;
  /** Standard output, decoded as UTF-8, at most `maxOutput` bytes. */
  stdout: string;
  /** Standard error, decoded as UTF-8, at most `maxOutput` bytes. */
  stderr: string;
  /** The wall-clock timeout fired and the whole container was killed. */
  timedOut: boolean;
  /** `stop()` ended the run (SIGTERM, then SIGKILL after the grace period). */
  stopped: boolean;
  /** stdout or stderr produced more than `maxOutput` bytes; the first bytes are kept. */
  outputTruncated: boolean;
  /** Bytes the workload wrote, including those beyond `maxOutput`. */
  stdoutBytes: number;
  stderrBytes: number;
  /** From the call to `run()`/`start()` until the container was gone, in ms. */
  durationMs: number;
  /** The container's IPv4 address on its network; absent without a network. */
  ip?: string;
}
