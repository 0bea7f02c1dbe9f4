/**
 * The persisted recency of cached chunks (node.db `chunk_use`): the last-use
 * counter of each chunk of an on-demand tree, written in batches by the
 * chunk cache, so a restarted daemon evicts in the order the chunks were
 * last used instead of treating every chunk as equally old. It is a cache
 * of a cache: losing rows (a crash between batches) only makes those chunks
 * look older. The table is created on first use (no schema version: nothing
 * else reads it, and an older node ignores it).
 */
import type Database from 'better-sqlite3'
import type { ChunkId } from '../store/types.js'

/** What the chunk cache persists its recency through. */
export interface RecencyStore {
  /** Last-use counters of a tree's chunks. */
  load(tree: string): Map<ChunkId, number>
  /** Record (or raise) last-use counters. */
  save(tree: string, uses: Iterable<[ChunkId, number]>): void
  /** Forget chunks (evicted) or, without ids, a whole tree. */
  remove(tree: string, ids?: Iterable<ChunkId>): void
  /** The highest counter saved (0 when none): this process's uses count from there. */
  highest(): number
}

export class SqliteRecencyStore implements RecencyStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS chunk_use (
      tree TEXT NOT NULL, id TEXT NOT NULL, used INTEGER NOT NULL,
      PRIMARY KEY (tree, id)) WITHOUT ROWID`)
  }

  load(tree: string): Map<ChunkId, number> {
    const rows = this.db.prepare('SELECT id, used FROM chunk_use WHERE tree = ?').all(tree) as {
      id: string
      used: number
    }[]
    return new Map(rows.map((r) => [r.id as ChunkId, r.used]))
  }

  save(tree: string, uses: Iterable<[ChunkId, number]>): void {
    const put = this.db.prepare(
      `INSERT INTO chunk_use (tree, id, used) VALUES (?, ?, ?)
       ON CONFLICT(tree, id) DO UPDATE SET used = max(used, excluded.used)`,
    )
    this.db.transaction(() => {
      for (const [id, used] of uses) put.run(tree, id, used)
    })()
  }

  highest(): number {
    const r = this.db.prepare('SELECT max(used) AS m FROM chunk_use').get() as { m: number | null }
    return r.m ?? 0
  }

  remove(tree: string, ids?: Iterable<ChunkId>): void {
    if (!ids) {
      this.db.prepare('DELETE FROM chunk_use WHERE tree = ?').run(tree)
      return
    }
    const del = this.db.prepare('DELETE FROM chunk_use WHERE tree = ? AND id = ?')
    this.db.transaction(() => {
      for (const id of ids) del.run(tree, id)
    })()
  }
}
