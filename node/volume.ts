/**
 * `TreeVolume`: the `Volume` of one tree, over a `PathTree` (names,
 * attributes, history) and a `ContentStore` (bytes). Open files and their
 * branches live in `OpenFiles`; this class does names, attributes and the
 * whole-file conveniences. Semantics: docs/SEMANTICS.md.
 */
import { constants } from 'node:fs'
import type { ContentStore, GcReport, VerifyReport } from '../store/types.js'
import type { Runtime } from '../sync/runtime.js'
import {
  type Conflict,
  type ContentVersion,
  type Entry,
  type HistoryEntry,
  type InodeId,
  type PathTree,
  ROOT_ID,
} from '../sync/types.js'
import { type Owner, toAttr } from './attrs.js'
import { FsError } from './errors.js'
import { guard, guardStream } from './fs-error.js'
import { journal } from './journal.js'
import { O_ACCMODE, OpenFiles } from './open-files.js'
import { PATH_MAX, splitPath } from './paths.js'
import { PathResolver } from './resolver.js'
import { Retainer, type RetentionLedger } from './retention.js'
import type { Staging } from './staging.js'
import type {
  Attr,
  DirEntry,
  Fh,
  OpenFlags,
  SetAttr,
  StatFs,
  Volume,
  WriteFileOptions,
} from './volume-types.js'

const { O_CREAT, O_EXCL, O_RDWR, O_RDONLY, O_WRONLY, O_TRUNC } = constants
/** renameat2 flag: fail with EEXIST instead of replacing the target. */
export const RENAME_NOREPLACE = 1
const DEFAULT_PAGE = 1000
const BSIZE = 4096

/** Capacity and free bytes of the storage under the volume. */
export interface SpaceInfo {
  total: number
  free: number
}

/** Components of a `TreeVolume` (all injected; the volume reads no clock or randomness of its own). */
export interface TreeVolumeInit {
  tree: PathTree
  store: ContentStore
  staging: Staging
  runtime: Runtime
  ledger: RetentionLedger
  /** Owner reported as uid/gid of every entry (local, not replicated). */
  owner: Owner
  /** Space of the filesystem holding the data (disk) or a configured capacity (memory). */
  space: () => SpaceInfo
  /**
   * Durability barrier: make every commit so far survive a power loss (default: nothing to do,
   * e.g. a memory volume). Commits themselves need only survive a crash of the process.
   */
  sync?: () => void
  /** Number of entries in the tree, for statfs `files` (default: not counted, 0). */
  countEntries?: () => number
  /** Live regular files and their total size, for `bt df` (default: not counted, zeros). */
  countFiles?: () => { files: number; bytes: number }
  /** Called last by `close()` (closes the shared database). */
  onClose?: () => void
}

export class TreeVolume implements Volume {
  /** The path tree behind the volume (replication and the daemon use it). */
  readonly tree: PathTree
  /** The content store behind the volume. */
  readonly store: ContentStore
  private readonly files: OpenFiles
  private readonly paths: PathResolver
  private readonly retainer: Retainer
  private readonly unsubscribe: () => void
  private closed = false

  constructor(private readonly c: TreeVolumeInit) {
    this.tree = c.tree
    this.store = c.store
    this.files = new OpenFiles(c)
    this.paths = new PathResolver(c.tree)
    this.retainer = new Retainer(c.tree, c.store, c.ledger)
    // Content merged from other replicas must survive gc: take a reference
    // the first time each version is seen (the ledger makes it once only).
    this.unsubscribe = c.tree.onChange((change) => {
      if (change.remote && !this.closed) this.retainer.inodes(change.inodes)
    })
    this.retainer.all()
  }

  // ---- names and attributes ----

  lookup(path: string): Promise<Attr> {
    return guard(path, () => this.attr(this.paths.entryAt(path)))
  }

  getattr(path: string, fh?: Fh): Promise<Attr> {
    return guard(path, () => {
      if (fh === undefined) return this.attr(this.paths.entryAt(path))
      const h = this.files.get(fh)
      const size = this.files.size(h)
      return toAttr(h.entry, this.c.owner, size)
    })
  }

  readdir(
    path: string,
    cursor?: string,
    limit = DEFAULT_PAGE,
  ): Promise<{ entries: DirEntry[]; cursor?: string }> {
    return guard(path, () => {
      const dir = this.paths.entryAt(path)
      if (dir.kind !== 'dir') throw new FsError('ENOTDIR', path)
      if (!Number.isSafeInteger(limit) || limit < 1) throw new FsError('EINVAL', path, `bad limit ${limit}`)
      const page = this.c.tree.readdir(dir.ino, cursor, limit)
      const entries = page.map((e) => ({ name: e.name, attr: this.attr(e) }))
      const last = page[page.length - 1]
      return page.length === limit && last ? { entries, cursor: last.name } : { entries }
    })
  }

  mkdir(path: string, mode: number): Promise<Attr> {
    return guard(path, () => {
      const { dir, name } = this.paths.parentFor(path)
      if (this.c.tree.lookup(dir.ino, name)) throw new FsError('EEXIST', path)
      const ino = this.mutate(() =>
        this.c.tree.create(dir.ino, name, 'dir', { mode: mode & 0o7777, mtime: this.now() }),
      )
      return this.attr(this.c.tree.get(ino)!)
    })
  }

  mkdirp(path: string, mode = 0o755): Promise<Attr> {
    return guard(path, () => {
      let cur = this.paths.root()
      const parts = splitPath(path)
      for (const [i, name] of parts.entries()) {
        const next = this.c.tree.lookup(cur.ino, name)
        if (next && next.kind !== 'dir')
          throw new FsError(i === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', path)
        if (next) {
          cur = next
          continue
        }
        const parent = cur.ino
        const ino = this.mutate(() =>
          this.c.tree.create(parent, name, 'dir', { mode: mode & 0o7777, mtime: this.now() }),
        )
        cur = this.c.tree.get(ino)!
      }
      return this.attr(cur)
    })
  }

  rmdir(path: string): Promise<void> {
    return guard(path, () => {
      const e = this.paths.entryAt(path)
      if (e.ino === ROOT_ID) throw new FsError('EBUSY', path)
      if (e.kind !== 'dir') throw new FsError('ENOTDIR', path)
      if (this.c.tree.childCount(e.ino) > 0) throw new FsError('ENOTEMPTY', path)
      this.mutate(() => this.c.tree.remove(e.ino))
    })
  }

  unlink(path: string): Promise<void> {
    return guard(path, () => {
      const e = this.paths.entryAt(path)
      if (e.kind === 'dir') throw new FsError('EISDIR', path)
      if (e.conflict?.kind === 'content') {
        // Deleting a losing copy settles the conflict in favour of the winner.
        const winner = this.c.tree.get(e.ino)?.content
        if (!winner) throw new FsError('EIO', path, 'conflict copy without a winning version')
        this.mutate(() => this.c.tree.resolveConflict(e.ino, winner.write))
        return
      }
      this.mutate(() => this.c.tree.remove(e.ino))
    })
  }

  rename(from: string, to: string, flags = 0): Promise<void> {
    return guard(from, () => {
      if (flags & ~RENAME_NOREPLACE) throw new FsError('EINVAL', from, `unsupported rename flags ${flags}`)
      if (splitPath(from).length === 0) throw new FsError('EBUSY', from)
      // As rename(2): both parent directories are resolved before the source entry.
      const source = this.paths.parentFor(from)
      const { dir, name } = this.paths.parentFor(to)
      const src = this.c.tree.lookup(source.dir.ino, source.name)
      if (!src) throw new FsError('ENOENT', from)
      if (src.conflict?.kind === 'content')
        throw new FsError('EROFS', from, 'conflict copies cannot be moved')
      const dst = this.c.tree.lookup(dir.ino, name)
      if (dst && dst.ino === src.ino && dst.name === src.name && dst.parent === src.parent) return
      if (src.kind === 'dir') this.checkNotInside(src.ino, dir.ino, to)
      if (dst) {
        if (flags & RENAME_NOREPLACE) throw new FsError('EEXIST', to)
        // rename(2) checks "target is an ancestor of the source" before the types.
        if (dst.kind === 'dir' && this.paths.isInside(source.dir.ino, dst.ino))
          throw new FsError('ENOTEMPTY', to)
        if (dst.conflict?.kind === 'content')
          throw new FsError('EROFS', to, 'conflict copies cannot be replaced')
        if (dst.kind === 'dir' && src.kind !== 'dir') throw new FsError('EISDIR', to)
        if (dst.kind !== 'dir' && src.kind === 'dir') throw new FsError('ENOTDIR', to)
        if (dst.kind === 'dir' && this.c.tree.childCount(dst.ino) > 0) throw new FsError('ENOTEMPTY', to)
      }
      this.mutate(() => {
        if (dst) this.c.tree.remove(dst.ino)
        this.c.tree.move(src.ino, dir.ino, name)
      })
    })
  }

  symlink(target: string, path: string): Promise<Attr> {
    return guard(path, () => {
      if (typeof target !== 'string' || target === '')
        throw new FsError('ENOENT', path, 'empty symlink target')
      if (target.includes('\0')) throw new FsError('EINVAL', path, 'target contains NUL')
      if (/\p{Cs}/u.test(target)) throw new FsError('EINVAL', path, 'target is not valid Unicode')
      if (Buffer.byteLength(target, 'utf8') >= PATH_MAX) throw new FsError('ENAMETOOLONG', path)
      const { dir, name } = this.paths.parentFor(path)
      if (this.c.tree.lookup(dir.ino, name)) throw new FsError('EEXIST', path)
      const ino = this.mutate(() =>
        this.c.tree.create(dir.ino, name, 'symlink', { mode: 0o777, mtime: this.now(), target }),
      )
      return this.attr(this.c.tree.get(ino)!)
    })
  }

  readlink(path: string): Promise<string> {
    return guard(path, () => {
      const e = this.paths.entryAt(path)
      if (e.kind !== 'symlink' || e.target === undefined) throw new FsError('EINVAL', path, 'not a symlink')
      return e.target
    })
  }

  setattr(path: string, attrs: SetAttr, fh?: Fh): Promise<Attr> {
    return guard(path, async () => {
      const h = fh === undefined ? undefined : this.files.get(fh)
      const e = h ? h.entry : this.paths.entryAt(path)
      const { owner } = this.c
      // Ownership is local to this replica and not replicated: only a no-op chown succeeds.
      if (
        (attrs.uid !== undefined && attrs.uid !== owner.uid) ||
        (attrs.gid !== undefined && attrs.gid !== owner.gid)
      )
        throw new FsError('EPERM', path, 'ownership is fixed to the volume owner')
      const changes = attrs.mode !== undefined || attrs.mtime !== undefined || attrs.size !== undefined
      if (changes && e.conflict?.kind === 'content')
        throw new FsError('EROFS', path, 'conflict copies are read-only')
      if (attrs.mode !== undefined && !Number.isInteger(attrs.mode))
        throw new FsError('EINVAL', path, 'bad mode')
      if (attrs.mtime !== undefined && !Number.isFinite(attrs.mtime))
        throw new FsError('EINVAL', path, 'bad mtime')
      if (attrs.size !== undefined) await this.truncate(path, attrs.size, fh)
      if (attrs.mode !== undefined || attrs.mtime !== undefined) {
        const alive = this.c.tree.get(e.ino)
        if (alive) {
          const a: { mode?: number; mtime?: number } = {}
          if (attrs.mode !== undefined) a.mode = attrs.mode & 0o7777
          if (attrs.mtime !== undefined) a.mtime = attrs.mtime
          this.mutate(() => this.c.tree.setAttr(e.ino, a))
        }
        if (h && attrs.mtime !== undefined) this.files.setMtime(h.fh, attrs.mtime)
      }
      return h ? this.getattr(path, fh) : this.attr(this.paths.entryAt(path))
    })
  }

  statfs(): Promise<StatFs> {
    return guard(undefined, () => {
      const { total, free } = this.c.space()
      // The counts read the view's table: write what it still lacks first.
      this.c.tree.flushView?.()
      const files = this.c.countEntries?.() ?? 0
      const blocks = Math.floor(total / BSIZE)
      const bfree = Math.min(blocks, Math.floor(Math.max(0, free) / BSIZE))
      // Inodes are not preallocated: report room for one more per free block.
      return { bsize: BSIZE, frsize: BSIZE, blocks, bfree, bavail: bfree, files, ffree: bfree, namemax: 255 }
    })
  }

  // ---- open files ----

  create(path: string, mode: number, flags: OpenFlags = O_CREAT | O_RDWR): Promise<{ fh: Fh; attr: Attr }> {
    return guard(path, async () => {
      const { dir, name } = this.paths.parentFor(path)
      let e = this.c.tree.lookup(dir.ino, name)
      if (e && flags & O_EXCL) throw new FsError('EEXIST', path)
      if (!e) {
        // The new name is visible at once (the view runs ahead of the journal);
        // the handle's first commit (at the latest its close) records the
        // creation together with the content, saving a journal commit per file.
        const ino = this.c.tree.create(dir.ino, name, 'file', { mode: mode & 0o7777, mtime: this.now() })
        e = this.c.tree.get(ino)!
        flags &= ~O_TRUNC
      }
      const fh = await this.openEntry(e, path, flags)
      return { fh, attr: await this.getattr(path, fh) }
    })
  }

  open(path: string, flags: OpenFlags): Promise<Fh> {
    return guard(path, async () => {
      if (flags & O_CREAT) {
        const mode = 0o644
        return (await this.create(path, mode, flags)).fh
      }
      return this.openEntry(this.paths.entryAt(path), path, flags)
    })
  }

  read(fh: Fh, offset: number, length: number): Promise<Uint8Array> {
    return guard(this.pathOfHandle(fh), () => this.files.read(fh, offset, length))
  }

  readShared(fh: Fh, offset: number, length: number): Promise<Uint8Array[]> {
    return guard(this.pathOfHandle(fh), () => this.files.readShared(fh, offset, length))
  }

  write(fh: Fh, offset: number, data: Uint8Array): Promise<number> {
    return guard(this.pathOfHandle(fh), () => this.files.write(fh, offset, data))
  }

  truncate(path: string, size: number, fh?: Fh): Promise<void> {
    return guard(path, async () => {
      if (fh !== undefined) return this.files.truncate(fh, size)
      const e = this.paths.entryAt(path)
      if (e.kind === 'dir') throw new FsError('EISDIR', path)
      if (e.kind !== 'file') throw new FsError('EINVAL', path)
      const tmp = await this.openEntry(e, path, O_RDWR)
      try {
        await this.files.truncate(tmp, size)
      } finally {
        await this.files.release(tmp)
      }
    })
  }

  fsync(fh: Fh): Promise<void> {
    return guard(this.pathOfHandle(fh), async () => {
      await this.files.commit(fh)
      this.c.sync?.()
    })
  }

  sync(): Promise<void> {
    return guard(undefined, () => {
      // Changes left pending (a create not yet closed) are journaled first, then made durable.
      this.c.store.transaction(() => this.c.tree.commit())
      this.c.sync?.()
    })
  }

  flush(fh: Fh): Promise<void> {
    return guard(this.pathOfHandle(fh), () => this.files.commit(fh))
  }

  release(fh: Fh): Promise<void> {
    return guard(this.pathOfHandle(fh), () => this.files.release(fh))
  }

  // ---- whole files ----

  writeFile(
    path: string,
    source: AsyncIterable<Uint8Array> | Uint8Array,
    opts: WriteFileOptions = {},
  ): Promise<Attr> {
    return guard(path, async () => {
      const check = () => {
        const { dir, name } = this.paths.parentFor(path)
        const e = this.c.tree.lookup(dir.ino, name)
        if (e && opts.exclusive) throw new FsError('EEXIST', path)
        if (e?.kind === 'dir') throw new FsError('EISDIR', path)
        if (e && e.kind !== 'file') throw new FsError('EINVAL', path, 'not a regular file')
        if (e?.conflict?.kind === 'content') throw new FsError('EROFS', path, 'conflict copies are read-only')
        return { dir, name, e }
      }
      check()
      const ref = await this.c.store.write(source)
      try {
        // The namespace may have changed while the bytes streamed in.
        const { dir, name, e } = check()
        const mtime = opts.mtime ?? this.now()
        if (e) {
          this.files.publish(e.ino, ref, mtime, opts.mode === undefined ? undefined : opts.mode & 0o7777)
        } else {
          // Created and given its content in one journal commit (publish commits both).
          const ino = this.c.tree.create(dir.ino, name, 'file', {
            mode: (opts.mode ?? 0o644) & 0o7777,
            mtime,
          })
          this.files.publish(ino, ref, mtime)
        }
      } catch (err) {
        this.c.store.drop(ref)
        throw err
      }
      // Journaled at once (peers hear of it now, not with a group commit's delay; see
      // docs/SEMANTICS.md) and acknowledged once durable (the whole-file contract; close(2) is not).
      if (this.c.tree.stage) this.c.store.transaction(() => this.c.tree.commit())
      this.c.sync?.()
      return this.attr(this.paths.entryAt(path))
    })
  }

  readStream(path: string, start?: number, end?: number): AsyncIterable<Uint8Array> {
    return guardStream(path, () => {
      const e = this.paths.entryAt(path)
      if (e.kind === 'dir') throw new FsError('EISDIR', path)
      if (e.kind !== 'file') throw new FsError('EINVAL', path, 'not a regular file')
      if (!e.content) return emptyStream()
      return this.c.store.stream(e.content.ref, start, end)
    })
  }

  // ---- history and conflicts ----

  history(path?: string, limit?: number): Promise<HistoryEntry[]> {
    return guard(path, () => {
      if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
        throw new FsError('EINVAL', path, `bad limit ${limit}`)
      }
      if (path === undefined) return journal(this.c.tree, undefined, limit)
      const inos = this.paths.inodesOfPath(path)
      if (inos.length === 0) throw new FsError('ENOENT', path)
      return journal(this.c.tree, inos, limit)
    })
  }

  readAt(path: string, version: string): AsyncIterable<Uint8Array> {
    return guardStream(path, () => {
      let found: ContentVersion | undefined
      for (const ino of this.paths.inodesOfPath(path)) {
        found = this.c.tree.contentAt(ino, version)
        if (found) break
      }
      if (!found) throw new FsError('ENOENT', path, `no content at version ${version}`)
      return this.c.store.stream(found.ref)
    })
  }

  conflicts(): Promise<Conflict[]> {
    return guard(undefined, () => this.c.tree.conflicts())
  }

  resolve(path: string, keepVersion: string): Promise<void> {
    return guard(path, () => {
      const e = this.paths.entryAt(path)
      this.mutate(() => this.c.tree.resolveConflict(e.ino, keepVersion))
    })
  }

  // ---- store maintenance ----

  /** Live regular files of the tree (conflict copies included) and their total logical size. */
  usage(): { files: number; bytes: number } {
    this.c.tree.flushView?.()
    return this.c.countFiles?.() ?? { files: 0, bytes: 0 }
  }

  gc(): Promise<GcReport> {
    return guard(undefined, () => {
      this.retainer.all()
      return this.c.store.gc()
    })
  }

  verify(): Promise<VerifyReport> {
    return guard(undefined, () => this.c.store.verify())
  }

  async close(): Promise<void> {
    if (this.closed) return
    let error: unknown
    try {
      await this.files.releaseAll()
    } catch (e) {
      error = e
    }
    this.closed = true
    this.unsubscribe()
    await this.c.staging.close()
    this.c.tree.close()
    this.c.store.close()
    this.c.onClose?.()
    if (error) throw error
  }

  // ---- internals ----

  private now(): number {
    return this.c.runtime.clock.now()
  }

  private attr(e: Entry): Attr {
    return toAttr(e, this.c.owner)
  }

  /** EINVAL if directory `ino` is `target` or one of its ancestors (a move into its own subtree). */
  private checkNotInside(ino: InodeId, target: InodeId, path: string): void {
    if (this.paths.isInside(target, ino))
      throw new FsError('EINVAL', path, 'cannot move a directory into itself')
  }

  private async openEntry(e: Entry, path: string, flags: OpenFlags): Promise<Fh> {
    if (e.kind === 'dir') throw new FsError('EISDIR', path)
    if (e.kind === 'symlink') throw new FsError('ELOOP', path, 'symlinks are resolved by the caller')
    const acc = flags & O_ACCMODE
    if (acc !== O_RDONLY && acc !== O_WRONLY && acc !== O_RDWR)
      throw new FsError('EINVAL', path, 'bad access mode')
    return this.files.open(e, path, flags)
  }

  private pathOfHandle(fh: Fh): string | undefined {
    try {
      return this.files.get(fh).path
    } catch {
      return undefined
    }
  }

  /** Apply tree mutations and commit them as one change, atomically with the store's transaction. */
  private mutate<T>(fn: () => T): T {
    return this.c.store.transaction(() => {
      const r = fn()
      this.c.tree.commit()
      return r
    })
  }
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
