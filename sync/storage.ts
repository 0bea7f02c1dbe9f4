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
CREATE TABLE IF NOT EXISTS tree_inode (ino TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL, shard INTEGER NOT NULL, time REAL NOT NULL,
  node TEXT NOT NULL, op TEXT NOT NULL, ino TEXT NOT NULL, path TEXT NOT NULL, heads TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tree_history_ino ON tree_history (ino, seq);
CREATE INDEX IF NOT EXISTS tree_history_version ON tree_history (version);
CREATE INDEX IF NOT EXISTS tree_history_shard ON tree_history (shard, seq);
CREATE TABLE IF NOT EXISTS tree_content (write TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
`

/** Layout version of the `tree_*` tables and of the shard documents' keys. */
export const SCHEMA_VERSION = 1

export interface HistoryRow extends HistoryEntry {
  seq: number
  shard: number
  heads: string[]
}

/** Increments appended to a shard before it is compacted into a new snapshot. */
export const COMPACT_AFTER = 64

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
    this.st = {
      metaGet: db.prepare<[string], { value: string }>('SELECT value FROM tree_meta WHERE key = ?'),
      metaSet: db.prepare(
        'INSERT INTO tree_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      shards: db.prepare<[], { shard: number }>('SELECT shard FROM tree_shard ORDER BY shard'),
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
      shardBump: db.prepare('UPDATE tree_shard SET increments = increments + 1 WHERE shard = ?'),
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

  /** Saved pieces of a shard, or undefined when never saved. */
  loadShard(shard: number): { snapshot: Uint8Array | null; increments: Uint8Array[] } | undefined {
    const row = this.st.shardGet.get(shard)
    if (!row) return undefined
    return { snapshot: row.snapshot, increments: this.st.incrs.all(shard).map((r) => r.data) }
  }

  /** Append an incremental save; after COMPACT_AFTER of them, replace all by `snapshot()`. */
  appendShard(shard: number, incr: Uint8Array, snapshot: () => Uint8Array): void {
    this.st.shardEnsure.run(shard)
    if (incr.length > 0) {
      this.st.incrAdd.run(shard, incr)
      this.st.shardBump.run(shard)
    }
    const row = this.st.shardGet.get(shard)!
    if (row.increments >= COMPACT_AFTER) this.compactShard(shard, snapshot())
  }

  compactShard(shard: number, snapshot: Uint8Array): void {
    this.st.shardEnsure.run(shard)
    this.st.shardSnap.run(snapshot, shard)
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
