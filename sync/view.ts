/**
 * The materialized view: visible directory entries in SQLite (`tree_entry`),
 * one row per name in a directory, so lookup and paged readdir never load a
 * whole directory.
 */
import type { EntryRow } from './model.js'
import type { SqliteDb } from './storage.js'
import type { Entry, InodeId } from './types.js'

// Statements name their index (INDEXED BY): without ANALYZE statistics the
// planner preferred the primary key and scanned whole directories.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS tree_entry (
  parent TEXT NOT NULL, name TEXT NOT NULL, ino TEXT NOT NULL, base TEXT NOT NULL, want TEXT NOT NULL,
  ckind INTEGER NOT NULL, version TEXT, kind TEXT NOT NULL, mode INTEGER NOT NULL, mtime REAL NOT NULL,
  ctime REAL NOT NULL, size INTEGER NOT NULL, content TEXT, target TEXT,
  PRIMARY KEY (parent, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tree_entry_ino ON tree_entry (ino, ckind);
CREATE INDEX IF NOT EXISTS tree_entry_base ON tree_entry (parent, base);
CREATE INDEX IF NOT EXISTS tree_entry_want ON tree_entry (parent, want) WHERE ckind > 0;
`

interface Row {
  parent: string
  name: string
  ino: string
  base: string
  want: string
  ckind: number
  version: string | null
  kind: string
  mode: number
  mtime: number
  ctime: number
  size: number
  content: string | null
  target: string | null
}

export class ViewStore {
  private readonly st

  constructor(db: SqliteDb) {
    db.exec(SCHEMA)
    this.st = {
      lookup: db.prepare<[string, string], Row>('SELECT * FROM tree_entry WHERE parent = ? AND name = ?'),
      byIno: db.prepare<[string], Row>('SELECT * FROM tree_entry WHERE ino = ? AND ckind < 2 LIMIT 1'),
      page: db.prepare<[string, string, number], Row>(
        'SELECT * FROM tree_entry WHERE parent = ? AND name > ? ORDER BY name LIMIT ?',
      ),
      count: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM tree_entry WHERE parent = ?'),
      hasChild: db.prepare<[string], { one: number }>(
        'SELECT 1 AS one FROM tree_entry WHERE parent = ? LIMIT 1',
      ),
      delGroup: db.prepare('DELETE FROM tree_entry INDEXED BY tree_entry_base WHERE parent = ? AND base = ?'),
      insert: db.prepare(
        `INSERT OR REPLACE INTO tree_entry (parent, name, ino, base, want, ckind, version, kind, mode, mtime, ctime, size, content, target)
         VALUES (@parent, @name, @ino, @base, @want, @ckind, @version, @kind, @mode, @mtime, @ctime, @size, @content, @target)`,
      ),
      wanting: db.prepare<[string, string], { base: string }>(
        'SELECT DISTINCT base FROM tree_entry INDEXED BY tree_entry_want WHERE parent = ? AND want = ? AND ckind > 0',
      ),
      conflicts: db.prepare<[], Row>('SELECT * FROM tree_entry WHERE ckind > 0 ORDER BY ino, name'),
      all: db.prepare<[], Row>('SELECT * FROM tree_entry ORDER BY parent, name'),
      clear: db.prepare('DELETE FROM tree_entry'),
    }
  }

  lookup(parent: InodeId, name: string): Entry | undefined {
    const r = this.st.lookup.get(parent, name)
    return r ? toEntry(r) : undefined
  }

  /** The entry under which an inode is visible (primary or duplicate-name copy). */
  byIno(ino: InodeId): Entry | undefined {
    const r = this.st.byIno.get(ino)
    return r ? toEntry(r) : undefined
  }

  readdir(parent: InodeId, after: string, limit: number): Entry[] {
    return this.st.page.all(parent, after, limit).map(toEntry)
  }

  childCount(parent: InodeId): number {
    return this.st.count.get(parent)!.n
  }

  hasChildren(parent: InodeId): boolean {
    return this.st.hasChild.get(parent) !== undefined
  }

  /** Groups in `parent` whose derived names wanted `name` (to recompute when `name` changes). */
  groupsWanting(parent: InodeId, name: string): string[] {
    return this.st.wanting.all(parent, name).map((r) => r.base)
  }

  replaceGroup(parent: InodeId, base: string, rows: EntryRow[]): void {
    this.st.delGroup.run(parent, base)
    for (const r of rows) {
      this.st.insert.run({
        ...r,
        content: r.content ? JSON.stringify(r.content) : null,
        target: r.target ?? null,
      })
    }
  }

  conflictRows(): (Entry & { base: string })[] {
    return this.st.conflicts.all().map((r) => ({ ...toEntry(r), base: r.base }))
  }

  /** Every row, canonical order (tests compare incremental and rebuilt views). */
  dump(): Row[] {
    return this.st.all.all()
  }

  clear(): void {
    this.st.clear.run()
  }
}

/** The entry a view row shows (rows computed by the model, before they are written). */
export function viewEntry(r: EntryRow): Entry {
  const e: Entry = {
    parent: r.parent,
    name: r.name,
    ino: r.ino,
    kind: r.kind,
    mode: r.mode,
    mtime: r.mtime,
    ctime: r.ctime,
    size: r.size,
  }
  // Copies, as a row read back from SQLite would be: callers may keep or change them.
  if (r.content) e.content = { ...r.content, ref: { ...r.content.ref } }
  if (r.target !== undefined) e.target = r.target
  if (r.ckind === 1) e.conflict = { kind: 'name', version: 'dup' }
  else if (r.ckind === 2) e.conflict = { kind: 'content', version: r.version! }
  return e
}

function toEntry(r: Row): Entry {
  const e: Entry = {
    parent: r.parent,
    name: r.name,
    ino: r.ino,
    kind: r.kind as Entry['kind'],
    mode: r.mode,
    mtime: r.mtime,
    ctime: r.ctime,
    size: r.size,
  }
  if (r.content !== null) e.content = JSON.parse(r.content)
  if (r.target !== null) e.target = r.target
  if (r.ckind === 1) e.conflict = { kind: 'name', version: 'dup' }
  else if (r.ckind === 2) e.conflict = { kind: 'content', version: r.version! }
  return e
}
