/** The node core: data dir, identity, tree registry, LocalNode, and the Volume filesystem API of a tree (the CLI lives in node/cli/, the daemon in node/daemon/). */

export type * from './api-types.js'
export { inodeNumber, type Owner, toAttr } from './attrs.js'
export { Branch } from './branch.js'
export { FsError, type FsErrorCode, isFsError } from './errors.js'
export { guard, toFsError } from './fs-error.js'
export { HOME_FILES, resolveHome } from './home.js'
export { type Identity, type InitOptions, initNode, loadIdentity, publicKeyHex } from './identity.js'
export { LocalNode, type LocalNodeOptions, openLocalNode } from './local-node.js'
export { HomeLock } from './lock.js'
export { isNodeError, NodeError, type NodeErrorCode } from './node-error.js'
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
export { checkTreeName, TreeRegistry } from './trees.js'
export { RENAME_NOREPLACE, type SpaceInfo, TreeVolume, type TreeVolumeInit } from './volume.js'
export type * from './volume-types.js'
