/** The node core: the Volume filesystem API of a tree and its composition (the CLI lives in node/cli/). */
export { inodeNumber, type Owner, toAttr } from './attrs.js'
export { Branch } from './branch.js'
export { FsError, type FsErrorCode, isFsError } from './errors.js'
export { guard, toFsError } from './fs-error.js'
export { MAX_FILE_SIZE, O_ACCMODE } from './open-files.js'
export {
  type DiskVolumeOptions,
  type MemoryVolumeOptions,
  openDiskVolume,
  openMemoryVolume,
  TREE_DB,
  type VolumeIdentity,
} from './open-tree.js'
export { checkName, NAME_MAX, normalizePath, PATH_MAX, splitPath } from './paths.js'
export { RangeSet } from './range-set.js'
export { type RetentionLedger, SqliteRetentionLedger } from './retention.js'
export { DiskStaging, MemoryStaging, SpillStaging, type Staging, type StagingFile } from './staging.js'
export { RENAME_NOREPLACE, type SpaceInfo, TreeVolume, type TreeVolumeInit } from './volume.js'
export type * from './volume-types.js'
