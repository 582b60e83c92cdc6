/**
 * Two-stage signal handling for a bench: the first SIGINT/SIGTERM/SIGHUP asks the
 * bench to stop at the next run boundary (no container is killed half-created, and
 * the normal clean-up runs); a second one runs `forceCleanup` at once and exits 130.
 * @param {() => Promise<void> | void} forceCleanup
 * @returns {{ interrupted(): boolean, checkInterrupted(): void }}
 */
export function handleInterrupts(forceCleanup) {
  let interrupted = false;
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(sig, async () => {
      if (!interrupted) {
        interrupted = true;
        console.error(`\nbench: ${sig}: stopping after the runs in flight (again to force)`);
        return;
      }
      console.error(`\nbench: ${sig}: killing the runs in flight, cleaning up`);
      await forceCleanup();
      process.exit(130);
    });
  }
  return {
    interrupted: () => interrupted,
    /** Throw at a run boundary once a signal asked us to stop. */
    checkInterrupted() {
      if (interrupted) throw new Error('interrupted');
    },
  };
}
