/**
 * `NodeApi`: everything the `bt` CLI asks of a node. Implemented twice with
 * the same semantics: `LocalNode` (the data dir opened in this process, under
 * its lock) and the daemon client (the same calls forwarded over the Unix
 * socket of a running `bt up`). The CLI only ever talks to this interface,
 * which is what makes "same results either way" hold.
 *
 * Trees are addressed by their local name; paths are absolute within the tree.
 * Errors: `FsError` (POSIX code, path inside the tree) for filesystem
 * failures, `NodeError` for everything about the node and its trees.
 */
import type { GcReport } from '../store/types.js'
import type { Conflict, HistoryEntry } from '../sync/types.js'
import type { SyncApi } from './sync-api.js'
import type { Attr, DirEntry, WriteFileOptions } from './volume-types.js'

/** How the node's secrets are protected at rest (see tpm/ and docs/KEYS.md). */
export type KeyProtection = 'none' | 'passphrase' | 'tpm'

/** Role of a member in a tree. */
export type TreeRole = 'admin' | 'writer' | 'reader' | 'server'

export interface TreeInfo {
  /** Local name (unique on this node; `[A-Za-z0-9._-]`, 1–64 chars, not starting with '.' or '-'). */
  name: string
  /** Global tree id (32 hex chars), the same on every replica. */
  id: string
  /** This node's role in the tree. */
  role: TreeRole
  /** Creation (or join) time on this node, ms since epoch. */
  created: number
}

export interface NodeStatus {
  nodeId: string
  /** Absolute path of the data dir. */
  home: string
  /** Whether a daemon (`bt up`) serves this data dir. */
  running: boolean
  /** Daemon pid (when running). */
  pid?: number
  /** Unix socket of the local API (when running). */
  socket?: string
  keyProtection: KeyProtection
  /** `bt` version of the node answering. */
  version: string
  trees: TreeInfo[]
  /** Trees the daemon serves through FUSE (absent when no daemon runs). */
  mounts?: MountInfo[]
}

/** A tree mounted by the daemon (`bt up --mount`, `bt mount`). */
export interface MountInfo {
  tree: string
  /** Absolute mount point. */
  dir: string
  /** When it was mounted, ms since epoch. */
  since: number
  /** Files open through the mount now. */
  openFiles: number
  /** Requests served so far. */
  ops: number
}

export interface TreeUsage {
  name: string
  id: string
  /** Chunks stored for this tree. */
  chunks: number
  /** Bytes stored (encrypted chunk bytes, after dedup). */
  storedBytes: number
  /** Bytes of the live files as users see them (before dedup). */
  logicalBytes: number
  /** Live regular files. */
  files: number
  /** logicalBytes / storedBytes (1 when nothing is stored). */
  dedupRatio: number
}

/** `bt df`: totals over every tree plus one row per tree. */
export interface DfReport {
  chunks: number
  storedBytes: number
  logicalBytes: number
  dedupRatio: number
  trees: TreeUsage[]
}

export interface TreeVerify {
  name: string
  id: string
  /** Chunks re-hashed. */
  checked: number
  /** Chunk ids whose bytes do not hash to their id. */
  corrupt: string[]
  /** Chunk ids referenced by a file but absent. */
  missing: string[]
  /** Paths of live files that reference a corrupt or missing chunk. */
  damagedPaths: string[]
  /**
   * Trees read on demand (role reader): chunks not held here (never fetched,
   * or evicted from the cache). Peers hold them; not counted as missing.
   */
  notLocal?: number
}

export interface VerifyResult {
  ok: boolean
  trees: TreeVerify[]
}

export interface GcResult {
  trees: (GcReport & { name: string; id: string })[]
}

export interface RemoveOptions {
  /** Remove a directory and everything below it (`rm -r`). */
  recursive?: boolean
}

export interface ReadOptions {
  /** Version id (from `log`) to read instead of the current content. */
  at?: string
  /** Byte range [start, end) of the current content (not with `at`). */
  start?: number
  end?: number
}

/** Replication (invite, join, members, peers, pins, sync state): node/sync-api.ts. */
export interface NodeApi extends SyncApi {
  status(): Promise<NodeStatus>

  treeCreate(name: string): Promise<TreeInfo>
  treeList(): Promise<TreeInfo[]>

  /** Attributes of a path (`lstat`: symlinks are not followed). */
  stat(tree: string, path: string): Promise<Attr>
  /** One page of a directory listing, sorted by name. */
  ls(
    tree: string,
    path: string,
    cursor?: string,
    limit?: number,
  ): Promise<{ entries: DirEntry[]; cursor?: string }>
  mkdir(tree: string, path: string, opts?: { parents?: boolean; mode?: number }): Promise<Attr>
  /** Rename (replaces an existing file target, or an empty directory with a directory). */
  mv(tree: string, from: string, to: string): Promise<void>
  rm(tree: string, path: string, opts?: RemoveOptions): Promise<void>
  symlink(tree: string, target: string, path: string): Promise<Attr>
  readlink(tree: string, path: string): Promise<string>

  /**
   * Create or replace a whole file from a stream. Acknowledged (resolved)
   * only once the content and the tree change are durable; if the source
   * fails or the call is aborted, the path keeps its previous content.
   */
  writeFile(
    tree: string,
    path: string,
    source: AsyncIterable<Uint8Array>,
    opts?: WriteFileOptions,
  ): Promise<Attr>
  /** Stream a file's content (current, a byte range, or at a version). */
  readFile(tree: string, path: string, opts?: ReadOptions): AsyncIterable<Uint8Array>

  /** Journal of the tree, or of one path, newest first. */
  log(tree: string, path?: string, limit?: number): Promise<HistoryEntry[]>
  conflicts(tree: string): Promise<Conflict[]>
  /** Keep one version of a conflicted file; the others stay in history. */
  resolve(tree: string, path: string, keepVersion: string): Promise<void>

  df(): Promise<DfReport>
  verify(): Promise<VerifyResult>
  gc(): Promise<GcResult>

  /**
   * Serve a tree at a directory through FUSE (an existing empty directory,
   * absolute path; a dead mount left there by a crash is cleaned first). Only
   * a running daemon mounts: elsewhere NodeError EMOUNT.
   */
  mount(tree: string, dir: string): Promise<MountInfo>
  /**
   * Commit what open files staged and unmount `dir` (absolute). A dead mount
   * is cleaned too. A busy mount fails unless `lazy` (detached at once, served
   * until its files close).
   */
  unmount(dir: string, opts?: { lazy?: boolean }): Promise<void>

  /** Release this handle (local: close the data dir and its lock; remote: the connection). */
  close(): Promise<void>
}
