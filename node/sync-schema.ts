/**
 * The replication tables of `<home>/node.db` (schema version 2; version 1
 * held only the tree registry). `TreeRegistry` opens the database and calls
 * `migrateSyncTables` inside the same transaction that bumps `user_version`,
 * so a data dir from before replication keeps working and is upgraded once.
 * Layout: docs/NODE.md.
 */
import type Database from 'better-sqlite3'

/** The schema version of node.db this code writes. */
export const NODE_DB_VERSION = 2

/**
 * Create the tables added by replication (idempotent). `from` is the
 * user_version found on open (0 for a new file).
 */
export function migrateSyncTables(db: Database.Database, from: number): void {
  if (from >= 2) return
  db.exec(`
    -- The signed membership log of each tree (sync/membership.ts), in arrival order.
    CREATE TABLE IF NOT EXISTS member_entry (
      tree TEXT NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL,
      PRIMARY KEY (tree, seq));
    -- Invitations this node issued. The secret is kept wrapped by the node's wrap key.
    CREATE TABLE IF NOT EXISTS invite (
      id TEXT PRIMARY KEY, tree TEXT NOT NULL, secret BLOB NOT NULL, secret_hash TEXT NOT NULL,
      role TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER,
      used_by TEXT, used_at INTEGER);
    -- Paths whose content stays local under the 'demand' fetch policy (bt pin).
    CREATE TABLE IF NOT EXISTS pin (
      tree TEXT NOT NULL, path TEXT NOT NULL, created INTEGER NOT NULL,
      PRIMARY KEY (tree, path));
    -- Where peers were last reachable, so a restarted node redials them.
    CREATE TABLE IF NOT EXISTS peer_addr (
      node TEXT NOT NULL, addr TEXT NOT NULL, source TEXT NOT NULL, last_seen INTEGER NOT NULL,
      PRIMARY KEY (node, addr));
  `)
}
