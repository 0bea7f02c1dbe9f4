/**
 * `AutomergePathTree`: the path tree of one tree on sharded Automerge
 * documents, with its materialized view in the tree's SQLite database.
 *
 * Mutations go straight into the shard documents (low-level API) and the
 * view; `commit()` turns them into one change per touched shard and persists
 * document increments, raw rows and history in one transaction. A crash before
 * `commit()` leaves the view ahead of the documents; the `dirty` mark makes the
 * next open rebuild the view from the documents.
 */
import { type Doc, initSyncState, type SyncState } from './automerge.js'
import { TreeError } from './errors.js'
import {
  encodeContent,
  encodeLoc,
  encodeMeta,
  fieldKey,
  inodeOfKey,
  type RawInode,
  ROOT_MODE_KEY,
  ROOT_MTIME_KEY,
  readContentsAt,
  validContent,
} from './inode-codec.js'
import { LOST_INO } from './model.js'
import { makeActor, makeInodeId, PATH_MAX, shardOf, validateName } from './names.js'
import { type GroupCommitOptions, type RedoEntry, RedoLog } from './redo.js'
import {
  applyMessage,
  changeAuthors,
  decodeMessage,
  generateMessage,
  historyOf,
  type MessageChanges,
  messageChanges,
  sameHeads,
  touchedKeys,
} from './replication.js'
import type { Runtime } from './runtime.js'
import { ShardDocs } from './shard-docs.js'
import { type SqliteDb, TreeStorage } from './storage.js'
import { TreeState } from './tree-state.js'
import {
  type Conflict,
  type ContentVersion,
  type CreateOptions,
  type Entry,
  type HistoryEntry,
  type InodeId,
  type InodeKind,
  type PathTree,
  ROOT_ID,
  type TreeChange,
} from './types.js'
import { ViewStore } from './view.js'

export interface PathTreeOptions {
  /** Open database of the tree (shared with the content store); not closed by `close()`. */
  db: SqliteDb
  nodeId: string
  runtime: Runtime
  /** Inodes per shard before creators move on to the next shard (default 8192). */
  shardLimit?: number
  /**
   * Group commit: `stage()` writes redo rows and the commit follows for a
   * group of them (sync/redo.ts). Without it `stage()` commits at once.
   */
  groupCommit?: GroupCommitOptions
}

type HistOp = HistoryEntry['op']
interface PendingOp {
  op: HistOp
  ino: InodeId
  path?: string
  /** When a staged op was made durable (its history time; otherwise the commit's). */
  time?: number
}

export class AutomergePathTree implements PathTree {
  readonly nodeId: string
  readonly actor: string
  readonly shardLimit: number
  private readonly runtime: Runtime
  private readonly storage: TreeStorage
  private readonly docs: ShardDocs
  private readonly s: TreeState
  private pending = new Map<number, PendingOp[]>()
  private pendingContent = false
  private touched = new Set<InodeId>()
  private readonly listeners = new Set<(c: TreeChange) => void>()
  private readonly redo: RedoLog | undefined
  private closed = false
  /** Redo entries found at open that could not be applied (should stay 0). */
  redoSkipped = 0

  constructor(opts: PathTreeOptions) {
    if (typeof opts.nodeId !== 'string' || opts.nodeId.length === 0)
      throw new TreeError('EINVAL', 'nodeId required')
    this.nodeId = opts.nodeId
    this.runtime = opts.runtime
    this.shardLimit = opts.shardLimit ?? 8192
    if (!Number.isSafeInteger(this.shardLimit) || this.shardLimit < 1)
      throw new TreeError('EINVAL', 'bad shardLimit')
    this.storage = new TreeStorage(opts.db)
    this.actor = makeActor(this.nodeId, this.runtime.random.bytes(8))
    this.docs = new ShardDocs(this.storage, this.actor)
    this.s = new TreeState(this.storage, new ViewStore(opts.db), this.docs, () => this.pending.size > 0)
    if (opts.groupCommit)
      this.redo = new RedoLog(this.storage, this.runtime, opts.groupCommit, () => this.commit())
    // Whatever the options now: mutations staged before a crash are applied before anything else.
    const saved = RedoLog.saved(this.storage)
    if (saved.length > 0) this.replay(saved)
  }

  /** Inodes skipped because their stored values had the wrong shape. */
  get corruptInodes(): number {
    return this.s.corruptInodes
  }

  // ---- queries (answered from the SQLite view) ----

  get(ino: InodeId): Entry | undefined {
    if (ino === ROOT_ID) {
      return { parent: ROOT_ID, name: '', ino: ROOT_ID, kind: 'dir', ...this.s.root, ctime: 0, size: 0 }
    }
    return this.s.byIno(ino)
  }

  lookup(parent: InodeId, name: string): Entry | undefined {
    return this.s.lookup(parent, name)
  }

  resolve(path: string): Entry | undefined {
    if (!path.startsWith('/')) return undefined
    let cur = this.get(ROOT_ID)!
    for (const part of path.split('/')) {
      if (part === '') continue
      if (cur.kind !== 'dir') return undefined
      const next = this.s.lookup(cur.ino, part)
      if (!next) return undefined
      cur = next
    }
    return cur
  }

  pathOf(ino: InodeId): string | undefined {
    const names: string[] = []
    let cur = ino
    for (let depth = 0; cur !== ROOT_ID; depth++) {
      const e = this.s.byIno(cur)
      if (!e || depth > 4096) return undefined
      names.push(e.name)
      cur = e.parent
    }
    return `/${names.reverse().join('/')}`
  }

  readdir(parent: InodeId, after = '', limit = 1 << 30): Entry[] {
    return this.s.v.readdir(parent, after, limit)
  }

  childCount(parent: InodeId): number {
    return this.s.v.childCount(parent)
  }

  // ---- local mutations ----

  create(parent: InodeId, name: string, kind: InodeKind, opts: CreateOptions): InodeId {
    this.open()
    validateName(name)
    if (kind !== 'file' && kind !== 'dir' && kind !== 'symlink')
      throw new TreeError('EINVAL', `bad kind ${kind}`)
    checkMode(opts.mode)
    checkTime(opts.mtime)
    if (kind === 'symlink' && (typeof opts.target !== 'string' || opts.target.includes('\0'))) {
      throw new TreeError('EINVAL', 'symlink needs a target')
    }
    if (kind === 'symlink' && Buffer.byteLength(opts.target!, 'utf8') > PATH_MAX) {
      throw new TreeError('ENAMETOOLONG', `symlink target longer than ${PATH_MAX} bytes`)
    }
    if (opts.content !== undefined && (kind !== 'file' || !validContent(opts.content))) {
      throw new TreeError('EINVAL', 'bad content')
    }
    this.requireDir(parent)
    if (this.s.model.nameTaken(parent, name)) throw new TreeError('EEXIST', `${name} exists`)
    let shard = 0
    while (this.s.model.shardCount(shard) >= this.shardLimit) shard++
    const ino = makeInodeId(shard, this.runtime.random.bytes(16))
    const now = this.runtime.clock.now()
    this.insert(shard, parent, name, kind, opts, ino, now)
    this.redo?.note({ op: 'create', parent, name, kind, opts, ino, now })
    return ino
  }

  /** Write a new inode's fields (validated by the caller). */
  private insert(
    shard: number,
    parent: InodeId,
    name: string,
    kind: InodeKind,
    opts: CreateOptions,
    ino: InodeId,
    now: number,
  ): void {
    this.mutate(shard, () => {
      const doc = this.docs.get(shard)
      const put = (field: string, v: string | number, t: 'str' | 'int' | 'f64') =>
        doc.put('_root', fieldKey(ino, field), v, t)
      put('loc', encodeLoc(parent, name, null, null), 'str')
      put('meta', encodeMeta(kind, now, this.nodeId, kind === 'symlink' ? opts.target! : null), 'str')
      put('mode', opts.mode, 'int')
      put('mtime', opts.mtime, 'f64')
      if (opts.content) this.putContent(doc, ino, opts.content)
      return [ino]
    })
    this.record(shard, 'create', ino)
  }

  setContent(ino: InodeId, content: ContentVersion, attrs: { mode?: number; mtime?: number } = {}): void {
    this.open()
    if (attrs.mode !== undefined) checkMode(attrs.mode)
    if (attrs.mtime !== undefined) checkTime(attrs.mtime)
    const r = this.requireVisible(ino)
    if (r.kind !== 'file') throw new TreeError('EINVAL', 'not a file')
    if (!validContent(content)) throw new TreeError('EINVAL', 'bad content')
    // Each content version gets its own change (history, readAt): a second one in a group commits the first.
    if (this.redo?.hasContent(ino)) this.commit()
    this.mutate(r.shard, () => {
      const doc = this.docs.get(r.shard)
      this.putContent(doc, ino, content)
      // One mutation (one read-back of the inode, one history op) for a commit's content and times.
      if (attrs.mode !== undefined) doc.put('_root', fieldKey(ino, 'mode'), attrs.mode, 'int')
      if (attrs.mtime !== undefined) doc.put('_root', fieldKey(ino, 'mtime'), attrs.mtime, 'f64')
      return [ino]
    })
    this.record(r.shard, 'write', ino)
    this.redo?.note({ op: 'content', ino, content, attrs })
  }

  setAttr(ino: InodeId, attrs: { mode?: number; mtime?: number }): void {
    this.open()
    this.commitStaged()
    if (attrs.mode !== undefined) checkMode(attrs.mode)
    if (attrs.mtime !== undefined) checkTime(attrs.mtime)
    if (ino === ROOT_ID) {
      this.mutate(0, () => {
        const doc = this.docs.get(0)
        if (attrs.mode !== undefined) doc.put('_root', ROOT_MODE_KEY, attrs.mode, 'int')
        if (attrs.mtime !== undefined) doc.put('_root', ROOT_MTIME_KEY, attrs.mtime, 'f64')
        this.s.refreshRoot()
        return []
      })
      this.record(0, 'setattr', ROOT_ID, '/')
      return
    }
    const r = this.requireVisible(ino)
    this.mutate(r.shard, () => {
      const doc = this.docs.get(r.shard)
      if (attrs.mode !== undefined) doc.put('_root', fieldKey(ino, 'mode'), attrs.mode, 'int')
      if (attrs.mtime !== undefined) doc.put('_root', fieldKey(ino, 'mtime'), attrs.mtime, 'f64')
      return [ino]
    })
    this.record(r.shard, 'setattr', ino)
  }

  move(ino: InodeId, newParent: InodeId, newName: string): void {
    this.open()
    this.commitStaged()
    validateName(newName)
    const r = this.requireVisible(ino)
    this.requireDir(newParent)
    if (r.kind === 'dir' && this.s.model.isWithin(newParent, ino)) {
      throw new TreeError('EINVAL', 'cannot move a directory into its own subtree')
    }
    const here = this.s.model.locationOf(ino)
    if (here?.parent === newParent && here.name === newName) return
    if (this.s.model.nameTaken(newParent, newName)) throw new TreeError('EEXIST', `${newName} exists`)
    this.mutate(r.shard, () => {
      this.docs
        .get(r.shard)
        .put('_root', fieldKey(ino, 'loc'), encodeLoc(newParent, newName, r.parent, r.name), 'str')
      return [ino]
    })
    this.record(r.shard, 'move', ino)
  }

  remove(ino: InodeId): void {
    this.open()
    this.commitStaged()
    const r = this.requireVisible(ino)
    if (r.kind === 'dir' && this.s.model.hasLiveChildren(ino))
      throw new TreeError('ENOTEMPTY', 'directory not empty')
    const path = this.pathOf(ino) ?? ''
    // A file stays removed only while every content version present was seen here.
    const seen = r.kind === 'file' ? r.contents.map((c) => c.write) : ['*']
    this.mutate(r.shard, () => {
      this.docs.get(r.shard).put('_root', fieldKey(ino, 'deleted'), JSON.stringify(seen), 'str')
      return [ino]
    })
    this.record(r.shard, 'remove', ino, path)
  }

  /**
   * Content conflicts: keep version `keepVersion` (a write id), superseding
   * all others. Name conflicts: `'dup'` makes the suffixed name permanent;
   * any other value renames the inode to that name in the same directory.
   */
  resolveConflict(ino: InodeId, keepVersion: string): void {
    this.open()
    this.commitStaged()
    const r = this.requireVisible(ino)
    const keep = r.contents.find((c) => c.write === keepVersion)
    if (keep) {
      this.mutate(r.shard, () => {
        this.putContent(this.docs.get(r.shard), ino, keep)
        return [ino]
      })
      this.record(r.shard, 'resolve', ino)
      return
    }
    const e = this.s.v.byIno(ino)!
    if (e.conflict?.kind === 'name') {
      const parent = e.parent
      const name = keepVersion === 'dup' ? e.name : keepVersion
      validateName(name)
      if (this.s.v.lookup(parent, name) && name !== e.name) throw new TreeError('EEXIST', `${name} exists`)
      this.mutate(r.shard, () => {
        this.docs
          .get(r.shard)
          .put('_root', fieldKey(ino, 'loc'), encodeLoc(parent, name, r.parent, r.name), 'str')
        return [ino]
      })
      this.record(r.shard, 'resolve', ino)
      return
    }
    throw new TreeError('ENOENT', `no conflict version ${keepVersion} of ${ino}`)
  }

  conflicts(): Conflict[] {
    const out = new Map<string, Conflict>()
    for (const row of this.s.v.conflictRows()) {
      const dir = this.pathOf(row.parent)
      if (dir === undefined) continue
      const copyPath = `${dir === '/' ? '' : dir}/${row.name}`
      if (row.conflict!.kind === 'content') {
        const c: Conflict = out.get(`c:${row.ino}`) ?? {
          path: this.pathOf(row.ino) ?? '',
          ino: row.ino,
          kind: 'content',
          copies: [],
        }
        out.set(`c:${row.ino}`, c)
        c.copies.push({
          path: copyPath,
          version: row.conflict!.version,
          node: row.content!.node,
          time: row.content!.time,
        })
      } else {
        const raw = this.s.model.raw.get(row.ino)
        out.set(`n:${row.ino}`, {
          path: `${dir === '/' ? '' : dir}/${row.base}`,
          ino: row.ino,
          kind: 'name',
          copies: [{ path: copyPath, version: 'dup', node: raw?.origin ?? '', time: row.ctime }],
        })
      }
    }
    return [...out.values()]
  }

  /** Whether some mutation is neither committed nor staged (a crash of the process would lose it). */
  hasUncommitted(): boolean {
    return this.pending.size > 0 && (this.redo === undefined || this.redo.unstaged)
  }

  /**
   * Make the pending mutations survive a crash of the process (joins the
   * caller's transaction). With group commit, creates and content changes
   * are written as redo rows and committed later in a group (sync/redo.ts);
   * anything else, or no group commit, commits now.
   */
  stage(): void {
    this.open()
    if (this.pending.size === 0) return
    const redo = this.redo
    if (!redo) {
      this.commit()
      return
    }
    const time = this.runtime.clock.now()
    for (const ops of this.pending.values()) {
      for (const o of ops) {
        o.time ??= time
        o.path ??= this.pathOf(o.ino) ?? ''
      }
    }
    this.storage.transaction(() => redo.stage())
  }

  /** Write the view's pending rows (for readers of its table outside the tree, e.g. statfs counts). */
  flushView(): void {
    this.open()
    this.s.flush()
  }

  commit(message?: string): void {
    this.open()
    if (this.pending.size === 0) return
    const time = this.runtime.clock.now()
    const touched = [...this.touched]
    this.storage.transaction(() => {
      this.s.flushNow()
      for (const [shard, pending] of this.pending) {
        const doc = this.docs.get(shard)
        const ops = pending.map((o) => ({ ...o, path: o.path ?? this.pathOf(o.ino) ?? '' }))
        const meta: Record<string, unknown> = { t: time, ops: ops.map((o) => [o.op, o.ino, o.path]) }
        if (message !== undefined) meta.m = message
        if (this.pendingContent) meta.c = 1
        const hash = doc.commit(JSON.stringify(meta), Math.floor(time / 1000))
        if (hash === null) continue
        const heads = doc.getHeads()
        for (const o of ops) {
          this.storage.addHistory({
            version: hash,
            shard,
            node: this.nodeId,
            ...o,
            time: o.time ?? time,
            heads,
          })
        }
        this.docs.persist(shard)
      }
      this.storage.setMeta('dirty', '0')
      this.redo?.committed()
    })
    this.redo?.reset()
    this.pending = new Map()
    this.pendingContent = false
    this.touched = new Set()
    this.emit({ inodes: touched, remote: false })
  }

  // ---- history ----

  history(ino?: InodeId, limit = 1000): HistoryEntry[] {
    this.commitStaged()
    return this.storage.history(ino, limit).map(({ version, time, node, op, ino, path }) => ({
      version,
      time,
      node,
      op,
      ino,
      path,
    }))
  }

  /**
   * Content of `ino` as of `version`. If the version is a change of ino's own
   * shard, the state is that change and its causal past. Otherwise it is the
   * state of ino's shard as last recorded in this replica's history at or
   * before the moment the version was recorded here.
   */
  contentAt(ino: InodeId, version: string): ContentVersion | undefined {
    this.commitStaged()
    const rows = this.storage.findVersion(version)
    if (rows.length === 0) throw new TreeError('ENOENT', `unknown version ${version}`)
    if (new Set(rows.map((r) => r.version)).size > 1)
      throw new TreeError('EINVAL', `ambiguous version ${version}`)
    const shard = shardOf(ino)
    if (shard === undefined || ino === ROOT_ID) return undefined
    const row = rows[0]!
    const heads = row.shard === shard ? [row.version] : this.storage.shardStateAt(shard, row.seq)?.heads
    if (!heads) return undefined
    return readContentsAt(this.docs.get(shard), ino, heads)[0]
  }

  allContent(): Iterable<ContentVersion> {
    this.commitStaged()
    return this.storage.allContent()
  }

  onChange(listener: (change: TreeChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  close(): void {
    if (this.closed) return
    try {
      // A staged group would also replay at the next open; committing it now keeps that open fast.
      this.commitStaged()
    } catch {
      // Its redo rows stay for the next open.
    }
    this.redo?.stop()
    this.closed = true
    this.docs.close()
    this.listeners.clear()
  }

  // ---- replication ----

  /** Shards this replica holds (always includes shard 0). */
  shardIds(): number[] {
    const s = new Set([0, ...this.storage.shardIds(), ...this.docs.loaded()])
    return [...s].sort((a, b) => a - b)
  }

  /** A fresh per-peer, per-shard sync state (`readOnly`: that peer's changes are not taken, see automerge.ts). */
  newSyncState(opts: { readOnly?: boolean } = {}): SyncState {
    return initSyncState(opts.readOnly === true)
  }

  /** Current heads of a shard's document (empty for a shard not held). */
  headsOf(shard: number): string[] {
    this.open()
    checkShard(shard)
    // Not through shardIds(): this runs twice per received sync message, and shard 0 or a loaded
    // document answers without a query.
    const held = shard === 0 || this.docs.has(shard) || this.storage.hasShard(shard)
    return held ? this.docs.get(shard).getHeads() : []
  }

  /**
   * Content versions visible now (the winner and every conflict copy) of the
   * live files among `inodes`, or of every live file: what a replica that
   * keeps all chunks must hold.
   */
  liveContents(inodes?: Iterable<InodeId>): ContentVersion[] {
    this.open()
    const m = this.s.model
    const out: ContentVersion[] = []
    for (const ino of inodes ?? m.raw.keys()) {
      const r = m.raw.get(ino)
      if (r && r.kind === 'file' && m.isLive(ino)) out.push(...r.contents)
    }
    return out
  }

  /**
   * The next Automerge sync message for `shard` to a peer (`peer`: this
   * replica's sync state for that peer and shard), or null when there is
   * nothing to say. Pending local mutations are committed first.
   */
  syncMessage(shard: number, peer: SyncState): Uint8Array | null {
    this.open()
    checkShard(shard)
    this.commit()
    return generateMessage(this.docs.get(shard), peer)
  }

  /**
   * Apply a peer's sync message for `shard` (pending local mutations are
   * committed first). Its changes are applied in batches of APPLY_BATCH (see
   * replication.ts); the view, history and storage follow in one transaction
   * and listeners hear `{ remote: true }`. A malformed message or change
   * throws TreeError 'EINVAL'; what was valid before it stays applied.
   * `allowAuthor`: checked for the author of every change in the message
   * before anything is applied; one refusal rejects the whole message with
   * TreeError 'EPERM'.
   */
  receiveSyncMessage(
    shard: number,
    peer: SyncState,
    message: Uint8Array,
    opts: { allowAuthor?: (node: string) => boolean } = {},
  ): void {
    this.open()
    checkShard(shard)
    // Messages of at most one change piece (nearly all of them) are read in JS, not decoded in full.
    const pieces = messageChanges(message)
    const decoded: MessageChanges =
      pieces && pieces.length <= 1 ? { changes: pieces } : decodeMessage(message)
    if (opts.allowAuthor && decoded.changes.length > 0) {
      for (const node of changeAuthors(decoded)) {
        if (!opts.allowAuthor(node))
          throw new TreeError('EPERM', `change by ${node || 'an unknown actor'} refused`)
      }
    }
    this.commit()
    const doc = this.docs.get(shard)
    const before = doc.getHeads()
    try {
      applyMessage(doc, peer, message, decoded)
    } catch (e) {
      // Whatever was applied stays applied (changes are atomic); persist it below.
      this.afterRemote(shard, before)
      throw new TreeError('EINVAL', `bad changes from peer: ${(e as Error).message}`)
    }
    this.afterRemote(shard, before)
  }

  /** Recompute the whole view from the documents (tests compare it with the incremental one). */
  rebuildView(): void {
    this.s.rebuild(this.shardIds())
  }

  /** Every view row in canonical order (for comparing replicas and rebuilds). */
  dumpView(): unknown[] {
    return this.s.v.dump()
  }

  // ---- internals ----

  private open(): void {
    if (this.closed) throw new TreeError('EIO', 'path tree is closed')
  }

  /** Commit a staged group now (the journal, content registry or a close needs it). */
  private commitStaged(): void {
    if (this.redo?.staged) this.commit()
  }

  /**
   * Apply the redo log a stopped process left (its mutations, in order, onto
   * the committed documents they were made on) and commit it with the log's
   * deletion. An entry that no longer applies is counted in `redoSkipped`.
   */
  private replay(entries: RedoEntry[]): void {
    for (const e of entries) {
      try {
        if (e.op === 'create') {
          const shard = shardOf(e.ino)
          if (shard === undefined || this.s.model.raw.has(e.ino)) throw new TreeError('EEXIST', e.ino)
          this.requireDir(e.parent)
          if (this.s.model.nameTaken(e.parent, e.name)) throw new TreeError('EEXIST', e.name)
          this.insert(shard, e.parent, e.name, e.kind, e.opts, e.ino, e.now)
        } else if (e.op === 'content') {
          this.setContent(e.ino, e.content, e.attrs)
        } else {
          throw new TreeError('EINVAL', 'unknown redo entry')
        }
      } catch {
        this.redoSkipped++
      }
    }
    this.storage.transaction(() => {
      this.commit()
      this.storage.clearRedo()
    })
  }

  private emit(c: TreeChange): void {
    if (c.inodes.length === 0 && !c.remote) return
    for (const l of this.listeners) l(c)
  }

  private requireVisible(ino: InodeId): RawInode {
    if (ino === ROOT_ID || ino === LOST_INO) throw new TreeError('EINVAL', `cannot change ${ino}`)
    const r = this.s.model.raw.get(ino)
    if (!r || !this.s.model.isLive(ino)) throw new TreeError('ENOENT', `no inode ${ino}`)
    return r
  }

  private requireDir(ino: InodeId): void {
    if (ino === LOST_INO) throw new TreeError('EINVAL', 'lost+found is read-only')
    if (ino === ROOT_ID) return
    const r = this.s.model.raw.get(ino)
    if (!r || !this.s.model.isLive(ino)) throw new TreeError('ENOENT', `no directory ${ino}`)
    if (r.kind !== 'dir') throw new TreeError('ENOTDIR', `${ino} is not a directory`)
  }

  private putContent(doc: Doc, ino: InodeId, c: ContentVersion): void {
    doc.put('_root', fieldKey(ino, 'content'), encodeContent(c), 'str')
    this.s.addContent(c)
    this.pendingContent = true
  }

  /**
   * Run one local mutation of `shard`: document ops, then the model. SQL
   * (raw rows, view) follows lazily in `flush`, at the latest in `commit`'s
   * transaction, so a create+commit costs one synced transaction.
   */
  private mutate(shard: number, fn: () => InodeId[]): void {
    if (!this.pending.has(shard)) this.pending.set(shard, [])
    const inos = fn()
    this.s.refresh(inos)
    for (const i of inos) this.touched.add(i)
  }

  /** Note an op for the next commit's message and history; `path` defaults to the path at commit. */
  private record(shard: number, op: HistOp, ino: InodeId, path?: string): void {
    this.pending.get(shard)!.push({ op, ino, path })
    if (op !== 'create' && op !== 'write') this.redo?.noteOther()
    if (ino === ROOT_ID) this.touched.add(ROOT_ID)
  }

  /** After remote changes reached `shard`: history, content registry, storage, view, listeners. */
  private afterRemote(shard: number, before: string[]): void {
    const doc = this.docs.get(shard)
    const after = doc.getHeads()
    if (sameHeads(before, after)) return
    const affected = new Set<InodeId>()
    let rootChanged = before.length === 0
    // A fresh shard takes every key; its history's overwritten content
    // versions were never held here, so there is nothing to retain for them.
    const metas = doc.getChangesMeta(before)
    const keys =
      before.length === 0 ? doc.keys('_root') : touchedKeys(doc, metas, (c) => this.storage.addContent(c))
    for (const k of keys) {
      const ino = inodeOfKey(k)
      if (ino === undefined) rootChanged = true
      else if (shardOf(ino) === shard) affected.add(ino)
      else if (k.endsWith('/loc')) this.s.corruptInodes++
    }
    this.storage.transaction(() => {
      for (const m of metas)
        for (const h of historyOf(m)) this.storage.addHistory({ ...h, shard, heads: after })
      this.docs.persist(shard)
      if (rootChanged && shard === 0) this.s.refreshRoot()
      this.s.refresh(affected)
      this.s.flushNow()
    })
    if (rootChanged && shard === 0) affected.add(ROOT_ID)
    this.emit({ inodes: [...affected], remote: true })
  }
}

function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new TreeError('EINVAL', `bad mode ${mode}`)
}

function checkTime(t: number): void {
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new TreeError('EINVAL', `bad time ${t}`)
}

function checkShard(shard: number): void {
  if (!Number.isSafeInteger(shard) || shard < 0 || shard > 999999)
    throw new TreeError('EINVAL', `bad shard ${shard}`)
}
