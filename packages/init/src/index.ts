/**
 * `@tsbox/init`: locates the compiled `tsbox-init` helper and speaks its wire
 * protocol. It holds no policy: `@tsbox/core` decides every mount, limit and
 * capability and encodes them here.
 *
 * @packageDocumentation
 */
export { InitNotBuiltError, initBinaryPath } from './binary.js';
export * from './constants.js';
export {
  encodeInitConfig,
  type InitConfig,
  InitConfigError,
  type InitMessage,
  type MountOp,
  parseInitMessage,
  type Rlimit,
} from './wire.js';
