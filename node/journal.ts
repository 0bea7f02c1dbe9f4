/**
 * The journal as users read it (`bt log`, `Volume.history`): the path tree's
 * recorded operations, folded to one entry per change and inode.
 */
import type { HistoryEntry, InodeId, PathTree } from '../sync/types.js'

/**
 * Newest first: the whole tree's journal (`inos` undefined) or that of the
 * inodes that have carried one path; at most `limit` entries.
 */
export function journal(tree: PathTree, inos: InodeId[] | undefined, limit?: number): HistoryEntry[] {
  // A commit records several operations per inode (e.g. write + mtime); ask for enough to fill `limit`.
  const fetch = limit === undefined ? undefined : limit * OPS_PER_CHANGE
  let rows: HistoryEntry[]
  if (inos === undefined) {
    rows = tree.history(undefined, fetch)
  } else {
    rows = inos.flatMap((ino) => tree.history(ino, fetch))
    if (inos.length > 1) rows.sort((a, b) => b.time - a.time || (a.version < b.version ? -1 : 1))
  }
  const out = perChange(rows)
  return limit === undefined ? out : out.slice(0, limit)
}

/** Operations one Volume call records per inode at most (create + write + setattr). */
const OPS_PER_CHANGE = 3
const OP_RANK: Record<HistoryEntry['op'], number> = {
  create: 6,
  remove: 5,
  resolve: 4,
  write: 3,
  move: 2,
  setattr: 1,
  other: 0,
}

/**
 * One journal entry per change and inode, in the given (newest-first) order:
 * a commit that wrote content and set the mtime, or created a file with its
 * first content, is one event to the user, named by its most significant
 * operation.
 */
function perChange(rows: HistoryEntry[]): HistoryEntry[] {
  const out: HistoryEntry[] = []
  const at = new Map<string, number>()
  for (const r of rows) {
    const key = `${r.version}\0${r.ino}`
    const i = at.get(key)
    if (i === undefined) {
      at.set(key, out.length)
      out.push(r)
    } else if (OP_RANK[r.op] > OP_RANK[out[i]!.op]) {
      out[i] = { ...out[i]!, op: r.op }
    }
  }
  return out
}
