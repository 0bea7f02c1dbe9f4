/**
 * The `Volume`: the POSIX-like filesystem interface of one tree, used by FUSE,
 * the CLI, the simulator and tests. Path-based (like the high-level FUSE API);
 * every path is absolute within the tree ('/' is the root). Errors are
 * `FsError` with POSIX codes.
 */
import type { GcReport, VerifyReport } from '../store/types.js'
import type { Conflict, HistoryEntry, InodeKind } from '../sync/types.js'

export interface Attr {
  /** Stable inode number (derived from the inode id; same on every replica). */
  ino: number
  /** Inode id in the path tree. */
  id: string
  kind: InodeKind
  /** Full st_mode: file-type bits | permission bits. */
  mode: number
  size: number
  /** 512-byte blocks allocated (ceil(size/512) for files). */
  blocks: number
  nlink: number
  uid: number
  gid: number
  /** ms since epoch */
  atime: number
  mtime: number
  ctime: number
}

export interface DirEntry {
  name: string
  attr: Attr
}

export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  namemax: number
}

/** Open flags (subset of O_*), as numbers from `fs.constants`. */
export type OpenFlags = number

/** A file handle number returned by open/create. */
export type Fh = number

export interface SetAttr {
  mode?: number
  uid?: number
  gid?: number
  size?: number
  atime?: number
  mtime?: number
}

export interface WriteFileOptions {
  /** Permission bits for a new file (default 0o644); applied to an existing one too when given. */
  mode?: number
  /** mtime in ms (default: now). */
  mtime?: number
  /** Fail with EEXIST if the path exists. */
  exclusive?: boolean
}

export interface Volume {
  /** Attributes of the entry at path (ENOENT if absent). */
  lookup(path: string): Promise<Attr>
  /** Attributes by path, or by open handle (sees the handle's staged size). */
  getattr(path: string, fh?: Fh): Promise<Attr>
  /** One page of a directory listing (sorted by name), after `cursor`; includes no '.'/'..' (FUSE adds those). */
  readdir(path: string, cursor?: string, limit?: number): Promise<{ entries: DirEntry[]; cursor?: string }>
  mkdir(path: string, mode: number): Promise<Attr>
  /** Create and open a file (O_EXCL honoured), returns handle. */
  create(path: string, mode: number, flags?: OpenFlags): Promise<{ fh: Fh; attr: Attr }>
  open(path: string, flags: OpenFlags): Promise<Fh>
  read(fh: Fh, offset: number, length: number): Promise<Uint8Array>
  /**
   * As `read`, as pieces in order that may be shared with the volume's
   * caches: copy them at once and never modify them (the FUSE adapter copies
   * them into the kernel's buffer, saving a copy per read). Optional.
   */
  readShared?(fh: Fh, offset: number, length: number): Promise<Uint8Array[]>
  /** Write at offset (O_APPEND: at end); returns bytes written. Staged until fsync/release. */
  write(fh: Fh, offset: number, data: Uint8Array): Promise<number>
  /** truncate(path) or ftruncate(fh). */
  truncate(path: string, size: number, fh?: Fh): Promise<void>
  /** Make staged writes of fh visible (atomically) and durable, with every change before them. */
  fsync(fh: Fh): Promise<void>
  /** flush() on close(2): commits (visible, survives a crash of the process; durable at the next fsync/sync). */
  flush(fh: Fh): Promise<void>
  /** Close the handle, committing staged writes (as flush). */
  release(fh: Fh): Promise<void>
  /**
   * Durability barrier (syncfs(2)/fsync of a directory): every change acknowledged so far
   * survives a power loss once this resolves. Namespace changes and closes are atomic and survive
   * a crash of the process when they return, but are durable only after a barrier.
   */
  sync?(): Promise<void>
  /** Rename; replaces an existing target (file over file, dir over empty dir). flags: RENAME_NOREPLACE=1. */
  rename(from: string, to: string, flags?: number): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  symlink(target: string, path: string): Promise<Attr>
  readlink(path: string): Promise<string>
  setattr(path: string, attrs: SetAttr, fh?: Fh): Promise<Attr>
  statfs(): Promise<StatFs>

  /** Journal of the tree or of one path. */
  history(path?: string, limit?: number): Promise<HistoryEntry[]>
  /** Read a whole file as it was at a version (streamed). */
  readAt(path: string, version: string): AsyncIterable<Uint8Array>
  conflicts(): Promise<Conflict[]>
  /** Keep one version of a conflicted file; the others stay in history. */
  resolve(path: string, keepVersion: string): Promise<void>

  /**
   * Create or replace a whole file from a stream, without staging: the bytes
   * go straight into the content store and the file switches to the new
   * content atomically. `exclusive`: EEXIST if the path exists.
   */
  writeFile(
    path: string,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    opts?: WriteFileOptions,
  ): Promise<Attr>
  /** Stream the committed content of a file, bytes [start, end). */
  readStream(path: string, start?: number, end?: number): AsyncIterable<Uint8Array>
  /** Create a directory and any missing parents (like `mkdir -p`); returns the last one's attributes. */
  mkdirp(path: string, mode?: number): Promise<Attr>
  /** Collect content no longer referenced by the tree or its history. */
  gc(): Promise<GcReport>
  /** Check every stored chunk (re-hash) and every referenced chunk's presence. */
  verify(): Promise<VerifyReport>
  close(): Promise<void>
}
