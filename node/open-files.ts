/**
 * Open file handles and their branches ("branch on write, merge on close").
 *
 * A handle reads the latest committed content of its inode with its own
 * branch overlaid; writes go to the branch only. fsync, flush and release
 * commit: the branch is replayed onto the then-latest content, the store
 * builds the new content copy-on-write (`rewrite`, only dirty regions
 * re-chunked), and the tree switches to it in one transaction.
 */
import { constants } from 'node:fs'
import type { ContentStore, FileRef } from '../store/types.js'
import { type Runtime, toHex } from '../sync/runtime.js'
import type { ContentVersion, Entry, InodeId, PathTree } from '../sync/types.js'
import { Branch } from './branch.js'
import { FsError } from './errors.js'
import { SequentialIngest } from './ingest.js'
import { KeyedMutex } from './mutex.js'
import type { RetentionLedger } from './retention.js'
import type { Staging } from './staging.js'
import type { Fh, OpenFlags } from './volume-types.js'

const { O_WRONLY, O_RDWR, O_TRUNC, O_APPEND } = constants
/** Mask of the access mode bits of open flags (not exported by node:fs). */
export const O_ACCMODE = 3

/** Largest file offset accepted (JS numbers are exact up to 2^53). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER

/** How often a commit re-replays when remote content lands while it builds. */
const COMMIT_RETRIES = 3

export interface Handle {
  readonly fh: Fh
  readonly ino: InodeId
  readonly path: string
  readonly readable: boolean
  readonly writable: boolean
  readonly append: boolean
  /** A content conflict copy: reads this version only, never writes. */
  readonly fixed?: ContentVersion
  /** The entry as last seen (kept when the inode is unlinked meanwhile). */
  entry: Entry
  branch?: Branch
  /** Chunking the branch as it is written, while the writes stay in order (node/ingest.ts). */
  ingest?: SequentialIngest
}

export interface OpenFilesInit {
  tree: PathTree
  store: ContentStore
  staging: Staging
  runtime: Runtime
  ledger: RetentionLedger
}

export class OpenFiles {
  private readonly handles = new Map<Fh, Handle>()
  private nextFh = 1
  /** Serialises writes and commits per inode so a commit sees the previous one's result. */
  private readonly lock = new KeyedMutex()

  constructor(private readonly c: OpenFilesInit) {}

  get count(): number {
    return this.handles.size
  }

  /** Open `entry` (a file, already validated) with `flags`. */
  async open(entry: Entry, path: string, flags: OpenFlags): Promise<Fh> {
    const acc = flags & O_ACCMODE
    const writable = acc === O_WRONLY || acc === O_RDWR
    const fixed = entry.conflict?.kind === 'content' ? entry.content : undefined
    if (fixed && (writable || flags & O_TRUNC))
      throw new FsError('EROFS', path, 'conflict copies are read-only')
    const h: Handle = {
      fh: this.nextFh++,
      ino: entry.ino,
      path,
      readable: acc !== O_WRONLY,
      writable,
      append: (flags & O_APPEND) !== 0,
      entry,
      ...(fixed ? { fixed } : {}),
    }
    this.handles.set(h.fh, h)
    if (writable && flags & O_TRUNC) {
      try {
        await this.truncate(h.fh, 0)
      } catch (e) {
        await this.release(h.fh).catch(() => {})
        throw e
      }
    }
    return h.fh
  }

  get(fh: Fh): Handle {
    const h = this.handles.get(fh)
    if (!h) throw new FsError('EBADF', undefined, `no open handle ${fh}`)
    return h
  }

  /** The committed content this handle reads under its branch (refreshes `entry`). */
  latest(h: Handle): ContentVersion | null {
    if (h.fixed) return h.fixed
    const e = this.c.tree.get(h.ino)
    if (e) h.entry = e
    return h.entry.content ?? null
  }

  /** Size as seen through the handle. */
  size(h: Handle): number {
    const latest = this.latest(h)
    return h.branch ? h.branch.size(latest?.ref ?? null) : (latest?.ref.size ?? 0)
  }

  async read(fh: Fh, offset: number, length: number): Promise<Uint8Array> {
    const h = this.get(fh)
    if (!h.readable) throw new FsError('EBADF', h.path, 'not open for reading')
    checkRange(offset, length, h.path)
    if (h.branch) {
      // Under the inode's lock: a concurrent commit must not close the staging file mid-read.
      return this.lock.run(h.ino, () => this.readLocked(h, offset, length))
    }
    return this.readLocked(h, offset, length)
  }

  /** As `read`, in pieces that may be views of the store's chunk cache (see `Volume.readShared`). */
  async readShared(fh: Fh, offset: number, length: number): Promise<Uint8Array[]> {
    const h = this.get(fh)
    if (h.branch || !this.c.store.readShared) return [await this.read(fh, offset, length)]
    if (!h.readable) throw new FsError('EBADF', h.path, 'not open for reading')
    checkRange(offset, length, h.path)
    const latest = this.latest(h)?.ref ?? null
    if (!latest || offset >= latest.size || length === 0) return []
    return this.c.store.readShared(latest, offset, length)
  }

  private async readLocked(h: Handle, offset: number, length: number): Promise<Uint8Array> {
    const latest = this.latest(h)?.ref ?? null
    if (h.branch) return h.branch.read(this.c.store, latest, offset, length)
    if (!latest || offset >= latest.size || length === 0) return new Uint8Array(0)
    return this.c.store.read(latest, offset, length)
  }

  async write(fh: Fh, offset: number, data: Uint8Array): Promise<number> {
    const h = this.get(fh)
    if (!h.writable) throw new FsError('EBADF', h.path, 'not open for writing')
    checkRange(offset, data.length, h.path)
    return this.lock.run(h.ino, async () => {
      const b = await this.branchOf(h)
      const latest = this.latest(h)?.ref ?? null
      const at = h.append ? b.size(latest) : offset
      if (at + data.length > MAX_FILE_SIZE) throw new FsError('EFBIG', h.path)
      if (h.append) await b.append(latest, data)
      else await b.write(latest, offset, data)
      await h.ingest?.wrote(at, data)
      return data.length
    })
  }

  async truncate(fh: Fh, size: number): Promise<void> {
    const h = this.get(fh)
    if (!h.writable) throw new FsError('EBADF', h.path, 'not open for writing')
    if (!Number.isSafeInteger(size) || size < 0) throw new FsError('EINVAL', h.path, `bad size ${size}`)
    await this.lock.run(h.ino, async () => {
      await (await this.branchOf(h)).truncate(this.latest(h)?.ref ?? null, size)
      h.ingest?.truncated(size)
    })
  }

  /** Remember an mtime set through the handle so its next commit keeps it. */
  setMtime(fh: Fh, mtime: number): void {
    const b = this.get(fh).branch
    if (b?.changed) b.mtime = mtime
  }

  /** Make the handle's branch the committed content (no-op without changes). */
  async commit(fh: Fh): Promise<void> {
    const h = this.get(fh)
    await this.lock.run(h.ino, () => this.commitLocked(h))
  }

  /** Commit and close the handle. The handle is gone even when the commit fails. */
  async release(fh: Fh): Promise<void> {
    const h = this.get(fh)
    try {
      await this.lock.run(h.ino, () => this.commitLocked(h))
    } finally {
      this.handles.delete(fh)
      await this.dropBranch(h)
    }
  }

  /** Release every handle (volume close); the first commit error is rethrown after all are closed. */
  async releaseAll(): Promise<void> {
    let first: unknown
    for (const fh of [...this.handles.keys()]) {
      try {
        await this.release(fh)
      } catch (e) {
        first ??= e
      }
    }
    if (first) throw first
  }

  /**
   * Switch `ino` to new content `ref` (a fresh lease from write/rewrite) and
   * set its mtime, in one transaction with the store reference and the ledger.
   */
  publish(ino: InodeId, ref: FileRef, mtime: number, mode?: number): ContentVersion {
    const { tree, store, ledger, runtime } = this.c
    const version: ContentVersion = {
      write: toHex(runtime.random.bytes(16)),
      ref,
      node: tree.nodeId,
      time: runtime.clock.now(),
    }
    store.transaction(() => {
      tree.setContent(ino, version, mode === undefined ? { mtime } : { mtime, mode })
      // Durable now; with group commit the journal entry follows with the group's commit.
      if (tree.stage) tree.stage()
      else tree.commit()
      store.retain(ref)
      ledger.add(version.write)
    })
    return version
  }

  private async branchOf(h: Handle): Promise<Branch> {
    if (!h.branch) {
      const b = new Branch(this.latest(h), await this.c.staging.create())
      h.branch = b
      // Appends land wherever the file ends at commit: never an in-order prefix from 0.
      if (!h.append) h.ingest = new SequentialIngest(this.c.store, b.staging)
    }
    return h.branch
  }

  /**
   * The branch's content already stored by its ingest, when the branch over
   * `latest` is exactly the bytes ingested: all written in order from 0, and
   * nothing of `latest` showing through. Undefined otherwise (and the ingest
   * is abandoned).
   */
  private async ingested(h: Handle, b: Branch, latest: FileRef | null): Promise<FileRef | undefined> {
    const ing = h.ingest
    h.ingest = undefined
    if (!ing) return undefined
    const size = b.size(latest)
    if (!ing.alive || (b.truncMin !== 0 && (latest?.size ?? 0) > ing.length)) {
      ing.stop()
      return undefined
    }
    return ing.take(size)
  }

  private async commitLocked(h: Handle): Promise<void> {
    const b = h.branch
    const { tree, store, runtime } = this.c
    if (!b?.changed) {
      // Nothing staged; still persist a creation left pending by `create` (no-op otherwise).
      if (tree.hasUncommitted?.() !== false)
        store.transaction(() => (tree.stage ? tree.stage() : tree.commit()))
      return
    }
    for (let attempt = 0; ; attempt++) {
      const entry = tree.get(h.ino)
      // Unlinked (or replaced by another kind) meanwhile: never resurrect it.
      if (entry?.kind !== 'file') break
      h.entry = entry
      const latest = entry.content?.ref ?? null
      const ref =
        (await this.ingested(h, b, latest)) ??
        (await store.rewrite(latest, b.source(store, latest), b.dirtyRanges(latest)))
      const now = tree.get(h.ino)
      if (now?.kind !== 'file') {
        store.drop(ref)
        break
      }
      // A remote merge landed while the content was built: replay onto it.
      if (now.content?.write !== entry.content?.write && attempt < COMMIT_RETRIES) {
        store.drop(ref)
        continue
      }
      const mtime = b.mtime ?? runtime.clock.now()
      if (now.content && now.content.ref.id === ref.id && now.content.ref.size === ref.size) {
        // Same bytes: only the modification time moves.
        store.drop(ref)
        store.transaction(() => {
          tree.setAttr(h.ino, { mtime })
          tree.commit()
        })
      } else {
        this.publish(h.ino, ref, mtime)
      }
      const after = tree.get(h.ino)
      if (after) h.entry = after
      break
    }
    await this.dropBranch(h)
  }

  private async dropBranch(h: Handle): Promise<void> {
    const b = h.branch
    h.branch = undefined
    h.ingest?.stop()
    h.ingest = undefined
    await b?.staging.close()
  }
}

function checkRange(offset: number, length: number, path: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new FsError('EINVAL', path, `bad offset ${offset}`)
  if (!Number.isSafeInteger(length) || length < 0) throw new FsError('EINVAL', path, `bad length ${length}`)
}
