/** The FUSE adapter: a `Volume` served at a directory. */
export {
  type FuseMount,
  MAX_WRITE,
  MountError,
  type MountOptions,
  mountOptions,
  mountVolume,
} from './mount.js'
export type { FuseStats } from './ops.js'
export {
  cleanStaleMount,
  fusermountUnmount,
  isFuse,
  listMounts,
  type MountEntry,
  mountAt,
  probe,
} from './stale.js'
