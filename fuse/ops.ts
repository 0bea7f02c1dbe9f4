/**
 * The kernel's requests (through fuse-native's high-level libfuse 2 API) as
 * `Volume` calls. Paths arrive already resolved by the kernel (symlinks
 * included), so every path is an exact entry of the tree.
 *
 * Two libfuse 2 behaviours shape this file:
 * - Unlinking (or renaming over) a file that is still open makes libfuse
 *   rename it to `.fuse_hiddenXXXXXXXXXXXXXXXX` instead (unless `hard_remove`,
 *   under which reads of the open file fail), and unlink that name at its last
 *   release. We do the unlink at once and remember the hidden name: the tree
 *   never sees a hidden file, and the handles keep working because a Volume
 *   handle is bound to its inode, not its name.
 * - The high-level readdir gives libfuse every name of a directory in one
 *   callback (fuse-native fills at offset 0, so libfuse buffers the whole
 *   listing per opendir and serves the kernel's getdents calls from it). We
 *   page through `Volume.readdir` to build that list, so the volume is never
 *   asked for more than one page at a time.
 */
import { constants } from 'node:fs'
import type { FuseOps, FuseStat, FuseStatfs } from 'fuse-native'
import { FsError } from '../node/errors.js'
import type { Attr, Fh, Volume } from '../node/volume-types.js'
import { errno, toErrno } from './errno.js'
import { TIME_NOW, TIME_OMIT } from './native.js'
import { ReadAhead } from './read-ahead.js'

const { O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, S_IFMT, S_IFREG } = constants
const O_ACCMODE = 3
/** Page size asked of `Volume.readdir`. */
const READDIR_PAGE = 1000
/** st_blksize: the I/O size programs like cp use; matches max_write. */
export const BLKSIZE = 131072
/** chown's "leave unchanged" (-1 as uid_t). */
const UNCHANGED = 0xffffffff
const HIDDEN = /\/\.fuse_hidden[0-9a-f]{16}$/
const UINT32_MAX = 0xffffffff

/** Counters of a mount (for `bt status` and benchmarks). */
export interface FuseStats {
  ops: number
  errors: number
  bytesRead: number
  bytesWritten: number
  /** Handles open now. */
  openHandles: number
}

export interface FuseOpsInit {
  volume: Volume
  log: (line: string) => void
  /** Clock for `touch` (UTIME_NOW): the composition root's. */
  now: () => number
  /** utimens gets both times exactly (our rebuilt addon, fuse/native.ts); else only the access time. */
  exactTimes: boolean
}

export function toStat(a: Attr): FuseStat {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    blksize: BLKSIZE,
    blocks: a.blocks,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime,
  }
}

/** The operations table handed to fuse-native, plus the open handles it tracks. */
export class VolumeOps {
  readonly stats: FuseStats = { ops: 0, errors: 0, bytesRead: 0, bytesWritten: 0, openHandles: 0 }
  /** Handles opened through this mount and not yet released. */
  readonly open = new Set<Fh>()
  /** Hidden names libfuse believes exist (see the file comment), and the inode each stands for. */
  private readonly hidden = new Map<string, string>()
  /** Handles opened read-only. */
  private readonly readOnly = new Set<Fh>()
  /** Inode id of each open handle (to answer for a hidden name). */
  private readonly inodes = new Map<Fh, string>()
  /**
   * Handles with writes not yet committed, and their inode. Their commit
   * changes what other handles read; until then the kernel must still learn
   * the size they wrote (see getattr).
   */
  private readonly dirty = new Map<Fh, string>()
  private readonly readAhead: ReadAhead
  private readonly v: Volume
  private readonly log: (line: string) => void

  constructor(private readonly c: FuseOpsInit) {
    this.v = c.volume
    this.log = c.log
    this.readAhead = new ReadAhead(c.volume)
  }

  /** Run `fn`, answer `cb` with its result (0 when it returns nothing) or the errno of its failure. */
  private run<T>(
    op: string,
    path: string | undefined,
    cb: (err: number, value?: T) => void,
    fn: () => Promise<T>,
  ) {
    this.stats.ops++
    fn().then(
      (value) => (value === undefined ? cb(0) : cb(0, value)),
      (e: unknown) => {
        this.stats.errors++
        cb(toErrno(e, op, path, this.log))
      },
    )
  }

  /** For `read`/`write`, whose callback takes the byte count or a negative errno alone. */
  private runBytes(op: string, path: string, cb: (n: number) => void, fn: () => Promise<number>) {
    this.stats.ops++
    fn().then(cb, (e: unknown) => {
      this.stats.errors++
      cb(toErrno(e, op, path, this.log))
    })
  }

  private track(fh: Fh, id: string): Fh {
    this.open.add(fh)
    this.inodes.set(fh, id)
    this.stats.openHandles = this.open.size
    return fh
  }

  private untrack(fh: Fh): void {
    this.open.delete(fh)
    this.inodes.delete(fh)
    this.readOnly.delete(fh)
    this.readAhead.forget(fh)
    this.stats.openHandles = this.open.size
  }

  readonly ops: FuseOps = {
    init: (cb) => cb(0),

    statfs: (_path, cb) =>
      this.run('statfs', undefined, cb, async (): Promise<FuseStatfs> => {
        const s = await this.v.statfs()
        // fuse-native passes 32-bit fields: clamp rather than wrap.
        const c = (n: number) => Math.min(UINT32_MAX, Math.max(0, Math.floor(n)))
        return {
          bsize: c(s.bsize),
          frsize: c(s.frsize),
          blocks: c(s.blocks),
          bfree: c(s.bfree),
          bavail: c(s.bavail),
          files: c(s.files),
          ffree: c(s.ffree),
          favail: c(s.ffree),
          fsid: 0,
          flag: 0,
          namemax: c(s.namemax),
        }
      }),

    getattr: (path, cb) =>
      this.run('getattr', path, cb, async () => {
        // fstat of an unlinked open file reaches us as a getattr of its hidden name.
        const fh = this.hidden.size ? this.handleOfHidden(path) : undefined
        if (fh !== undefined) return toStat(await this.v.getattr(path, fh))
        const a = await this.v.lookup(path)
        // The kernel asks by path even for fstat, and takes the answer as the file's
        // size: while a handle of this mount has staged writes, report the size it
        // sees, or the kernel would cut the file back to the committed size.
        const writer = this.dirty.size ? this.dirtyHandleOf(a.id) : undefined
        return toStat(writer === undefined ? a : await this.v.getattr(path, writer))
      }),

    // fstat on an open handle must see the handle's staged size, not the committed one.
    fgetattr: (path, fd, cb) =>
      this.run('fgetattr', path, cb, async () =>
        toStat(fd && this.open.has(fd) ? await this.v.getattr(path, fd) : await this.v.lookup(path)),
      ),

    // Names with their types (the kernel's d_type: find, du and rm -r then skip an lstat per entry).
    readdir: (path, cb) =>
      this.run<{ names: string[]; stats: FuseStat[] }>(
        'readdir',
        path,
        (err, list) => cb(err, list?.names, list?.stats),
        async () => {
          const self = toStat(await this.v.lookup(path))
          const names = ['.', '..']
          const stats = [self, self]
          let cursor: string | undefined
          for (;;) {
            const page = await this.v.readdir(path, cursor, READDIR_PAGE)
            for (const e of page.entries) {
              names.push(e.name)
              stats.push(toStat(e.attr))
            }
            if (page.cursor === undefined) break
            cursor = page.cursor
          }
          return { names, stats }
        },
      ),

    open: (path, flags, cb) =>
      this.run('open', path, cb, async () => {
        const fh = await this.v.open(path, flags)
        try {
          this.track(fh, (await this.v.getattr(path, fh)).id)
          if ((flags & O_ACCMODE) === O_RDONLY && !(flags & O_TRUNC)) this.readOnly.add(fh)
          return fh
        } catch (e) {
          await this.v.release(fh).catch(() => {})
          throw e
        }
      }),

    // fuse-native does not pass create's open flags; the kernel has checked O_EXCL
    // against its lookup, and an open of an existing name needs no O_EXCL here.
    create: (path, mode, cb) =>
      this.run('create', path, cb, async () => {
        const { fh, attr } = await this.v.create(path, mode, O_CREAT | O_RDWR)
        return this.track(fh, attr.id)
      }),

    read: (path, fd, buf, len, pos, cb) =>
      this.runBytes('read', path, cb, async () => {
        // Pieces may be views of the volume's chunk cache: copied straight into the kernel's buffer.
        const pieces = await this.readAhead.readPieces(fd, pos, len)
        let n = 0
        for (const p of pieces) {
          buf.set(p, n)
          n += p.length
        }
        this.stats.bytesRead += n
        return n
      }),

    write: (path, fd, buf, len, pos, cb) =>
      this.runBytes('write', path, cb, async () => {
        // The buffer is the kernel request's memory, reused once we answer: copy it.
        this.markDirty(fd)
        this.readAhead.forget(fd)
        const n = await this.v.write(fd, pos, Buffer.from(buf.subarray(0, len)))
        this.stats.bytesWritten += n
        return n
      }),

    flush: (path, fd, cb) =>
      this.run('flush', path, cb, async () => {
        // close(2) of a read-only handle has nothing to commit: spare the volume a transaction.
        if (this.readOnly.has(fd)) return
        await this.v.flush(fd)
        this.committed(fd)
      }),

    fsync: (path, _datasync, fd, cb) =>
      this.run('fsync', path, cb, async () => {
        await this.v.fsync(fd)
        this.committed(fd)
      }),

    release: (path, fd, cb) =>
      this.run('release', path, cb, async () => {
        // A handle the mount already released (unmount with files still open) is gone quietly.
        if (!this.open.has(fd)) return
        this.untrack(fd)
        try {
          await this.v.release(fd)
        } finally {
          this.committed(fd)
        }
      }),

    truncate: (path, size, cb) =>
      this.run('truncate', path, cb, async () => {
        try {
          await this.v.truncate(path, size)
        } finally {
          this.readAhead.invalidate()
        }
      }),

    ftruncate: (path, fd, size, cb) =>
      this.run('ftruncate', path, cb, async () => {
        this.markDirty(fd)
        this.readAhead.forget(fd)
        await this.v.truncate(path, size, fd)
      }),

    utimens: (path, atime, mtime, cb) =>
      this.run('utimens', path, cb, async () => {
        // The stock addon hands us the access time twice (see native.ts): take it as the mtime.
        const t = this.c.exactTimes ? mtime : atime
        // Only mtime is kept (atime = mtime, docs/SEMANTICS.md): leaving it unchanged is a no-op.
        if (t === TIME_OMIT) return
        const a = await this.v.lookup(path)
        // Through a handle with staged writes (futimens before close, as cp -a and tar do),
        // so that its commit keeps this mtime instead of stamping the time of the close.
        const writer = this.dirty.size ? this.dirtyHandleOf(a.id) : undefined
        await this.v.setattr(path, { mtime: t === TIME_NOW ? this.c.now() : t }, writer)
      }),

    chmod: (path, mode, cb) =>
      this.run('chmod', path, cb, () => this.v.setattr(path, { mode: mode & 0o7777 })),

    chown: (path, uid, gid, cb) =>
      this.run('chown', path, cb, async () => {
        const attrs: { uid?: number; gid?: number } = {}
        if (uid !== UNCHANGED) attrs.uid = uid
        if (gid !== UNCHANGED) attrs.gid = gid
        await this.v.setattr(path, attrs)
      }),

    // Regular files only (as mknod(2) with S_IFREG); no device nodes, FIFOs or sockets.
    mknod: (path, mode, _dev, cb) =>
      this.run('mknod', path, cb, async () => {
        if ((mode & S_IFMT) !== S_IFREG && (mode & S_IFMT) !== 0)
          throw new FsError('EPERM', path, 'only regular files')
        const { fh } = await this.v.create(path, mode & 0o7777, O_CREAT | O_RDWR | constants.O_EXCL)
        await this.v.release(fh)
      }),

    unlink: (path, cb) =>
      this.run('unlink', path, cb, async () => {
        if (this.hidden.delete(path)) return
        await this.v.unlink(path)
      }),

    rename: (src, dest, cb) =>
      this.run('rename', src, cb, async () => {
        if (HIDDEN.test(dest)) {
          // libfuse hiding a file that is still open: unlink it now (see the file comment).
          const { id } = await this.v.lookup(src)
          await this.v.unlink(src)
          this.hidden.set(dest, id)
          return
        }
        await this.v.rename(src, dest)
      }),

    link: (_src, _dest, cb) => {
      this.stats.ops++
      cb(errno('EPERM'))
    },

    symlink: (target, path, cb) =>
      this.run('symlink', path, cb, async () => void (await this.v.symlink(target, path))),

    readlink: (path, cb) => this.run('readlink', path, cb, () => this.v.readlink(path)),

    mkdir: (path, mode, cb) =>
      this.run('mkdir', path, cb, async () => void (await this.v.mkdir(path, mode & 0o7777))),

    rmdir: (path, cb) => this.run('rmdir', path, cb, () => this.v.rmdir(path)),
  }

  private markDirty(fd: Fh): void {
    const id = this.inodes.get(fd)
    if (id !== undefined) this.dirty.set(fd, id)
  }

  /** A handle of this mount with staged writes to inode `id`. */
  private dirtyHandleOf(id: string): Fh | undefined {
    for (const [fh, ino] of this.dirty) if (ino === id) return fh
    return undefined
  }

  /** An open handle of the inode a hidden name stands for. */
  private handleOfHidden(path: string): Fh | undefined {
    const id = this.hidden.get(path)
    if (id === undefined) return undefined
    for (const [fh, ino] of this.inodes) if (ino === id) return fh
    return undefined
  }

  /** A handle's writes were committed (or dropped): prefetched windows may be stale now. */
  private committed(fd: Fh): void {
    if (this.dirty.delete(fd)) this.readAhead.invalidate()
  }

  /** The tree changed outside this mount (CLI, replication): prefetched windows may be stale. */
  invalidate(): void {
    this.readAhead.invalidate()
  }

  /** Read-ahead counters. */
  get readAheadStats(): { hits: number; prefetches: number } {
    return { ...this.readAhead.stats }
  }

  /** Commit the staged writes of every open handle (before an unmount); failures are logged. */
  async flushAll(): Promise<void> {
    for (const fh of this.open) {
      try {
        await this.v.fsync(fh)
      } catch (e) {
        this.log(`fuse: flushing handle ${fh} failed: ${(e as Error).message}`)
      }
    }
  }

  /** Release every handle still open (after the unmount); failures are logged. */
  async releaseAll(): Promise<void> {
    for (const fh of [...this.open]) {
      this.untrack(fh)
      this.dirty.delete(fh)
      try {
        await this.v.release(fh)
      } catch (e) {
        this.log(`fuse: releasing handle ${fh} failed: ${(e as Error).message}`)
      }
    }
  }
}
