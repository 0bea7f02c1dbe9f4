/**
 * Time and bytes to bring a fresh node up to date with the metadata of a
 * tree of --files files (1,000 per directory, empty, so no chunk moves):
 * node a holds the tree (built in-process through its volume's path tree
 * before `bt up`), node b joins it; the clock runs from `bt join` until b's
 * view lists every file. Per transport (iroh alone, Hyperswarm alone).
 *
 * Baselines in the same run: the same sync between two path trees in one
 * process with no network and no processes (sync/sync-trees.ts), and the
 * size of a's tree database (what copying the file would move).
 *
 * Usage: node dist/bench/sync-metadata.js [--quick] [--files N]
 */
import { copyFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openApi } from '../node/daemon/open-api.js'
import { openLocalNode } from '../node/local-node.js'
import { TREE_DB } from '../node/open-tree.js'
import { AutomergePathTree } from '../sync/path-tree.js'
import { systemRuntime } from '../sync/runtime.js'
import { openTreeDatabase } from '../sync/storage.js'
import { syncTrees } from '../sync/sync-trees.js'
import { ROOT_ID } from '../sync/types.js'
import { type BtNode, Cluster, poll, type TransportChoice } from '../test/e2e/harness.js'
import { invite, peersOf, syncStatus } from '../test/e2e/sync-cli.js'
import { benchArgs } from './args.js'
import { benchTeardown, since, size } from './sync-common.js'

const opts = benchArgs('sync-metadata', "A fresh node syncs a big tree's metadata (time, bytes).", {
  files: { full: [100_000], quick: [300], help: 'files in the tree' },
})
const FILES = opts.files[0]!
const PER_DIR = 1000
const rt = systemRuntime()

/** Build the tree `meta` of FILES empty files in a's data dir (a is not running). */
async function build(a: BtNode): Promise<{ secs: number; treeId: string }> {
  const node = await openLocalNode({ home: a.home, runtime: rt })
  try {
    const info = await node.treeCreate('meta')
    const v = await node.volume('meta')
    const t0 = performance.now()
    let dir = ROOT_ID
    for (let i = 0; i < FILES; i++) {
      if (i % PER_DIR === 0) dir = v.tree.create(ROOT_ID, `d${i / PER_DIR}`, 'dir', { mode: 0o755, mtime: 1 })
      v.tree.create(dir, `f${i}.txt`, 'file', { mode: 0o644, mtime: 1_700_000_000_000 + i })
      if (i % 1000 === 999) v.tree.commit()
    }
    v.tree.commit()
    return { secs: since(t0), treeId: info.id }
  } finally {
    await node.close()
  }
}

/** In-process baseline: sync a copy of a's tree database to an empty replica. */
function baseline(a: BtNode, treeId: string, dir: string): { secs: number; bytes: number; dbBytes: number } {
  const src = join(a.home, 'trees', treeId, TREE_DB)
  const copy = join(dir, 'baseline-tree.db')
  copyFileSync(src, copy)
  if (existsSync(`${src}-wal`)) copyFileSync(`${src}-wal`, `${copy}-wal`)
  const dbBytes = statSync(src).size + (statSync(`${src}-wal`, { throwIfNoEntry: false })?.size ?? 0)
  const db = openTreeDatabase(copy)
  const from = new AutomergePathTree({ db, nodeId: a.nodeId, runtime: rt })
  const mem = new Database(':memory:')
  const to = new AutomergePathTree({ db: mem, nodeId: 'b'.repeat(64), runtime: rt })
  const t0 = performance.now()
  const st = syncTrees(from, to)
  const secs = since(t0)
  if (to.childCount(ROOT_ID) !== from.childCount(ROOT_ID)) throw new Error('baseline sync incomplete')
  from.close()
  to.close()
  db.close()
  mem.close()
  return { secs, bytes: st.bytes, dbBytes }
}

async function run(transport: TransportChoice): Promise<void> {
  const td = benchTeardown()
  try {
    const c = await Cluster.start(td.t, { transport })
    const a = await c.add('a')
    const b = await c.add('b')
    const built = await build(a)
    const base = baseline(a, built.treeId, c.dir)
    await Promise.all([a.up(), b.up()])
    const ticket = await invite(a, 'meta', 'writer')
    const t0 = performance.now()
    await b.ok(['join', ticket], { timeoutMs: 600_000 })
    const joined = since(t0)
    const api = await openApi({ home: b.home })
    try {
      await poll(
        `b to list ${FILES} files`,
        async () => (await api.df()).trees.find((x) => x.name === 'meta')?.files === FILES,
        { timeoutMs: 1_800_000, intervalMs: 250 },
      )
    } finally {
      await api.close()
    }
    const secs = since(t0)
    const s = await syncStatus(b, 'meta')
    const link = (await peersOf(b)).find((p) => p.node === a.nodeId)
    process.stdout.write(
      `${transport}: fresh node has the metadata of ${FILES} files in ${secs.toFixed(2)} s ` +
        `(join answered after ${joined.toFixed(2)} s); b received ${size(s.bytesIn)} for the tree, ` +
        `${size(link?.bytesIn ?? 0)} on the connection(s)\n` +
        `${transport}: baseline in-process sync (no network): ${base.secs.toFixed(2)} s, ${size(base.bytes)} ` +
        `of sync messages; a's tree.db ${size(base.dbBytes)}; build on a ${built.secs.toFixed(1)} s\n`,
    )
  } finally {
    await td.run()
  }
}

// --quick (the smoke test) runs one transport: the path is the same, the e2e tests cover both.
const transports: TransportChoice[] = opts.quick ? ['hyperswarm'] : ['iroh', 'hyperswarm']
for (const transport of transports) await run(transport)
