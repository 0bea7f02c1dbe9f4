/**
 * The SQLite side of pack files (`pack-files.ts`): index rows id → (pack,
 * offset, length) in the metadata database, beside the records that
 * reference the chunks (one WAL: an index row commits with, or before, every
 * reference to it). `SqliteChunkBackend` keeps the stored-chunk totals and the
 * commit order; this class only maps rows to pack bytes.
 */
import type Database from 'better-sqlite3'
import { PackFiles, type PackLocation } from './pack-files.js'
import { type ChunkId, StoreError } from './types.js'

const PACKED_SCHEMA = `
CREATE TABLE IF NOT EXISTS store_packed (
  id TEXT PRIMARY KEY, pack INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS store_packed_pack ON store_packed (pack);
`

interface Row {
  pack: number
  off: number
  len: number
}

/**
 * The ids in `table` (store_chunks or store_packed) that nothing references:
 * no file's chunk list, no manifest node, no live root. What gc may delete.
 */
export function unreferencedIn(table: 'store_chunks' | 'store_packed'): string {
  return `SELECT c.id FROM ${table} c
    WHERE NOT EXISTS (SELECT 1 FROM store_refs r WHERE r.id = c.id)
      AND NOT EXISTS (SELECT 1 FROM store_nodes n WHERE n.id = c.id)
      AND NOT EXISTS (SELECT 1 FROM store_roots o WHERE o.id = c.id AND o.refs > 0)`
}

export class PackedChunks {
  readonly files: PackFiles
  private readonly s
  /** Packs that lost rows since the last sweep (deleted by `sweep` once no row names them). */
  private readonly touched = new Set<number>()

  constructor(db: Database.Database, dir: string) {
    db.exec(PACKED_SCHEMA)
    this.s = {
      has: db.prepare('SELECT 1 FROM store_packed WHERE id = ?').pluck(),
      get: db.prepare('SELECT pack, off, len FROM store_packed WHERE id = ?'),
      size: db.prepare('SELECT len FROM store_packed WHERE id = ?').pluck(),
      insert: db.prepare('INSERT OR IGNORE INTO store_packed (id, pack, off, len) VALUES (?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM store_packed WHERE id = ?'),
      list: db.prepare('SELECT id FROM store_packed').pluck(),
      inPack: db.prepare('SELECT 1 FROM store_packed WHERE pack = ? LIMIT 1').pluck(),
      unref: db.prepare(unreferencedIn('store_packed')).pluck(),
    }
    const ends = new Map<number, number>()
    for (const r of db.prepare('SELECT pack, max(off + len) AS e FROM store_packed GROUP BY pack').all() as {
      pack: number
      e: number
    }[])
      ends.set(r.pack, r.e)
    this.files = new PackFiles(dir, ends)
  }

  has(id: ChunkId): boolean {
    return this.s.has.get(id) !== undefined
  }

  size(id: ChunkId): number | undefined {
    return this.s.size.get(id) as number | undefined
  }

  /**
   * Stored bytes, undefined when not packed. A pack shorter than its index
   * (damaged outside the store) gives empty bytes: they fail the id check,
   * so verify reports the chunk corrupt and it can be repaired.
   */
  get(id: ChunkId): Uint8Array | undefined {
    const r = this.s.get.get(id) as Row | undefined
    if (!r) return undefined
    try {
      return this.files.read({ pack: r.pack, offset: r.off, length: r.len })
    } catch (e) {
      if (e instanceof StoreError && e.code === 'EIO') return new Uint8Array(0)
      throw e
    }
  }

  list(): ChunkId[] {
    return this.s.list.all() as ChunkId[]
  }

  /** Stored chunks that no record references (see `ChunkBackend.unreferencedChunks`). */
  unreferenced(): ChunkId[] {
    return this.s.unref.all() as ChunkId[]
  }

  /** Index rows for chunks whose bytes are durable at `locs`; the count and bytes newly indexed. */
  insert(ids: readonly ChunkId[], locs: readonly PackLocation[]): { n: number; bytes: number } {
    let n = 0
    let bytes = 0
    ids.forEach((id, i) => {
      const l = locs[i]!
      if (this.s.insert.run(id, l.pack, l.offset, l.length).changes > 0) {
        n++
        bytes += l.length
      }
    })
    return { n, bytes }
  }

  /** Drop a chunk's row; its stored size, or undefined when it was not packed. */
  remove(id: ChunkId): number | undefined {
    const r = this.s.get.get(id) as Row | undefined
    if (!r) return undefined
    this.s.del.run(id)
    this.touched.add(r.pack)
    return r.len
  }

  /**
   * Delete the packs no row names any more. Call only once the deletes of
   * their rows are committed durably (a power loss must not bring back rows
   * naming a deleted pack).
   */
  sweep(): void {
    for (const pack of this.touched) if (this.s.inPack.get(pack) === undefined) this.files.remove(pack)
    this.touched.clear()
  }

  get pendingSweep(): boolean {
    return this.touched.size > 0
  }

  close(): void {
    this.files.close()
  }
}
