/**
 * The ledger of acknowledged writes: what the "no acknowledged write lost"
 * invariant checks at the end (docs/SIM.md gives the definition).
 *
 * A write W is acknowledged when the Volume call that made it resolved (the
 * commit was durable). It is recorded with its inode, its write id (the
 * ContentVersion id) and the change hash of its commit. A later operation X
 * on the same inode, on a node that already held W's change (so X causally
 * follows W), *supersedes* W: a write replaces W's content, a removal
 * (unlink, or a rename over the file) ends it. At the end W must be accounted
 * for: its write id is visible (under the file's name or as a conflict copy,
 * anywhere in the tree, lost+found included), or some operation that
 * superseded it is a removal or a write that is itself accounted for.
 */
import type { AutomergePathTree } from '../sync/path-tree.js'

export interface WriteRecord {
  op: number
  node: number
  path: string
  ino: string
  write: string
  /** Change hash of the commit that made the write. */
  change: string
  /** Made on a reader: must never reach another node. */
  reader: boolean
  /** Operations that superseded this write: write records, or 'removed'. */
  supersededBy: (WriteRecord | 'removed')[]
}

export class WriteLedger {
  readonly writes: WriteRecord[] = []
  private readonly byIno = new Map<string, WriteRecord[]>()

  /** This node's latest own write of `ino` (change hash), to tell a new commit from an old one. */
  lastOwnWrite(tree: AutomergePathTree, ino: string): string | undefined {
    return tree
      .history(ino, 64)
      .find((r) => r.node === tree.nodeId && (r.op === 'write' || r.op === 'create'))?.version
  }

  /**
   * Record a write of inode `ino` acknowledged by node `node`'s volume. Its
   * ids come from that node's history (its latest own write of the inode),
   * not from the name: while the write waited (a chunk fetch), the file may
   * have been renamed, or a concurrent remote write may hold the name.
   * `previous` is `lastOwnWrite` from before the write: when nothing newer
   * was committed, the volume discarded the write because the inode was
   * deleted meanwhile (docs/SEMANTICS.md: a late close never resurrects a
   * deleted file) and undefined is returned: nothing was acknowledged.
   */
  acknowledge(
    op: number,
    node: number,
    tree: AutomergePathTree,
    ino: string,
    reader: boolean,
    previous?: string,
  ): WriteRecord | undefined {
    const h = tree
      .history(ino, 64)
      .find((r) => r.node === tree.nodeId && (r.op === 'write' || r.op === 'create'))
    if (!h || h.version === previous) {
      if (tree.get(ino) === undefined) return undefined
      throw new Error(`write of live inode ${ino} resolved without a commit`)
    }
    const content = tree.contentAt(ino, h.version)
    if (!content) throw new Error(`acknowledged write of ${ino} has no content at ${h.version}`)
    const rec: WriteRecord = {
      op,
      node,
      path: h.path,
      ino,
      write: content.write,
      change: h.version,
      reader,
      supersededBy: [],
    }
    this.writes.push(rec)
    const list = this.byIno.get(rec.ino) ?? []
    list.push(rec)
    this.byIno.set(rec.ino, list)
    return rec
  }

  /**
   * Earlier writes of `ino` that `tree` already holds (an operation on that
   * node now causally follows them). Call before the operation, apply with
   * `supersede` once it was acknowledged.
   */
  seenBy(tree: AutomergePathTree, ino: string): WriteRecord[] {
    return (this.byIno.get(ino) ?? []).filter((w) => knows(tree, ino, w.change))
  }

  supersede(seen: WriteRecord[], by: WriteRecord | 'removed'): void {
    for (const w of seen) w.supersededBy.push(by)
  }

  /**
   * Writes not accounted for, given the write ids visible in the final tree.
   * Readers' writes are checked separately (they must not spread).
   */
  lost(visible: Set<string>): WriteRecord[] {
    const memo = new Map<WriteRecord, boolean>()
    const accounted = (w: WriteRecord): boolean => {
      const m = memo.get(w)
      if (m !== undefined) return m
      // Guard against cycles (cannot happen: supersession follows causality).
      memo.set(w, false)
      const ok =
        visible.has(w.write) || w.supersededBy.some((s) => s === 'removed' || (!s.reader && accounted(s)))
      memo.set(w, ok)
      return ok
    }
    return this.writes.filter((w) => !w.reader && !accounted(w))
  }
}

/** Whether `tree` holds the change `change` (its history recorded it). */
function knows(tree: AutomergePathTree, ino: string, change: string): boolean {
  try {
    tree.contentAt(ino, change)
    return true
  } catch {
    return false
  }
}
