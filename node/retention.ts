/**
 * Which content versions this replica has taken a store reference for.
 *
 * The store's gc keeps only what is retained. Local commits retain their new
 * content in the same transaction as the tree change; content received from
 * other replicas is retained when first seen. The ledger makes that exactly
 * once across restarts: a write id is recorded in the same database
 * transaction as its `store.retain`.
 */
import type Database from 'better-sqlite3'
import type { ContentStore } from '../store/types.js'
import type { ContentVersion, InodeId, PathTree } from '../sync/types.js'

export interface RetentionLedger {
  has(write: string): boolean
  add(write: string): void
}

/** Ledger in a table of the tree's SQLite database. */
export class SqliteRetentionLedger implements RetentionLedger {
  private readonly hasStmt: Database.Statement<[string], unknown>
  private readonly addStmt: Database.Statement<[string]>

  constructor(db: Database.Database) {
    db.exec('CREATE TABLE IF NOT EXISTS volume_retained (write TEXT PRIMARY KEY) WITHOUT ROWID')
    this.hasStmt = db.prepare('SELECT 1 FROM volume_retained WHERE write = ?')
    this.addStmt = db.prepare('INSERT OR IGNORE INTO volume_retained (write) VALUES (?)')
  }

  has(write: string): boolean {
    return this.hasStmt.get(write) !== undefined
  }

  add(write: string): void {
    this.addStmt.run(write)
  }
}

/** Takes the store references the tree's content versions need, once each. */
export class Retainer {
  constructor(
    private readonly tree: PathTree,
    private readonly store: ContentStore,
    private readonly ledger: RetentionLedger,
  ) {}

  /** Retain the current content of changed inodes (cheap; run for every remote merge). */
  inodes(inos: InodeId[]): void {
    this.store.transaction(() => {
      for (const ino of inos) {
        const v = this.tree.get(ino)?.content
        if (v) this.version(v)
      }
    })
  }

  /** Retain every content version the tree and its history reference (at open and before gc). */
  all(): void {
    // Collect first: the tree may stream this from a cursor on the same database.
    const all = [...this.tree.allContent()]
    this.store.transaction(() => {
      for (const v of all) this.version(v)
    })
  }

  private version(v: ContentVersion): void {
    if (this.ledger.has(v.write)) return
    this.store.retain(v.ref)
    this.ledger.add(v.write)
  }
}
