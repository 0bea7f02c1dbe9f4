/**
 * What the path tree derives from its shard documents, kept in step with
 * them: the in-memory model (loaded lazily), the raw inode rows and the view
 * rows in SQLite (written lazily, see `flush`), the root attributes and the
 * content-version registry.
 */
import { inodeOfKey, type RawInode, readInode, readRootAttrs } from './inode-codec.js'
import { type EntryRow, groupKey, splitGroupKey, TreeModel } from './model.js'
import { shardOf } from './names.js'
import type { ShardDocs } from './shard-docs.js'
import type { TreeStorage } from './storage.js'
import { type ContentVersion, type Entry, type InodeId, ROOT_ID } from './types.js'
import { type ViewStore, viewEntry } from './view.js'

export class TreeState {
  root = { mode: 0o755, mtime: 0 }
  /** Inodes skipped because their stored values had the wrong shape. */
  corruptInodes = 0
  /** Loaded on first use: queries read SQLite only, so opening a big tree costs nothing up front. */
  private loadedModel: TreeModel | undefined
  private readonly dirtyGroups = new Set<string>()
  /**
   * The dirty groups by directory, with their rows once computed: lookups in a
   * directory with unwritten changes are answered from these where that is
   * certain (see `lookup`), so a create needs no view write before its commit.
   */
  private readonly dirtyByDir = new Map<InodeId, Map<string, EntryRow[] | null>>()
  private readonly dirtyRaws = new Map<InodeId, RawInode | undefined>()
  private dirtyContents: ContentVersion[] = []
  private rootDirty = false

  constructor(
    readonly storage: TreeStorage,
    private readonly view: ViewStore,
    readonly docs: ShardDocs,
    /** Whether local mutations await a commit (their view rows then mark the db dirty). */
    private readonly uncommitted: () => boolean,
  ) {
    if (storage.getMeta('dirty') === '1') {
      this.rebuild()
    } else {
      const r = storage.getMeta('root')
      if (r) this.root = JSON.parse(r)
    }
  }

  get model(): TreeModel {
    if (!this.loadedModel) {
      this.loadedModel = new TreeModel()
      this.loadedModel.rebuild(this.storage.loadInodes(), false)
    }
    return this.loadedModel
  }

  /** The view, with pending model changes written first. */
  get v(): ViewStore {
    this.flush()
    return this.view
  }

  /**
   * The visible entry named `name` in `parent`, as the view would show it
   * after a flush. Without unwritten groups in `parent` the view answers as
   * it is; otherwise the model answers when the groups involved are plain (one
   * primary row each, no conflict rows whose derived names could move), and
   * anything else flushes first.
   */
  lookup(parent: InodeId, name: string): Entry | undefined {
    const dirty = this.dirtyByDir.get(parent)
    if (!dirty) return this.view.lookup(parent, name)
    const own = dirty.get(name)
    if (own !== undefined) {
      const rows = this.rowsOf(dirty, parent, name)
      return rows ? viewEntry(rows[0]!) : this.v.lookup(parent, name)
    }
    // A name no unwritten group owns: plain groups cannot have taken it, and
    // the view's row for it is current unless it is a derived (conflict) name.
    for (const n of dirty.keys()) if (!this.rowsOf(dirty, parent, n)) return this.v.lookup(parent, name)
    const e = this.view.lookup(parent, name)
    return e?.conflict ? this.v.lookup(parent, name) : e
  }

  /** The entry under which `ino` is visible (primary or duplicate-name row), as `lookup` decides. */
  byIno(ino: InodeId): Entry | undefined {
    if (this.dirtyByDir.size === 0) return this.view.byIno(ino)
    const loc = this.model.locationOf(ino)
    const dirty = loc && this.dirtyByDir.get(loc.parent)
    if (!loc || !dirty) {
      // Not in a directory with unwritten groups now; it may have left one (a move: both groups dirty).
      const e = this.view.byIno(ino)
      return e && this.dirtyByDir.has(e.parent) ? this.v.byIno(ino) : e
    }
    if (dirty.has(loc.name)) {
      const rows = this.rowsOf(dirty, loc.parent, loc.name)
      if (rows && rows[0]!.ino === ino) return viewEntry(rows[0]!)
      return this.v.byIno(ino)
    }
    // Its own group is unchanged: its primary row stands; a derived name might move.
    const e = this.view.byIno(ino)
    return e && !e.conflict && e.parent === loc.parent ? e : this.v.byIno(ino)
  }

  /** Rows of a dirty group when it is plain (exactly one primary row), else undefined. */
  private rowsOf(
    dirty: Map<string, EntryRow[] | null>,
    parent: InodeId,
    name: string,
  ): EntryRow[] | undefined {
    let rows = dirty.get(name)
    if (rows === null || rows === undefined) {
      rows = this.model.computeGroup(groupKey(parent, name))
      dirty.set(name, rows)
    }
    return rows.length === 1 && rows[0]!.ckind === 0 ? rows : undefined
  }

  private markDirty(key: string): void {
    this.dirtyGroups.add(key)
    const { parent, name } = splitGroupKey(key)
    let m = this.dirtyByDir.get(parent)
    if (!m) {
      m = new Map()
      this.dirtyByDir.set(parent, m)
    }
    m.set(name, null)
  }

  /** Note a content version for the retention registry (written at the next flush). */
  addContent(c: ContentVersion): void {
    this.dirtyContents.push(c)
  }

  /**
   * Write pending changes. Outside a commit this runs without fsync; the
   * `dirty` mark it sets (while mutations are uncommitted) makes the next open
   * rebuild the view if the process dies before the commit.
   */
  flush(): void {
    if (this.dirtyGroups.size === 0 && this.dirtyRaws.size === 0 && !this.rootDirty) return
    this.storage.relaxedTransaction(() => this.flushNow())
  }

  /** Write pending raw rows, content registry entries and view groups (inside the caller's transaction). */
  flushNow(): void {
    if (this.uncommitted()) this.storage.setMeta('dirty', '1')
    for (const [ino, raw] of this.dirtyRaws) {
      this.storage.putInode(ino, raw)
      if (raw) for (const c of raw.contents) this.storage.addContent(c)
    }
    for (const c of this.dirtyContents) this.storage.addContent(c)
    if (this.rootDirty) this.storage.setMeta('root', JSON.stringify(this.root))
    const work = [...this.dirtyGroups]
    this.dirtyRaws.clear()
    this.dirtyContents = []
    this.dirtyGroups.clear()
    this.dirtyByDir.clear()
    this.rootDirty = false
    const done = new Set<string>()
    while (work.length > 0) {
      const key = work.pop()!
      if (done.has(key)) continue
      done.add(key)
      const { parent, name } = splitGroupKey(key)
      this.view.replaceGroup(parent, name, this.model.computeGroup(key))
      // Derived names elsewhere in this directory that wanted `name` may change with it.
      for (const base of this.view.groupsWanting(parent, name)) work.push(groupKey(parent, base))
    }
  }

  refreshRoot(): void {
    this.root = readRootAttrs(this.docs.get(0))
    this.rootDirty = true
  }

  /** Re-read inodes from their documents into the model; SQL follows at the next flush. */
  refresh(inos: Iterable<InodeId>): void {
    const changes = new Map<InodeId, RawInode | undefined>()
    for (const ino of inos) {
      const shard = shardOf(ino)
      if (shard === undefined || ino === ROOT_ID) continue
      const r = readInode(this.docs.get(shard), ino)
      if (r === 'corrupt') this.corruptInodes++
      const raw = r === 'corrupt' || r === 'absent' ? undefined : r
      changes.set(ino, raw)
      this.dirtyRaws.set(ino, raw)
    }
    for (const k of this.model.update(changes)) this.markDirty(k)
  }

  /** Recompute model, raw rows and view from the documents of `shards`. */
  rebuild(shards: number[] = this.storage.shardIds()): void {
    this.storage.transaction(() => {
      const all: RawInode[] = []
      this.corruptInodes = 0
      for (const shard of new Set([0, ...shards])) {
        const doc = this.docs.get(shard)
        for (const key of doc.keys('_root')) {
          if (!key.endsWith('/loc')) continue
          const r = readInode(doc, inodeOfKey(key)!)
          if (r === 'corrupt' || (r !== 'absent' && r.shard !== shard)) this.corruptInodes++
          else if (r !== 'absent') all.push(r)
        }
      }
      this.loadedModel = new TreeModel()
      const groups = this.loadedModel.rebuild(all)
      this.dirtyGroups.clear()
      this.dirtyByDir.clear()
      this.dirtyRaws.clear()
      this.storage.clearInodes()
      for (const r of all) this.storage.putInode(r.ino, r)
      this.view.clear()
      for (const k of groups) {
        const { parent, name } = splitGroupKey(k)
        this.view.replaceGroup(parent, name, this.loadedModel.computeGroup(k))
      }
      this.root = readRootAttrs(this.docs.get(0))
      this.rootDirty = false
      this.storage.setMeta('root', JSON.stringify(this.root))
      this.storage.setMeta('dirty', this.uncommitted() ? '1' : '0')
    })
  }
}
