/**
 * The membership log of each tree in node.db (`member_entry`): the
 * persistence behind sync/membership.ts's `MemberLog` (its `MemberLogStore`).
 * Entries are kept as received, in arrival order; the log folds them
 * deterministically whatever the order, so the order here only matters for
 * reproducing what this node saw.
 */
import type Database from 'better-sqlite3'

/** Entries at most this large are stored (a signed entry is a few hundred bytes). */
const MAX_ENTRY = 64 * 1024

export class SqliteMemberLogStore {
  constructor(
    private readonly db: Database.Database,
    /** Global tree id. */
    readonly tree: string,
  ) {}

  load(): Uint8Array[] {
    return (
      this.db.prepare('SELECT entry FROM member_entry WHERE tree = ? ORDER BY seq').all(this.tree) as {
        entry: Buffer
      }[]
    ).map((r) => new Uint8Array(r.entry.buffer, r.entry.byteOffset, r.entry.byteLength))
  }

  append(entries: Uint8Array[]): void {
    if (entries.length === 0) return
    const next = this.db.prepare('SELECT coalesce(max(seq), 0) + 1 AS n FROM member_entry WHERE tree = ?')
    const put = this.db.prepare('INSERT INTO member_entry (tree, seq, entry) VALUES (?, ?, ?)')
    this.db.transaction(() => {
      let seq = (next.get(this.tree) as { n: number }).n
      for (const e of entries) {
        if (e.length === 0 || e.length > MAX_ENTRY)
          throw new RangeError(`membership entry of ${e.length} bytes`)
        put.run(this.tree, seq++, Buffer.from(e.buffer, e.byteOffset, e.byteLength))
      }
    })()
  }

  /** Number of stored entries (0: the tree has no genesis yet). */
  count(): number {
    return (
      this.db.prepare('SELECT count(*) AS n FROM member_entry WHERE tree = ?').get(this.tree) as { n: number }
    ).n
  }
}
