/**
 * Persistence of a path tree in the tree's SQLite database (shared with the
 * content store; every table here is prefixed `tree_`): shard documents as a
 * snapshot plus appended incremental saves, the raw inode rows the view is
 * derived from, the history journal and the content-version registry.
 */
import Database from 'better-sqlite3'
import { TreeError } from './errors.js'
import type { RawInode } from './inode-codec.js'
import type { ContentVersion, HistoryEntry, InodeId } from './types.js'

export type SqliteDb = Database.Database

/** Open (or create) a standalone tree database: WAL, synchronous=FULL. */
export function openTreeDatabase(path: string): SqliteDb {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  return db
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tree_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree_shard (shard INTEGER PRIMARY KEY, snapshot BLOB, increments INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tree_shard_incr (seq INTEGER PRIMARY KEY AUTOINCREMENT, shard INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tree_shard_incr_shard ON tree_shard_incr (shard, seq);
CREATE TABLE IF NOT EXISTS tree_shard_log (
  shard INTEGER PRIMARY KEY, increments INTEGER NOT NULL, incr_bytes INTEGER NOT NULL, snap_bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tree_inode (ino TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL, shard INTEGER NOT NULL, time REAL NOT NULL,
  node TEXT NOT NULL, op TEXT NOT NULL, ino TEXT NOT NULL, path TEXT NOT NULL, heads TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tree_history_ino ON tree_history (ino, seq);
CREATE INDEX IF NOT EXISTS tree_history_version ON tree_history (version);
CREATE INDEX IF NOT EXISTS tree_history_shard ON tree_history (shard, seq);
CREATE TABLE IF NOT EXISTS tree_content (write TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tree_redo (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
`

/** Layout version of the `tree_*` tables and of the shard documents' keys. */
export const SCHEMA_VERSION = 1

export interface HistoryRow extends HistoryEntry {
  seq: number
  shard: number
  heads: string[]
}

/**
 * Compaction of a shard's increments into a new snapshot: at least
 * COMPACT_AFTER increments, and their bytes at least half the snapshot's
 * (so the cost of re-saving a large shard is amortised over as many bytes of
 * changes as it writes), or COMPACT_MAX increments whatever their size (so
 * loading never applies an unbounded list).
 */
export const COMPACT_AFTER = 64
export const COMPACT_MAX = 2048

export class TreeStorage {
  private readonly st

  constructor(readonly db: SqliteDb) {
    db.exec(SCHEMA)
    const version = db
      .prepare<[], { value: string }>("SELECT value FROM tree_meta WHERE key = 'schema'")
      .get()
    if (!version)
      db.prepare("INSERT INTO tree_meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION))
    else if (version.value !== String(SCHEMA_VERSION)) {
      throw new TreeError('EIO', `tree database schema ${version.value}, this build reads ${SCHEMA_VERSION}`)
    }
    // Shard bookkeeping lives in its own small rows (updating tree_shard would rewrite the snapshot
    // blob on every commit); fill it for shards written before it existed.
    db.exec(`INSERT OR IGNORE INTO tree_shard_log (shard, increments, incr_bytes, snap_bytes)
      SELECT s.shard,
        (SELECT count(*) FROM tree_shard_incr i WHERE i.shard = s.shard),
        (SELECT coalesce(sum(length(i.data)), 0) FROM tree_shard_incr i WHERE i.shard = s.shard),
        coalesce(length(s.snapshot), 0)
      FROM tree_shard s`)
    this.st = {
      metaGet: db.prepare<[string], { value: string }>('SELECT value FROM tree_meta WHERE key = ?'),
      metaSet: db.prepare(
        'INSERT INTO tree_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      shards: db.prepare<[], { shard: number }>('SELECT shard FROM tree_shard ORDER BY shard'),
      shardHas: db.prepare<[number], { one: number }>('SELECT 1 AS one FROM tree_shard WHERE shard = ?'),
      shardGet: db.prepare<[number], { snapshot: Buffer | null; increments: number }>(
        'SELECT snapshot, increments FROM tree_shard WHERE shard = ?',
      ),
      incrs: db.prepare<[number], { data: Buffer }>(
        'SELECT data FROM tree_shard_incr WHERE shard = ? ORDER BY seq',
      ),
      incrAdd: db.prepare('INSERT INTO tree_shard_incr (shard, data) VALUES (?, ?)'),
      incrDel: db.prepare('DELETE FROM tree_shard_incr WHERE shard = ?'),
      shardEnsure: db.prepare(
        'INSERT OR IGNORE INTO tree_shard (shard, snapshot, increments) VALUES (?, NULL, 0)',
      ),
      logEnsure: db.prepare(
        'INSERT OR IGNORE INTO tree_shard_log (shard, increments, incr_bytes, snap_bytes) VALUES (?, 0, 0, 0)',
      ),
      logGet: db.prepare<[number], { increments: number; incr_bytes: number; snap_bytes: number }>(
        'SELECT increments, incr_bytes, snap_bytes FROM tree_shard_log WHERE shard = ?',
      ),
      logBump: db.prepare(
        'UPDATE tree_shard_log SET increments = increments + 1, incr_bytes = incr_bytes + ? WHERE shard = ?',
      ),
      logSnap: db.prepare(
        'UPDATE tree_shard_log SET increments = 0, incr_bytes = 0, snap_bytes = ? WHERE shard = ?',
      ),
      shardSnap: db.prepare('UPDATE tree_shard SET snapshot = ?, increments = 0 WHERE shard = ?'),
      inodes: db.prepare<[], { data: string }>('SELECT data FROM tree_inode'),
      inodePut: db.prepare('INSERT OR REPLACE INTO tree_inode (ino, data) VALUES (?, ?)'),
      inodeDel: db.prepare('DELETE FROM tree_inode WHERE ino = ?'),
      inodesClear: db.prepare('DELETE FROM tree_inode'),
      histAdd: db.prepare(
        'INSERT INTO tree_history (version, shard, time, node, op, ino, path, heads) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      histAll: db.prepare<[number], HistRaw>('SELECT * FROM tree_history ORDER BY seq DESC LIMIT ?'),
      histIno: db.prepare<[string, number], HistRaw>(
        'SELECT * FROM tree_history WHERE ino = ? ORDER BY seq DESC LIMIT ?',
      ),
      histVersion: db.prepare<[string, string], HistRaw>(
        'SELECT * FROM tree_history WHERE version >= ? AND version < ? ORDER BY seq LIMIT 2',
      ),
      histShardBefore: db.prepare<[number, number], HistRaw>(
        'SELECT * FROM tree_history WHERE shard = ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
      ),
      contentAdd: db.prepare('INSERT OR IGNORE INTO tree_content (write, data) VALUES (?, ?)'),
      contentAll: db.prepare<[], { data: string }>('SELECT data FROM tree_content'),
      redoAdd: db.prepare('INSERT INTO tree_redo (data) VALUES (?)'),
      redoAll: db.prepare<[], { data: string }>('SELECT data FROM tree_redo ORDER BY seq'),
      redoClear: db.prepare('DELETE FROM tree_redo'),
    }
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  /**
   * A transaction without fsync at commit (WAL + synchronous=NORMAL: atomic
   * and consistent, durable at the next synced commit). For state that can be
   * recomputed after a crash: the view rows of uncommitted mutations, which
   * the `dirty` mark in the same transaction makes the next open rebuild.
   */
  relaxedTransaction<T>(fn: () => T): T {
    if (this.db.inTransaction || this.db.memory) return this.transaction(fn)
    const level = this.db.pragma('synchronous', { simple: true }) as number
    // Already NORMAL or below (a disk volume commits this way, see node/open-tree.ts).
    if (level <= 1) return this.transaction(fn)
    this.db.pragma('synchronous = NORMAL')
    try {
      return this.transaction(fn)
    } finally {
      this.db.pragma(`synchronous = ${level}`)
    }
  }

  getMeta(key: string): string | undefined {
    return this.st.metaGet.get(key)?.value
  }

  setMeta(key: string, value: string): void {
    this.st.metaSet.run(key, value)
  }

  shardIds(): number[] {
    return this.st.shards.all().map((r) => r.shard)
  }

  /** Whether a shard was ever saved. */
  hasShard(shard: number): boolean {
    return this.st.shardHas.get(shard) !== undefined
  }

  /** Saved pieces of a shard, or undefined when never saved. */
  loadShard(shard: number): { snapshot: Uint8Array | null; increments: Uint8Array[] } | undefined {
    const row = this.st.shardGet.get(shard)
    if (!row) return undefined
    return { snapshot: row.snapshot, increments: this.st.incrs.all(shard).map((r) => r.data) }
  }

  /** Append an incremental save; replace all by `snapshot()` when due (see COMPACT_AFTER). */
  appendShard(shard: number, incr: Uint8Array, snapshot: () => Uint8Array): void {
    let log = this.st.logGet.get(shard)
    if (!log) {
      this.st.shardEnsure.run(shard)
      this.st.logEnsure.run(shard)
      log = { increments: 0, incr_bytes: 0, snap_bytes: 0 }
    }
    if (incr.length > 0) {
      this.st.incrAdd.run(shard, incr)
      this.st.logBump.run(incr.length, shard)
      log.increments++
      log.incr_bytes += incr.length
    }
    if (
      log.increments >= COMPACT_MAX ||
      (log.increments >= COMPACT_AFTER && log.incr_bytes * 2 >= log.snap_bytes)
    )
      this.compactShard(shard, snapshot())
  }

  compactShard(shard: number, snapshot: Uint8Array): void {
    this.st.shardEnsure.run(shard)
    this.st.logEnsure.run(shard)
    this.st.shardSnap.run(snapshot, shard)
    this.st.logSnap.run(snapshot.length, shard)
    this.st.incrDel.run(shard)
  }

  loadInodes(): RawInode[] {
    return this.st.inodes.all().map((r) => JSON.parse(r.data) as RawInode)
  }

  putInode(ino: InodeId, r: RawInode | undefined): void {
    if (r) this.st.inodePut.run(ino, JSON.stringify(r))
    else this.st.inodeDel.run(ino)
  }

  clearInodes(): void {
    this.st.inodesClear.run()
  }

  addHistory(h: Omit<HistoryRow, 'seq'>): void {
    // Heads equal to the change itself (every local commit) are stored as ''.
    const heads = h.heads.length === 1 && h.heads[0] === h.version ? '' : JSON.stringify(h.heads)
    this.st.histAdd.run(h.version, h.shard, h.time, h.node, h.op, h.ino, h.path, heads)
  }

  history(ino: InodeId | undefined, limit: number): HistoryRow[] {
    const rows = ino === undefined ? this.st.histAll.all(limit) : this.st.histIno.all(ino, limit)
    return rows.map(toHistory)
  }

  /** History rows of a version id (change hash or unique prefix); more than one hash ⇒ ambiguous. */
  findVersion(prefix: string): HistoryRow[] {
    const p = prefix.toLowerCase()
    return this.st.histVersion.all(p, `${p}\uffff`).map(toHistory)
  }

  /** The latest history row of `shard` recorded at or before sequence `seq`. */
  shardStateAt(shard: number, seq: number): HistoryRow | undefined {
    const r = this.st.histShardBefore.get(shard, seq)
    return r ? toHistory(r) : undefined
  }

  addContent(c: ContentVersion): void {
    this.st.contentAdd.run(c.write, JSON.stringify(c))
  }

  /** Append a staged local mutation (JSON) to the redo log (see `AutomergePathTree.stage`). */
  addRedo(data: string): void {
    this.st.redoAdd.run(data)
  }

  /** The redo log in order: mutations staged but not committed when the process stopped. */
  redoEntries(): string[] {
    return this.st.redoAll.all().map((r) => r.data)
  }

  clearRedo(): void {
    this.st.redoClear.run()
  }

  *allContent(): Iterable<ContentVersion> {
    for (const r of this.st.contentAll.iterate()) yield JSON.parse(r.data) as ContentVersion
  }
}

interface HistRaw {
  seq: number
  version: string
  shard: number
  time: number
  node: string
  op: HistoryEntry['op']
  ino: string
  path: string
  heads: string
}

function toHistory(r: HistRaw): HistoryRow {
  return { ...r, heads: r.heads === '' ? [r.version] : (JSON.parse(r.heads) as string[]) }
}
