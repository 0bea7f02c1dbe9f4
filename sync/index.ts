/** The path tree: sharded Automerge inode map, SQLite materialized view, replication helpers. */
export type { SyncState } from './automerge.js'
export { isTreeError, TreeError, type TreeErrorCode } from './errors.js'
export { isValidName, NAME_MAX, PATH_MAX, validateName } from './names.js'
export { AutomergePathTree, type PathTreeOptions } from './path-tree.js'
export { APPLY_BATCH } from './replication.js'
export * from './runtime.js'
export { openTreeDatabase, type SqliteDb, TreeStorage } from './storage.js'
export {
  decodeShardSummary,
  encodeShardSummary,
  PeerSyncStates,
  type SyncStats,
  syncTrees,
} from './sync-trees.js'
export * from './types.js'
