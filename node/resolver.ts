/** Resolution of Volume paths to path-tree entries, with POSIX errors. */
import { type Entry, type InodeId, type PathTree, ROOT_ID } from '../sync/types.js'
import { FsError } from './errors.js'
import { checkName, splitPath } from './paths.js'

/** How far back (journal entries) a path that no longer exists is looked up. */
const HISTORY_SCAN = 20_000

export class PathResolver {
  constructor(private readonly tree: PathTree) {}

  root(): Entry {
    return (
      this.tree.get(ROOT_ID) ?? {
        parent: ROOT_ID,
        name: '',
        ino: ROOT_ID,
        kind: 'dir',
        mode: 0o755,
        mtime: 0,
        ctime: 0,
        size: 0,
      }
    )
  }

  /** The entry at `path`; ENOENT, or ENOTDIR when a component is not a directory. */
  entryAt(path: string): Entry {
    let cur = this.root()
    for (const name of splitPath(path)) {
      if (cur.kind !== 'dir') throw new FsError('ENOTDIR', path)
      const next = this.tree.lookup(cur.ino, name)
      if (!next) throw new FsError('ENOENT', path)
      cur = next
    }
    return cur
  }

  /** The existing directory that would hold `path`, and the last name (validated). */
  parentFor(path: string): { dir: Entry; name: string } {
    const parts = splitPath(path)
    const name = parts.pop()
    if (name === undefined) throw new FsError('EEXIST', path, 'the root exists')
    checkName(name, path)
    const dir = this.entryAt('/' + parts.join('/'))
    if (dir.kind !== 'dir') throw new FsError('ENOTDIR', path)
    return { dir, name }
  }

  /** Whether `ino` is `ancestor` or below it. */
  isInside(ino: InodeId, ancestor: InodeId): boolean {
    let cur: InodeId | undefined = ino
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      if (cur === ancestor) return true
      if (cur === ROOT_ID) return false
      cur = this.tree.get(cur)?.parent
    }
    return false
  }

  /** Inodes that have (or had) `path`: the current one first, then past ones from history, newest first. */
  inodesOfPath(path: string): InodeId[] {
    const canonical = '/' + splitPath(path).join('/')
    const out: InodeId[] = []
    try {
      out.push(this.entryAt(canonical).ino)
    } catch (e) {
      if (!(e instanceof FsError)) throw e
    }
    for (const h of this.tree.history(undefined, HISTORY_SCAN)) {
      if (h.path === canonical && !out.includes(h.ino)) out.push(h.ino)
    }
    return out
  }
}
