/**
 * Contracts of the path tree: the CRDT map of inodes of one tree (Automerge,
 * sharded) and the SQLite (or in-memory) materialized view that answers
 * lookups and directory listings.
 */
import type { FileRef } from '../store/types.js'

/** Inode id: 'root' for the root directory, else `<shard>.<16 random hex bytes>` (shard encoded in the id). */
export type InodeId = string
export const ROOT_ID: InodeId = 'root'
/** Name of the virtual directory that receives orphans (parent unknown or in a cycle that could not be reverted). */
export const LOST_FOUND = 'lost+found'

export type InodeKind = 'file' | 'dir' | 'symlink'

/** One version of a file's content, as written by one commit on one node. */
export interface ContentVersion {
  /** Unique id of this write (random hex); also the version id used by conflicts. */
  write: string
  ref: FileRef
  /** Node id that wrote it. */
  node: string
  /** Wall time of the write (ms). */
  time: number
}

/** A visible directory entry: one name in one directory. */
export interface Entry {
  parent: InodeId
  name: string
  ino: InodeId
  kind: InodeKind
  /** Permission bits (e.g. 0o644), no file-type bits. */
  mode: number
  /** Modification time, ms. */
  mtime: number
  /** Creation time, ms. */
  ctime: number
  /** Size in bytes (files: content size, symlinks: target length, dirs: 0). */
  size: number
  /** Files: the content shown under this name. */
  content?: ContentVersion
  /** Symlinks: target. */
  target?: string
  /**
   * Set when this entry is a conflict copy: a losing concurrent content
   * version of file `ino` (`version` = its write id), or a duplicate name
   * (`version` = 'dup'). Conflict copies of content are read-only.
   */
  conflict?: { kind: 'content' | 'name'; version: string }
}

export interface Conflict {
  /** Path of the winning entry. */
  path: string
  ino: InodeId
  kind: 'content' | 'name'
  /** Visible names of the losing copies. */
  copies: { path: string; version: string; node: string; time: number }[]
}

/** One recorded change of the tree (the journal). */
export interface HistoryEntry {
  /** Change hash (hex); usable as a version id (a unique prefix of >= 8 chars is accepted). */
  version: string
  time: number
  /** Node id of the author. */
  node: string
  op: 'create' | 'write' | 'move' | 'setattr' | 'remove' | 'resolve' | 'other'
  ino: InodeId
  /** Path of the inode when the change was recorded locally. */
  path: string
}

export interface CreateOptions {
  mode: number
  mtime: number
  target?: string
  content?: ContentVersion
}

/** Set of inodes whose visible state changed, reported after local commits and remote merges. */
export interface TreeChange {
  inodes: InodeId[]
  remote: boolean
}

/**
 * The path tree of one tree. Mutations are buffered and become one Automerge
 * change per touched shard at `commit()`; the view reflects them at once.
 * All methods are synchronous (Automerge and better-sqlite3 are).
 */
export interface PathTree {
  readonly nodeId: string
  get(ino: InodeId): Entry | undefined
  lookup(parent: InodeId, name: string): Entry | undefined
  /** Entry at an absolute path ('/' = root). */
  resolve(path: string): Entry | undefined
  /** Absolute path of an entry's primary name. */
  pathOf(ino: InodeId): string | undefined
  /** Children of a directory sorted by name (byte order), names > `after`, at most `limit`. */
  readdir(parent: InodeId, after?: string, limit?: number): Entry[]
  /** Number of visible entries in a directory. */
  childCount(parent: InodeId): number

  create(parent: InodeId, name: string, kind: InodeKind, opts: CreateOptions): InodeId
  /**
   * Set new content (a new ContentVersion; its write id supersedes all versions this replica
   * sees), and with `attrs` the mode and mtime in the same operation (one history op, 'write').
   */
  setContent(ino: InodeId, content: ContentVersion, attrs?: { mode?: number; mtime?: number }): void
  setAttr(ino: InodeId, attrs: { mode?: number; mtime?: number }): void
  move(ino: InodeId, newParent: InodeId, newName: string): void
  /** Remove a file, symlink or (empty) directory. */
  remove(ino: InodeId): void
  /** Settle a conflict: keep `version` (a write id) for content conflicts, or rename for name conflicts. */
  resolveConflict(ino: InodeId, keepVersion: string): void
  conflicts(): Conflict[]
  /** Persist buffered mutations as changes (with metadata for history). */
  commit(message?: string): void
  /**
   * Whether mutations await a `commit()` or `stage()`: a crash of the process
   * would lose them (optional: callers assume true without it).
   */
  hasUncommitted?(): boolean
  /**
   * Make pending mutations survive a crash of the process, possibly without
   * committing them yet (group commit: the journal entry follows shortly).
   * Optional: callers `commit()` without it.
   */
  stage?(): void
  /** Write the materialized view's pending rows, for readers of its table outside the tree (optional). */
  flushView?(): void

  history(ino?: InodeId, limit?: number): HistoryEntry[]
  /** The content of `ino` as of a version id (change hash or prefix); undefined if it had none then. */
  contentAt(ino: InodeId, version: string): ContentVersion | undefined
  /** Every content version referenced by the current state and the history (for gc roots / retention). */
  allContent(): Iterable<ContentVersion>

  onChange(listener: (change: TreeChange) => void): () => void
  close(): void
}
