/** Conversion of path-tree entries to POSIX attributes. */
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { type Entry, type InodeId, ROOT_ID } from '../sync/types.js'
import type { Attr } from './volume-types.js'

const TYPE_BITS = {
  file: constants.S_IFREG,
  dir: constants.S_IFDIR,
  symlink: constants.S_IFLNK,
} as const

/** Owner reported for every entry: uid/gid are local, never replicated. */
export interface Owner {
  uid: number
  gid: number
}

/**
 * Stable inode number for an inode id (and, for a content conflict copy, its
 * version, so the copy and the winner differ). 1 is the root, as FUSE expects;
 * others are 53 bits of SHA-256, the same on every replica.
 */
export function inodeNumber(id: InodeId, version?: string): number {
  if (id === ROOT_ID && version === undefined) return 1
  const h = createHash('sha256')
    .update(version === undefined ? id : `${id}\0${version}`)
    .digest()
  const n = h.readUIntBE(0, 6) * 32 + (h[6]! >>> 3)
  return n < 2 ? n + 2 : n
}

/** Attributes of an entry; `size` overrides the entry's (an open handle's staged size). */
export function toAttr(e: Entry, owner: Owner, size = e.size): Attr {
  const contentCopy = e.conflict?.kind === 'content'
  // Content conflict copies are read-only views of an old version.
  const perms = e.mode & 0o7777 & (contentCopy ? ~0o222 : 0o7777)
  return {
    ino: inodeNumber(e.ino, contentCopy ? e.conflict!.version : undefined),
    id: e.ino,
    kind: e.kind,
    mode: TYPE_BITS[e.kind] | perms,
    size,
    blocks: e.kind === 'dir' ? 8 : Math.ceil(size / 512),
    // Counting subdirectories would need a scan of the directory; 2 is what
    // FUSE filesystems without cheap counts report.
    nlink: e.kind === 'dir' ? 2 : 1,
    uid: owner.uid,
    gid: owner.gid,
    atime: e.mtime,
    mtime: e.mtime,
    ctime: Math.max(e.ctime, e.mtime),
  }
}
