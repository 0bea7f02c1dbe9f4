/**
 * Pins (`bt pin TREE:/path`): paths whose content a node replicating a tree
 * on demand keeps local. Stored by path in node.db's `pin` table; a pinned
 * directory covers everything below it, now and later (the set of files is
 * computed from the current tree each time the engine asks).
 */
import type Database from 'better-sqlite3'
import type { FileRef } from '../store/types.js'
import type { Entry, PathTree } from '../sync/types.js'

const PAGE = 1000

export interface Pin {
  path: string
  created: number
}

export class PinStore {
  constructor(private readonly db: Database.Database) {}

  /** Pin a path (true if it was not pinned yet). */
  add(tree: string, path: string, created: number): boolean {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO pin (tree, path, created) VALUES (?, ?, ?)')
      .run(tree, path, created)
    return r.changes > 0
  }

  /** Unpin a path (true if it was pinned). */
  remove(tree: string, path: string): boolean {
    return this.db.prepare('DELETE FROM pin WHERE tree = ? AND path = ?').run(tree, path).changes > 0
  }

  list(tree: string): Pin[] {
    return this.db.prepare('SELECT path, created FROM pin WHERE tree = ? ORDER BY path').all(tree) as Pin[]
  }
}

/**
 * Content of every file at or below the pinned paths, each ref once. Pinned
 * paths that do not exist (now) contribute nothing.
 */
export function* pinnedRefs(tree: PathTree, paths: Iterable<string>): Generator<FileRef> {
  const seen = new Set<string>()
  const emit = function* (e: Entry): Generator<FileRef> {
    if (e.kind === 'file' && e.content && !seen.has(e.content.ref.id)) {
      seen.add(e.content.ref.id)
      yield e.content.ref
    }
  }
  for (const p of paths) {
    const e = tree.resolve(p)
    if (!e) continue
    if (e.kind === 'dir') yield* walk(tree, e.ino, emit)
    else yield* emit(e)
  }
}

function* walk(tree: PathTree, dir: string, emit: (e: Entry) => Generator<FileRef>): Generator<FileRef> {
  let after: string | undefined
  for (;;) {
    const page = tree.readdir(dir, after, PAGE)
    for (const e of page) {
      if (e.kind === 'dir') yield* walk(tree, e.ino, emit)
      else yield* emit(e)
    }
    if (page.length < PAGE) return
    after = page[page.length - 1]!.name
  }
}

/** True when `path` is `pin` or below it. */
export function isUnder(path: string, pin: string): boolean {
  return pin === '/' || path === pin || path.startsWith(`${pin}/`)
}
