/**
 * SQLite `ChunkBackend` (better-sqlite3). Chunk bytes live inline in a
 * database: with WAL, 64 KiB blobs write at ~290 MB/s here.
 *
 * The node shares one metadata database per tree between the path tree and the
 * store, so this backend takes an open `Database` and only adds `store_*`
 * tables. Chunk blobs either live in that same database (one file: index and
 * data commit together) or, with `chunkDb`, in a second database with large
 * pages, so that the metadata database can use small pages (small commits) —
 * see `transaction()` and `deleteMany()` below for the commit order that keeps that crash-safe.
 */
import Database from 'better-sqlite3'
import { PackedChunks, unreferencedIn } from './pack-index.js'
import { type ChunkBackend, type ChunkId, type RootRecord, StoreError } from './types.js'

type DB = Database.Database

const CHUNK_SCHEMA = `
CREATE TABLE IF NOT EXISTS store_chunks (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS store_totals (
  k INTEGER PRIMARY KEY CHECK (k = 0), chunks INTEGER NOT NULL, bytes INTEGER NOT NULL
);
`

const SCHEMA = `
CREATE TABLE IF NOT EXISTS store_chunks (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS store_refs (id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_nodes (id TEXT PRIMARY KEY, children BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_roots (
  id TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL, complete INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_totals (
  k INTEGER PRIMARY KEY CHECK (k = 0), chunks INTEGER NOT NULL, bytes INTEGER NOT NULL
);
`

/** Create the store's tables in `db` if they do not exist (`chunksOnly`: blob tables only). */
export function createStoreTables(db: DB, chunksOnly = false): void {
  db.transaction(() => {
    db.exec(chunksOnly ? CHUNK_SCHEMA : SCHEMA)
    if (db.prepare('SELECT 1 FROM store_totals WHERE k = 0').get() === undefined) {
      // First open: count what is there once (a full scan), then maintain the totals.
      db.prepare(
        'INSERT INTO store_totals (k, chunks, bytes) SELECT 0, count(*), coalesce(sum(length(data)), 0) FROM store_chunks',
      ).run()
    }
  })()
}

/**
 * Open (or create) a database file for a store: 64 KiB pages (new files
 * only), WAL, synchronous=FULL (a resolved write survives power loss), a busy
 * timeout, and the store tables.
 */
export function openStoreDatabase(
  path: string,
  options: { busyTimeoutMs?: number; pageSize?: number; chunksOnly?: boolean } = {},
): DB {
  const db = new Database(path)
  try {
    // Only takes effect on a new database (before WAL is set). 64 KiB pages hold a chunk in one
    // overflow chain of few pages: measured here ~2-3x faster chunk inserts and reads than 4 KiB
    // pages; but small commits (path tree operations) are ~1.6x slower than with 4 KiB pages, so a
    // volume keeps its metadata in a 4 KiB-page database and only the blobs in a 64 KiB one.
    db.pragma(`page_size = ${options.pageSize ?? 65536}`)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`)
    createStoreTables(db, options.chunksOnly)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

function buf(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

function packIds(ids: ChunkId[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 32)
  for (let i = 0; i < ids.length; i++) out.write(ids[i]!, i * 32, 32, 'hex')
  return out
}

function unpackIds(b: Buffer): ChunkId[] {
  const out: ChunkId[] = []
  for (let o = 0; o + 32 <= b.length; o += 32) out.push(b.toString('hex', o, o + 32))
  return out
}

interface RootRow {
  id: string
  size: number
  refs: number
  complete: number
}

const toRoot = (r: RootRow): RootRecord => ({
  id: r.id,
  size: r.size,
  refs: r.refs,
  complete: r.complete !== 0,
})

export interface SqliteChunkBackendOptions {
  /** Close the database(s) in `close()` (default false: the databases belong to the caller). */
  ownsDatabase?: boolean
  /**
   * A separate database for the chunk blobs (`store_chunks`, `store_totals`), e.g. opened with
   * `openStoreDatabase(path, { chunksOnly: true })`. Blob writes then commit on their own, before
   * the metadata transaction that references them; blob deletes are applied after it commits. A
   * crash in between leaves only unreferenced blobs, which gc sweeps. Default: `db` itself.
   */
  chunkDb?: DB
  /**
   * Split mode only: a `putMany` batch of at most this many bytes is stored in the metadata
   * database itself, in the caller's transaction (default 0: every blob goes to `chunkDb`). Run
   * the metadata database at `synchronous=NORMAL` with this: small writes then cost one unsynced
   * WAL append, and a blob still precedes the records that reference it even across a power loss
   * (SQLite recovers a WAL as a prefix of its commits). Larger batches commit in `chunkDb` (keep
   * it at `synchronous=FULL`: synced before anything can reference them). Such blobs are not
   * moved to `chunkDb` on open.
   */
  inlineMax?: number
  /**
   * Keep the bytes of large durable batches (those not inlined, not `lazy`) in append-only pack
   * files in this directory, indexed in `db` (see pack-files.ts); ~3x the sustained write rate
   * of blobs in a WAL database. Blobs already in a database stay there. Default: no packs.
   */
  packDir?: string
}

function chunkStatements(db: DB) {
  return {
    has: db.prepare('SELECT 1 FROM store_chunks WHERE id = ?').pluck(),
    get: db.prepare('SELECT data FROM store_chunks WHERE id = ?').pluck(),
    insert: db.prepare('INSERT OR IGNORE INTO store_chunks (id, data) VALUES (?, ?)'),
    replace: db.prepare('INSERT OR REPLACE INTO store_chunks (id, data) VALUES (?, ?)'),
    del: db.prepare('DELETE FROM store_chunks WHERE id = ?'),
    list: db.prepare('SELECT id FROM store_chunks').pluck(),
    // Totals are maintained on every insert and delete: summing blob lengths would read every page.
    stats: db.prepare('SELECT chunks, bytes AS storedBytes FROM store_totals WHERE k = 0'),
    addTotals: db.prepare('UPDATE store_totals SET chunks = chunks + ?, bytes = bytes + ? WHERE k = 0'),
    size: db.prepare('SELECT length(data) FROM store_chunks WHERE id = ?').pluck(),
  }
}

export class SqliteChunkBackend implements ChunkBackend {
  private readonly s
  /** Statements on the chunk database (`db` itself unless split). */
  private readonly c
  private readonly cdb: DB
  private readonly split: boolean
  /** Split mode: statements on the blobs kept in the metadata database (see `inlineMax`). */
  private readonly m: ReturnType<typeof chunkStatements> | undefined
  private readonly inlineMax: number
  /** Split mode: blob deletes of the open metadata transaction, applied once it commits. */
  private pendingDeletes = new Set<ChunkId>()
  /** Split mode: blobs first inserted inside the open metadata transaction (undone if it rolls back). */
  private inserted: ChunkId[] = []
  /** Split mode: nesting depth of transaction(). */
  private depth = 0
  /** The metadata database's `synchronous` level (2 = FULL), restored after a lazy commit. */
  private readonly syncLevel: number
  private closed = false
  /** Chunk bytes in pack files (`packDir`), indexed in `db`. */
  private readonly packs: PackedChunks | undefined
  /** `store_totals` of `db` (counts packed chunks too). */
  private readonly metaTotals

  constructor(
    private readonly db: DB,
    private readonly options: SqliteChunkBackendOptions = {},
  ) {
    this.cdb = options.chunkDb ?? db
    this.split = this.cdb !== db
    createStoreTables(db)
    if (this.split) {
      createStoreTables(this.cdb, true)
      if (!options.inlineMax) migrateChunks(db, this.cdb)
    }
    this.c = chunkStatements(this.cdb)
    this.inlineMax = this.split ? Math.max(0, options.inlineMax ?? 0) : 0
    // Blobs kept in the metadata database: those inlined here, or left from before a split.
    this.m = this.split ? chunkStatements(db) : undefined
    this.syncLevel = Number(db.pragma('synchronous', { simple: true }))
    this.packs = options.packDir ? new PackedChunks(db, options.packDir) : undefined
    this.metaTotals = db.prepare('UPDATE store_totals SET chunks = chunks + ?, bytes = bytes + ? WHERE k = 0')
    this.s = {
      rootStats: db.prepare(
        'SELECT count(*) AS manifests, coalesce(sum(size * refs), 0) AS logicalBytes FROM store_roots WHERE refs > 0',
      ),
      hasNode: db.prepare('SELECT 1 FROM store_nodes WHERE id = ?').pluck(),
      getNode: db.prepare('SELECT children FROM store_nodes WHERE id = ?').pluck(),
      insNode: db.prepare('INSERT INTO store_nodes (id, children) VALUES (?, ?)'),
      delNode: db.prepare('DELETE FROM store_nodes WHERE id = ?'),
      refGet: db.prepare('SELECT n FROM store_refs WHERE id = ?').pluck(),
      refInc: db.prepare(
        'INSERT INTO store_refs (id, n) VALUES (?, 1) ON CONFLICT(id) DO UPDATE SET n = n + 1',
      ),
      refDec: db.prepare('UPDATE store_refs SET n = n - 1 WHERE id = ?'),
      refDrop: db.prepare('DELETE FROM store_refs WHERE id = ? AND n <= 0'),
      unrefNodes: db
        .prepare(
          `SELECT n.id FROM store_nodes n
           WHERE NOT EXISTS (SELECT 1 FROM store_refs r WHERE r.id = n.id)
             AND NOT EXISTS (SELECT 1 FROM store_roots o WHERE o.id = n.id AND o.refs > 0)`,
        )
        .pluck(),
      rootLive: db.prepare('SELECT 1 FROM store_roots WHERE id = ? AND refs > 0').pluck(),
      unrefChunks: db.prepare(unreferencedIn('store_chunks')).pluck(),
      getRoot: db.prepare('SELECT id, size, refs, complete FROM store_roots WHERE id = ?'),
      setRoot: db.prepare(
        'INSERT OR REPLACE INTO store_roots (id, size, refs, complete) VALUES (?, ?, ?, ?)',
      ),
      delRoot: db.prepare('DELETE FROM store_roots WHERE id = ?'),
      listRoots: db.prepare('SELECT id, size, refs, complete FROM store_roots'),
    }
  }

  has(id: ChunkId): boolean {
    this.check()
    if (this.pendingDeletes.has(id)) return false
    return this.stored(id)
  }

  /** Present in any of the three places, pending deletes aside. */
  private stored(id: ChunkId): boolean {
    return (
      this.c.has.get(id) !== undefined ||
      (this.m !== undefined && this.m.has.get(id) !== undefined) ||
      this.packs?.has(id) === true
    )
  }

  get(id: ChunkId): Uint8Array | undefined {
    this.check()
    if (this.pendingDeletes.has(id)) return undefined
    return ((this.c.get.get(id) ?? this.m?.get.get(id)) as Buffer | undefined) ?? this.packs?.get(id)
  }

  putMany(chunks: { id: ChunkId; data: Uint8Array }[], options: { lazy?: boolean } = {}): void {
    this.check()
    const m = this.m
    if (options.lazy && this.split && !this.db.inTransaction && !this.cdb.inTransaction) {
      // Received copies: into the blob database (its large pages), committed without a WAL sync
      // (the next synced commit there syncs it too); never inline, where they would fill the
      // metadata database's small pages.
      const level = Number(this.cdb.pragma('synchronous', { simple: true }))
      this.cdb.pragma('synchronous = NORMAL')
      try {
        this.putBlobs(chunks)
      } finally {
        this.cdb.pragma(`synchronous = ${level}`)
      }
      return
    }
    if (m && this.inlineMax > 0 && chunks.reduce((n, c) => n + c.data.length, 0) <= this.inlineMax) {
      // Inline: same WAL (and transaction) as the records that will reference these blobs.
      this.db.transaction(() => {
        let n = 0
        let bytes = 0
        for (const c of chunks) {
          this.pendingDeletes.delete(c.id)
          if (this.c.has.get(c.id) !== undefined) continue
          if (m.insert.run(c.id, buf(c.data)).changes > 0) {
            n++
            bytes += c.data.length
          }
        }
        if (n > 0) m.addTotals.run(n, bytes)
      })()
      return
    }
    if (this.packs && !options.lazy) {
      const fresh = this.freshForPack(chunks)
      const locs = this.packs.files.appendSync(fresh.map((c) => c.data))
      this.indexPacked(fresh, locs)
      return
    }
    this.putBlobs(chunks)
  }

  /**
   * `putMany` of a durable batch and the caller's records (`then`), committed together once the
   * bytes are durable; with pack files the bytes are written and synced off the event loop.
   */
  async putManyAsync(chunks: { id: ChunkId; data: Uint8Array }[], then: () => void): Promise<void> {
    this.check()
    const packs = this.packs
    const small = this.inlineMax > 0 && chunks.reduce((n, c) => n + c.data.length, 0) <= this.inlineMax
    if (!packs || small) {
      this.transaction(
        () => {
          this.putMany(chunks)
          then()
        },
        { lazy: true },
      )
      return
    }
    const fresh = this.freshForPack(chunks)
    const locs = await packs.files.append(fresh.map((c) => c.data))
    this.check()
    this.transaction(
      () => {
        this.indexPacked(fresh, locs)
        then()
      },
      { lazy: true },
    )
  }

  /** The chunks of a batch not stored yet, each once (their bytes go to a pack). */
  private freshForPack(chunks: { id: ChunkId; data: Uint8Array }[]): { id: ChunkId; data: Uint8Array }[] {
    const seen = new Set<ChunkId>()
    const out: { id: ChunkId; data: Uint8Array }[] = []
    for (const c of chunks) {
      if (seen.has(c.id)) continue
      seen.add(c.id)
      // A chunk deleted in the open transaction comes back as it was (its bytes are still there).
      if (this.pendingDeletes.delete(c.id)) continue
      if (!this.stored(c.id)) out.push(c)
    }
    return out
  }

  /** Index rows for packed bytes, in the metadata database (joins the caller's transaction). */
  private indexPacked(
    chunks: { id: ChunkId; data: Uint8Array }[],
    locs: { pack: number; offset: number; length: number }[],
  ): void {
    const packs = this.packs!
    this.db.transaction(() => {
      const ids: ChunkId[] = []
      const at: typeof locs = []
      chunks.forEach((c, i) => {
        // Stored meanwhile (a concurrent write of the same bytes): these bytes are dead space.
        if (this.c.has.get(c.id) !== undefined || this.m?.has.get(c.id) !== undefined) return
        ids.push(c.id)
        at.push(locs[i]!)
      })
      const { n, bytes } = packs.insert(ids, at)
      if (n > 0) this.metaTotals.run(n, bytes)
    })()
  }

  /** Insert into the chunk database (one transaction of its own in split mode). */
  private putBlobs(chunks: { id: ChunkId; data: Uint8Array }[]): void {
    const m = this.m
    this.chunkTransaction(() => {
      let n = 0
      let bytes = 0
      for (const c of chunks) {
        this.pendingDeletes.delete(c.id)
        if (m?.has.get(c.id) !== undefined) continue
        if (this.c.insert.run(c.id, buf(c.data)).changes > 0) {
          if (this.depth > 0) this.inserted.push(c.id)
          n++
          bytes += c.data.length
        }
      }
      if (n > 0) this.c.addTotals.run(n, bytes)
    })
  }

  replace(id: ChunkId, data: Uint8Array): void {
    this.check()
    if (this.packs?.has(id)) {
      // The new copy goes into the chunk database (committed first), then the packed row goes:
      // a crash in between leaves both, and `get` prefers the database copy.
      this.chunkTransaction(() => {
        this.pendingDeletes.delete(id)
        if (this.c.replace.run(id, buf(data)).changes > 0) this.c.addTotals.run(1, data.length)
      })
      this.db.transaction(() => {
        const size = this.packs!.remove(id)
        if (size !== undefined) this.metaTotals.run(-1, -size)
      })()
      this.sweepPacks()
      return
    }
    const inMeta = this.m !== undefined && this.m.size.get(id) !== undefined
    const s = inMeta ? this.m! : this.c
    const run = () => {
      this.pendingDeletes.delete(id)
      const old = s.size.get(id) as number | undefined
      s.replace.run(id, buf(data))
      s.addTotals.run(old === undefined ? 1 : 0, data.length - (old ?? 0))
    }
    if (inMeta) this.db.transaction(run)()
    else this.chunkTransaction(run)
  }

  deleteMany(ids: ChunkId[]): void {
    this.check()
    if (this.split && this.db.inTransaction) {
      // Only our own transaction() knows when (and whether) the metadata commits.
      if (this.depth === 0)
        throw new StoreError('EINVAL', 'blob deletes must run inside the backend transaction')
      // Metadata that may still reference these blobs commits first; see transaction().
      for (const id of ids) this.pendingDeletes.add(id)
      return
    }
    this.deleteNow(ids)
  }

  private deleteNow(ids: Iterable<ChunkId>): void {
    const list = [...ids]
    const del = (s: ReturnType<typeof chunkStatements>) => {
      let n = 0
      let bytes = 0
      for (const id of list) {
        const size = s.size.get(id) as number | undefined
        if (size === undefined) continue
        s.del.run(id)
        n++
        bytes += size
      }
      if (n > 0) s.addTotals.run(-n, -bytes)
    }
    const m = this.m
    const packs = this.packs
    const delPacked = () => {
      if (!packs) return
      let n = 0
      let bytes = 0
      for (const id of list) {
        const size = packs.remove(id)
        if (size === undefined) continue
        n++
        bytes += size
      }
      if (n > 0) this.metaTotals.run(-n, -bytes)
    }
    if (m || packs)
      this.db.transaction(() => {
        if (m) del(m)
        delPacked()
      })()
    this.chunkTransaction(() => del(this.c))
    this.sweepPacks()
  }

  /**
   * Delete packs left without rows, once no transaction is open and the deletes are durable
   * (a power loss must not bring back rows naming a deleted pack).
   */
  private sweepPacks(): void {
    if (!this.packs?.pendingSweep || this.db.inTransaction) return
    if (this.syncLevel < 2) this.syncDb(this.db)
    this.packs.sweep()
  }

  sizeOf(id: ChunkId): number | undefined {
    this.check()
    if (this.pendingDeletes.has(id)) return undefined
    return ((this.c.size.get(id) ?? this.m?.size.get(id)) as number | undefined) ?? this.packs?.size(id)
  }

  listChunks(): ChunkId[] {
    this.check()
    const all = this.c.list.all() as ChunkId[]
    if (this.m) all.push(...(this.m.list.all() as ChunkId[]))
    if (this.packs) all.push(...this.packs.list())
    return this.pendingDeletes.size === 0 ? all : all.filter((id) => !this.pendingDeletes.has(id))
  }

  chunkStats(): { chunks: number; storedBytes: number } {
    this.check()
    const a = this.c.stats.get() as { chunks: number; storedBytes: number }
    const b = this.m?.stats.get() as { chunks: number; storedBytes: number } | undefined
    return b ? { chunks: a.chunks + b.chunks, storedBytes: a.storedBytes + b.storedBytes } : a
  }

  addNode(id: ChunkId, children: ChunkId[]): boolean {
    return this.transaction(() => {
      if (this.s.hasNode.get(id) !== undefined) return false
      this.s.insNode.run(id, packIds(children))
      for (const c of children) this.s.refInc.run(c)
      return true
    })
  }

  hasNode(id: ChunkId): boolean {
    this.check()
    return this.s.hasNode.get(id) !== undefined
  }

  nodeChildren(id: ChunkId): ChunkId[] | undefined {
    this.check()
    const packed = this.s.getNode.get(id) as Buffer | undefined
    return packed ? unpackIds(packed) : undefined
  }

  removeNode(id: ChunkId): ChunkId[] | undefined {
    return this.transaction(() => {
      const packed = this.s.getNode.get(id) as Buffer | undefined
      if (!packed) return undefined
      this.s.delNode.run(id)
      const children = unpackIds(packed)
      for (const c of children) {
        this.s.refDec.run(c)
        this.s.refDrop.run(c)
      }
      return children
    })
  }

  refCount(id: ChunkId): number {
    this.check()
    return (this.s.refGet.get(id) as number | undefined) ?? 0
  }

  unreferencedNodes(): ChunkId[] {
    this.check()
    return this.s.unrefNodes.all() as ChunkId[]
  }

  unreferencedChunks(): ChunkId[] {
    this.check()
    if (!this.split)
      return [...(this.s.unrefChunks.all() as ChunkId[]), ...(this.packs?.unreferenced() ?? [])]
    // The blobs are in another file: check each against the metadata (point lookups).
    const { refGet, hasNode, rootLive } = this.s
    return this.listChunks().filter(
      (id) => refGet.get(id) === undefined && hasNode.get(id) === undefined && rootLive.get(id) === undefined,
    )
  }

  getRoot(id: ChunkId): RootRecord | undefined {
    this.check()
    const r = this.s.getRoot.get(id) as RootRow | undefined
    return r && toRoot(r)
  }

  setRoot(root: RootRecord): void {
    this.check()
    this.s.setRoot.run(root.id, root.size, root.refs, root.complete ? 1 : 0)
  }

  deleteRoot(id: ChunkId): void {
    this.check()
    this.s.delRoot.run(id)
  }

  rootStats(): { manifests: number; logicalBytes: number } {
    this.check()
    return this.s.rootStats.get() as { manifests: number; logicalBytes: number }
  }

  listRoots(): RootRecord[] {
    this.check()
    return (this.s.listRoots.all() as RootRow[]).map(toRoot)
  }

  transaction<T>(fn: () => T, options: { lazy?: boolean } = {}): T {
    this.check()
    if (!this.split) {
      const result = this.db.transaction(fn)() // nested calls become savepoints
      this.sweepPacks()
      return result
    }
    const outer = !this.db.inTransaction
    if (outer && options.lazy && this.syncLevel > 1) {
      // Split mode only (blobs commit durably on their own): a WAL commit at synchronous=NORMAL
      // is atomic but not fsync'd; the next FULL commit on this database fsyncs it too.
      this.db.pragma('synchronous = NORMAL')
      try {
        return this.transaction(fn)
      } finally {
        this.db.pragma(`synchronous = ${this.syncLevel}`)
      }
    }
    const before = outer || this.pendingDeletes.size === 0 ? undefined : new Set(this.pendingDeletes)
    const mark = this.inserted.length
    let result: T
    this.depth++
    try {
      result = this.db.transaction(fn)()
    } catch (e) {
      // The (sub)transaction rolled back: so do the blob deletes it asked for, and the blobs it
      // added go again (as they would in one database; a crash instead leaves them to gc).
      this.pendingDeletes = before ?? new Set()
      const undo = this.inserted.splice(mark)
      if (undo.length > 0) this.deleteNow(undo)
      throw e
    } finally {
      this.depth--
    }
    if (outer) this.inserted = []
    if (outer && this.pendingDeletes.size > 0) {
      // The metadata no longer referencing these blobs is committed: now delete them. A crash
      // before this point leaves unreferenced blobs, which the next gc deletes. An unsynced
      // metadata commit (synchronous=NORMAL) is made durable first: a power loss must not bring
      // back references to blobs already deleted.
      const ids = this.pendingDeletes
      this.pendingDeletes = new Set()
      if (this.syncLevel < 2) this.syncDb(this.db)
      this.deleteNow(ids)
    }
    if (outer) this.sweepPacks()
    return result
  }

  /**
   * Make every committed transaction durable (a barrier: fsync(2) of a file on the volume). With
   * the databases at synchronous=FULL this costs nothing; at NORMAL it syncs each database's WAL
   * once, the chunk database first. Skipped for a database without commits since the last sync.
   */
  sync(): void {
    this.check()
    if (this.split) this.syncDb(this.cdb)
    this.syncDb(this.db)
  }

  private readonly synced = new Map<DB, number>()

  private syncDb(db: DB): void {
    const level = Number(db.pragma('synchronous', { simple: true }))
    const changes = db.prepare('SELECT total_changes()').pluck().get() as number
    if (level >= 2 || db.memory || db.inTransaction || this.synced.get(db) === changes) return
    // A commit at synchronous=FULL syncs the WAL, and with it every commit before it.
    db.pragma('synchronous = FULL')
    try {
      db.prepare('UPDATE store_totals SET chunks = chunks WHERE k = 0').run()
    } finally {
      db.pragma(`synchronous = ${level}`)
    }
    this.synced.set(db, db.prepare('SELECT total_changes()').pluck().get() as number)
  }

  /** Run `fn` as a transaction of the chunk database: in split mode it commits on its own. */
  private chunkTransaction(fn: () => void): void {
    this.check()
    if (this.split) this.cdb.transaction(fn)()
    else this.db.transaction(fn)()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.packs?.close()
    if (this.options.ownsDatabase) {
      this.db.close()
      if (this.split) this.cdb.close()
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError('ECLOSED', 'chunk backend is closed')
  }
}

/**
 * Move blobs left in the metadata database (a volume from before the split) to the chunk
 * database: copied and committed there first, then removed from the metadata database, so a
 * crash in between only leaves copies that the next open moves again (INSERT OR IGNORE).
 */
function migrateChunks(meta: DB, chunks: DB): void {
  const list = meta.prepare('SELECT id FROM store_chunks LIMIT 256').pluck()
  const get = meta.prepare('SELECT data FROM store_chunks WHERE id = ?').pluck()
  const del = meta.prepare('DELETE FROM store_chunks WHERE id = ?')
  const c = chunkStatements(chunks)
  let moved = false
  for (;;) {
    const ids = list.all() as ChunkId[]
    if (ids.length === 0) break
    moved = true
    chunks.transaction(() => {
      let n = 0
      let bytes = 0
      for (const id of ids) {
        const data = get.get(id) as Buffer
        if (c.insert.run(id, data).changes > 0) {
          n++
          bytes += data.length
        }
      }
      if (n > 0) c.addTotals.run(n, bytes)
    })()
    meta.transaction(() => {
      for (const id of ids) del.run(id)
    })()
  }
  if (moved) meta.prepare('UPDATE store_totals SET chunks = 0, bytes = 0 WHERE k = 0').run()
}
