import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `tsbox-init` has not been compiled (run the build: `pnpm build`). */
export class InitNotBuiltError extends Error {
  readonly code = 'ERR_TSBOX_INIT_NOT_BUILT';
  readonly stage = 'init.locate';
  constructor(readonly path: string) {
    super(
      `tsbox-init is not built at ${path}: run \`pnpm build\` (it compiles packages/init/c with cc)`,
    );
    this.name = 'InitNotBuiltError';
  }
}

let located: string | undefined;

/**
 * Path of the compiled `tsbox-init`: `$TSBOX_INIT` when set, else the binary the
 * build step puts in this package's `bin/`. Checked once per process.
 */
export function initBinaryPath(): string {
  if (located) return located;
  const path =
    process.env.TSBOX_INIT ?? fileURLToPath(new URL('../bin/tsbox-init', import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new InitNotBuiltError(path);
  }
  located = path;
  return path;
}
