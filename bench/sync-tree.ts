/**
 * Path-tree scale: build a tree of N files (1000 per directory, commit every
 * 100 creates), save, reopen (load), sync it to an empty replica, then time
 * one small change on the big tree (local commit, and remote apply including
 * the view update) and the memory it takes.
 *
 * Baselines measured in the same run: raw SQLite inserts of the same rows
 * (what a plain indexed table costs), and syncing ONE unsharded Automerge
 * document holding the same entries (what sharding avoids).
 *
 * Usage: node dist/bench/sync-tree.js [--quick] [--sizes 10000,100000]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as A from '@automerge/automerge'
import Database from 'better-sqlite3'
import { createDoc, type Doc, initSyncState, loadDoc, type SyncState } from '../sync/automerge.js'
import { AutomergePathTree } from '../sync/path-tree.js'
import { applyMessage, decodeMessage, generateMessage } from '../sync/replication.js'
import { systemRuntime } from '../sync/runtime.js'
import { openTreeDatabase } from '../sync/storage.js'
import { syncTrees } from '../sync/sync-trees.js'
import { ROOT_ID } from '../sync/types.js'
import { benchArgs } from './args.js'

const opts = benchArgs(
  'sync-tree',
  'Path tree build, save, load, sync to an empty replica, small changes, RSS.',
  {
    sizes: { full: [10_000, 100_000], quick: [500, 2000], help: 'tree sizes (entries)', list: true },
  },
)
const quick = opts.quick
const sizes = opts.sizes

const secs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9
const mb = (b: number) => (b / 1e6).toFixed(1)
const rt = systemRuntime()

function content(i: number) {
  return {
    write: `w${i}`,
    ref: { id: i.toString(16).padStart(64, '0'), size: i },
    node: 'bench-a',
    time: 1_700_000_000_000 + i,
  }
}

function gc(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

function benchTree(n: number, dir: string): void {
  gc()
  const rss0 = process.memoryUsage().rss
  const path = join(dir, `a-${n}.db`)
  let db = openTreeDatabase(path)
  let a = new AutomergePathTree({ db, nodeId: 'bench-a', runtime: rt })
  let t = process.hrtime.bigint()
  let d = ROOT_ID
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 0) d = a.create(ROOT_ID, `dir${i / 1000}`, 'dir', { mode: 0o755, mtime: 1 })
    a.create(d, `file-${i}.txt`, 'file', { mode: 0o644, mtime: 1, content: content(i) })
    if (i % 100 === 99) a.commit()
  }
  a.commit()
  const build = secs(t)
  const shards = a.shardIds().length
  a.close()
  db.close()
  const fileBytes = statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)

  t = process.hrtime.bigint()
  db = openTreeDatabase(path)
  a = new AutomergePathTree({ db, nodeId: 'bench-a', runtime: rt })
  const open = secs(t)
  t = process.hrtime.bigint()
  const probe = a.resolve(`/dir${Math.floor((n - 1) / 1000)}/file-${n - 1}.txt`)
  if (!probe) throw new Error('lookup after load failed')
  const lookup = secs(t)

  // Sync to an empty in-memory replica (this also loads every shard document of `a`).
  const bdb = new Database(':memory:')
  const b = new AutomergePathTree({ db: bdb, nodeId: 'bench-b', runtime: rt })
  t = process.hrtime.bigint()
  const st = syncTrees(a, b)
  const sync = secs(t)
  if (b.childCount(ROOT_ID) !== a.childCount(ROOT_ID)) throw new Error('sync incomplete')
  gc()
  const rss = process.memoryUsage().rss - rss0

  // One small change on the big tree: local commit, then remote apply on the replica.
  const reps = 20
  const target = probe.ino
  // The first mutation after an open loads the in-memory model (queries do not need it).
  t = process.hrtime.bigint()
  a.setAttr(target, { mtime: 999 })
  a.commit()
  const first = secs(t)
  t = process.hrtime.bigint()
  for (let i = 0; i < reps; i++) {
    a.setAttr(target, { mtime: 1000 + i })
    a.commit()
  }
  const local = secs(t) / reps
  // Steady state: the two replicas keep their sync states between changes, like a live connection.
  const sa = a.newSyncState()
  const sb = b.newSyncState()
  const shard = Number(target.split('.')[0])
  const exchange = () => {
    for (let k = 0; k < 10; k++) {
      const m1 = a.syncMessage(shard, sa)
      if (m1) b.receiveSyncMessage(shard, sb, m1)
      const m2 = b.syncMessage(shard, sb)
      if (m2) a.receiveSyncMessage(shard, sa, m2)
      if (!m1 && !m2) return
    }
  }
  exchange()
  let remote = 0
  for (let i = 0; i < reps; i++) {
    a.setContent(target, content(n + i))
    a.commit()
    t = process.hrtime.bigint()
    exchange()
    remote += secs(t)
  }
  remote /= reps
  if (b.get(target)?.content?.write !== `w${n + reps - 1}`) throw new Error('remote change not applied')

  console.log(
    `path tree ${n} entries (${shards} shards): build ${build.toFixed(2)} s (${Math.round(n / build)}/s), ` +
      `db ${mb(fileBytes)} MB, open ${(open * 1000).toFixed(0)} ms + first lookup ${(lookup * 1000).toFixed(1)} ms`,
  )
  console.log(
    `  sync to empty replica: ${sync.toFixed(2)} s, ${mb(st.bytes)} MB in ${st.messages} messages; ` +
      `RSS (both replicas) ${mb(rss)} MB = ${mb((rss / n) * 100_000)} MB per 100k entries`,
  )
  console.log(
    `  one small change on the ${n} tree: local commit ${(local * 1000).toFixed(2)} ms, ` +
      `remote apply incl. view ${(remote * 1000).toFixed(2)} ms; first mutation after open (loads the model) ${(first * 1000).toFixed(0)} ms`,
  )
  a.close()
  b.close()
  db.close()
  bdb.close()
}

function baselineSqlite(n: number, dir: string): void {
  const db = openTreeDatabase(join(dir, `raw-${n}.db`))
  db.exec(
    'CREATE TABLE e (parent TEXT, name TEXT, ino TEXT, mode INT, mtime REAL, content TEXT, PRIMARY KEY (parent, name))',
  )
  const ins = db.prepare('INSERT INTO e VALUES (?, ?, ?, ?, ?, ?)')
  const t = process.hrtime.bigint()
  db.transaction(() => {
    for (let i = 0; i < n; i++)
      ins.run(`dir${Math.floor(i / 1000)}`, `file-${i}.txt`, `0.${i}`, 0o644, 1, JSON.stringify(content(i)))
  })()
  console.log(`  baseline: raw SQLite insert of the same ${n} rows: ${secs(t).toFixed(2)} s`)
  db.close()
}

function baselineUnsharded(n: number): void {
  const src = createDoc('aa01')
  for (let i = 0; i < n; i++) {
    const k = `0.${i}`
    src.put('_root', `${k}/loc`, JSON.stringify(['p', `file-${i}.txt`, null, null]), 'str')
    src.put('_root', `${k}/kind`, 'file', 'str')
    src.put('_root', `${k}/mode`, 0o644, 'int')
    src.put('_root', `${k}/mtime`, 1, 'f64')
    src.put('_root', `${k}/content`, JSON.stringify(content(i)), 'str')
    if (i % 100 === 99) src.commit()
  }
  src.commit()
  const dst = createDoc('bb02')
  const s1 = initSyncState()
  const s2 = initSyncState()
  let bytes = 0
  const t = process.hrtime.bigint()
  for (let r = 0; r < 100; r++) {
    const m1 = src.generateSyncMessage(s1)
    if (m1) {
      bytes += m1.length
      dst.receiveSyncMessage(s2, m1)
    }
    const m2 = dst.generateSyncMessage(s2)
    if (m2) {
      bytes += m2.length
      src.receiveSyncMessage(s1, m2)
    }
    if (!m1 && !m2) break
  }
  const s = secs(t)
  if (A.decodeSyncMessage(src.generateSyncMessage(initSyncState())!).heads.join() !== dst.getHeads().join()) {
    throw new Error('baseline sync incomplete')
  }
  console.log(
    `  baseline: one unsharded Automerge doc, ${n} entries, sync to empty: ${s.toFixed(2)} s, ${mb(bytes)} MB`,
  )
  src.free()
  dst.free()
}

/**
 * A backlog of 1000 small changes on an 8k-entry shard reaching a replica
 * that has the rest: Automerge's own messages (one document chunk applied in
 * one go) against ours (individual changes applied in batches of 64).
 */
function backlog(entries: number, changes: number): void {
  const src = createDoc('aa01')
  for (let i = 0; i < entries; i++) {
    src.put('_root', `0.${i}/loc`, JSON.stringify(['p', `f${i}`, null, null]), 'str')
    src.put('_root', `0.${i}/mode`, 0o644, 'int')
    src.put('_root', `0.${i}/content`, JSON.stringify(content(i)), 'str')
    if (i % 100 === 99) src.commit()
  }
  src.commit()
  const saved = src.save()
  for (let i = 0; i < changes; i++) {
    src.put('_root', `0.${(i * 13) % entries}/mode`, 0o600 + (i % 8), 'int')
    src.commit()
  }
  const full = src.save()
  const run = (
    gen: (d: Doc, s: SyncState) => Uint8Array | null,
    recv: (d: Doc, s: SyncState, m: Uint8Array) => void,
  ) => {
    const a = loadDoc(full, 'aa02')
    const b = loadDoc(saved, 'bb01')
    const sa = initSyncState()
    const sb = initSyncState()
    gc()
    const rss0 = process.memoryUsage().rss
    const t = process.hrtime.bigint()
    for (let r = 0; r < 20; r++) {
      const m1 = gen(a, sa)
      if (m1) recv(b, sb, m1)
      const m2 = gen(b, sb)
      if (m2) recv(a, sa, m2)
      if (!m1 && !m2) break
    }
    const s = secs(t)
    const grown = process.memoryUsage().rss - rss0
    if (a.getHeads().join() !== b.getHeads().join()) throw new Error('backlog sync incomplete')
    a.free()
    b.free()
    return `${s.toFixed(2)} s, RSS +${mb(grown)} MB`
  }
  const native = run(
    (d, s) => d.generateSyncMessage(s),
    (d, s, m) => d.receiveSyncMessage(s, m),
  )
  const ours = run(generateMessage, (d, s, m) => applyMessage(d, s, m, decodeMessage(m)))
  console.log(
    `backlog of ${changes} changes on a ${entries}-entry shard: ours (batched) ${ours}; baseline Automerge sync ${native}`,
  )
  src.free()
}

const dir = mkdtempSync(join(tmpdir(), 'bt-bench-sync-'))
try {
  backlog(quick ? 500 : 8000, quick ? 100 : 1000)
  for (const n of sizes) {
    benchTree(n, dir)
    baselineSqlite(n, dir)
    if (n <= 20_000) baselineUnsharded(n)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
