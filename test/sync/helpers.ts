import Database from 'better-sqlite3'
import { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import type { ContentVersion, Entry, InodeId } from '../../sync/types.js'

let seq = 0

/** A path tree on an in-memory SQLite database with a deterministic runtime. */
export function memTree(
  nodeId: string,
  opts: { seed?: number; shardLimit?: number; runtime?: ManualRuntime } = {},
) {
  const runtime = opts.runtime ?? new ManualRuntime(opts.seed ?? ++seq)
  const db = new Database(':memory:')
  const tree = new AutomergePathTree({ db, nodeId, runtime, shardLimit: opts.shardLimit })
  return { tree, db, runtime }
}

let writes = 0
/** A fresh content version (unique write id) written by `node`. */
export function version(node: string, time: number, size = 10): ContentVersion {
  const w = (++writes).toString(16).padStart(8, '0')
  return { write: `w${w}${node}`, ref: { id: `${w}`.padEnd(64, 'a'), size }, node, time }
}

/** Canonical listing of the visible tree: one line per entry, depth-first, via readdir. */
export function listing(tree: AutomergePathTree, dir: InodeId = 'root', prefix = ''): string[] {
  const out: string[] = []
  let after = ''
  for (;;) {
    const page: Entry[] = tree.readdir(dir, after, 7)
    if (page.length === 0) break
    for (const e of page) {
      const c = e.conflict ? ` [${e.conflict.kind}]` : ''
      const content = e.content ? ` ${e.content.write}` : ''
      out.push(`${prefix}/${e.name} ${e.kind} ${e.mode.toString(8)}${content}${c}`)
      if (e.kind === 'dir') out.push(...listing(tree, e.ino, `${prefix}/${e.name}`))
    }
    after = page[page.length - 1]!.name
  }
  return out
}
