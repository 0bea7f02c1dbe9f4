/**
 * Invariants of a simulated swarm (docs/SIM.md). Cheap ones run during the
 * run (`spotCheck`); the full set runs once every partition healed, every
 * crashed node restarted and the swarm went quiet (`finalChecks`).
 */
import { createHash } from 'node:crypto'
import { LOST_FOUND, ROOT_ID } from '../sync/types.js'
import type { WriteLedger } from './ledger.js'
import type { SimNode } from './node.js'

export interface Violation {
  kind: string
  detail: string
  /** Virtual ms since the start of the run. */
  at: number
}

/** One replica's visible tree, walked from the root. */
export interface Walk {
  /** path -> kind and content write id (files). */
  entries: Map<string, { kind: string; write?: string; size: number }>
  /** Every content write id visible (names and conflict copies). */
  writes: Set<string>
  problems: string[]
}

/** Walk a node's tree from the root: duplicate names, cycles, unreachable parents. */
export function walk(node: SimNode): Walk {
  const tree = node.tree!
  const out: Walk = { entries: new Map(), writes: new Set(), problems: [] }
  const seen = new Set<string>([ROOT_ID])
  const stack: [string, string][] = [[ROOT_ID, '']]
  while (stack.length > 0) {
    const [dir, prefix] = stack.pop()!
    const names = new Set<string>()
    for (const e of tree.readdir(dir)) {
      const path = `${prefix}/${e.name}`
      if (names.has(e.name)) out.problems.push(`duplicate name ${path}`)
      names.add(e.name)
      // A conflict copy shares its inode with the winner; only primary names must be unique inodes.
      if (!e.conflict && e.name !== LOST_FOUND) {
        if (seen.has(e.ino))
          out.problems.push(`inode ${e.ino} reachable twice (cycle or double link) at ${path}`)
        seen.add(e.ino)
      }
      out.entries.set(path, { kind: e.kind, size: e.size, ...(e.content ? { write: e.content.write } : {}) })
      if (e.content) out.writes.add(e.content.write)
      if (e.kind === 'dir' && !e.conflict) {
        if (stack.length > 100_000) {
          out.problems.push('directory walk exploded (cycle?)')
          return out
        }
        stack.push([e.ino, path])
      }
    }
  }
  return out
}

/** Cheap checks on one node mid-run: its tree walks without duplicates or cycles. */
export function spotCheck(node: SimNode, at: number): Violation[] {
  if (!node.up || !node.tree) return []
  return walk(node).problems.map((p) => ({ kind: 'tree-shape', detail: `node ${node.index}: ${p}`, at }))
}

/** Shard heads of a node, as one comparable string. */
export function headsKey(node: SimNode): string {
  const t = node.tree!
  return t
    .shardIds()
    .map((s) => `${s}:${t.headsOf(s).slice().sort().join(',')}`)
    .join(';')
}

/** Chunks a node still lacks for the content it shows. */
export async function missingChunks(node: SimNode): Promise<number> {
  const t = node.tree!
  let n = 0
  for (const c of t.liveContents()) n += (await node.volume!.store.missing(c.ref)).length
  return n
}

export interface FinalContext {
  nodes: SimNode[]
  ledger: WriteLedger
  at: number
  /** Wait for node code while the scheduler runs (a read may wait on a chunk fetch). */
  settle<T>(p: Promise<T>): Promise<T>
}

/** The full set, on a quiet swarm: convergence, content, no lost write, roles, tree shape. */
export async function finalChecks(c: FinalContext): Promise<Violation[]> {
  const v: Violation[] = []
  const add = (kind: string, detail: string) => v.push({ kind, detail, at: c.at })
  const live = c.nodes.filter((n) => n.up && n.tree)
  const full = live.filter((n) => n.role() !== 'reader')
  const readers = live.filter((n) => n.role() === 'reader')
  if (full.length === 0) return v
  const walks = new Map<SimNode, Walk>()
  for (const n of live) {
    const w = walk(n)
    walks.set(n, w)
    for (const p of w.problems) add('tree-shape', `node ${n.index}: ${p}`)
  }
  // Convergence: identical view rows (names, attributes, content refs, conflict copies).
  const ref = full[0]!
  const refView = JSON.stringify(ref.tree!.dumpView())
  for (const n of full.slice(1)) {
    const view = JSON.stringify(n.tree!.dumpView())
    if (view !== refView)
      add(
        'diverged',
        `node ${n.index} shows another tree than node ${ref.index}: ${firstDiff(walks.get(ref)!, walks.get(n)!)}`,
      )
  }
  // The incremental view equals one rebuilt from the documents.
  for (const n of live) {
    const before = JSON.stringify(n.tree!.dumpView())
    n.tree!.rebuildView()
    if (JSON.stringify(n.tree!.dumpView()) !== before)
      add('view-drift', `node ${n.index}: view differs from a rebuild from its documents`)
  }
  // Identical content: every file reads back the same bytes everywhere.
  const digests = new Map<string, string>()
  for (const n of full) {
    for (const [path, e] of walks.get(n)!.entries) {
      if (e.kind !== 'file') continue
      let d: string
      try {
        d = await c.settle(
          (async () => {
            const h = createHash('sha256')
            for await (const piece of n.volume!.readStream(path)) h.update(piece)
            return h.digest('hex')
          })(),
        )
      } catch (err) {
        add('content', `node ${n.index} cannot read ${path}: ${(err as Error).message}`)
        continue
      }
      const key = `${path}\0${e.write}`
      const other = digests.get(key)
      if (other === undefined) digests.set(key, d)
      else if (other !== d) add('content', `node ${n.index} reads other bytes for ${path}`)
    }
  }
  // No acknowledged write lost.
  for (const w of c.ledger.lost(walks.get(ref)!.writes)) {
    const t = ref.tree!
    const now = t.get(w.ino)
    const hist = t
      .history(w.ino, 6)
      .map((h) => `${h.op}@${h.node.slice(0, 6)}:${h.version.slice(0, 6)}`)
      .join(' ')
    const by = w.supersededBy.map((s) => (s === 'removed' ? 'removed' : `op ${s.op}`)).join(',')
    add(
      'lost-write',
      `op ${w.op} on node ${w.node} wrote ${w.path} (inode ${w.ino}, write ${w.write.slice(0, 8)}, change ${w.change.slice(0, 6)}): neither visible nor superseded; ` +
        `now ${now ? `${t.pathOf(w.ino)} showing ${now.content?.write.slice(0, 8)}` : 'not live'}; superseded by [${by}]; history ${hist}`,
    )
  }
  // Roles: a reader's writes never reach anyone else.
  for (const w of c.ledger.writes.filter((x) => x.reader)) {
    for (const n of live) {
      if (n.index === w.node) continue
      if (walks.get(n)!.writes.has(w.write))
        add('role', `reader node ${w.node}'s write (op ${w.op}) reached node ${n.index}`)
    }
  }
  // Readers hold every change the writers converged on (their views differ by their own local edits).
  for (const n of readers) {
    const lacking = ref.tree!.shardIds().flatMap((s) => ref.tree!.headsOf(s).filter((h) => !knows(n, h)))
    if (lacking.length > 0)
      add(
        'reader-behind',
        `reader node ${n.index} lacks ${lacking.length} head change(s), e.g. ${lacking[0]!.slice(0, 8)}`,
      )
  }
  // Everyone agrees on the membership.
  const members = JSON.stringify(ref.membership!.members())
  for (const n of live.slice(1)) {
    if (JSON.stringify(n.membership!.members()) !== members)
      add('membership', `node ${n.index} has another member list`)
  }
  return v
}

function firstDiff(a: Walk, b: Walk): string {
  for (const [p, e] of a.entries) {
    const o = b.entries.get(p)
    if (!o) return `${p} missing`
    if (o.kind !== e.kind || o.write !== e.write || o.size !== e.size) return `${p} differs`
  }
  for (const p of b.entries.keys()) if (!a.entries.has(p)) return `${p} extra`
  return 'attributes differ'
}

/** Whether a node's replica holds a change (its history recorded it). */
export function knows(n: SimNode, change: string): boolean {
  try {
    n.tree!.contentAt(ROOT_ID, change)
    return true
  } catch {
    return false
  }
}
