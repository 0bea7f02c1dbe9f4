/**
 * Moderate scale in CI: 20k entries build, save, load and sync to an empty
 * replica, each within a bound of CPU time that catches accidental quadratic
 * behaviour (measured ~2-5 s each here). CPU time, not wall time: on a loaded
 * machine the wall time of the build reached 71 s while its work did not grow.
 * The 100k figures come from `bench/sync-tree.ts`.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { AutomergePathTree } from '../../sync/path-tree.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { openTreeDatabase } from '../../sync/storage.js'
import { syncTrees } from '../../sync/sync-trees.js'
import { ROOT_ID } from '../../sync/types.js'
import { tmpDir } from '../helpers/tmp.js'

const N = Number(process.env.BT_SCALE_N ?? 20_000)
const BOUND_S = 40

/** CPU seconds (user + system) this process spent since `t0`. */
const secs = (t0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(t0)
  return (d.user + d.system) / 1e6
}

test(`${N} entries: build, save, load and sync to an empty replica`, (t) => {
  const path = join(tmpDir(t), 'scale.db')
  const rt = new ManualRuntime(3)
  let db = openTreeDatabase(path)
  let a = new AutomergePathTree({ db, nodeId: 'scale-a', runtime: rt })
  let t0 = process.cpuUsage()
  let dir = ROOT_ID
  for (let i = 0; i < N; i++) {
    if (i % 500 === 0) dir = a.create(ROOT_ID, `d${i / 500}`, 'dir', { mode: 0o755, mtime: 1 })
    const content = { write: `w${i}`, ref: { id: 'c'.repeat(64), size: i }, node: 'scale-a', time: i }
    a.create(dir, `f${i}`, 'file', { mode: 0o644, mtime: 1, content })
    if (i % 200 === 199) a.commit()
  }
  a.commit()
  const build = secs(t0)
  const shards = a.shardIds().length
  assert.ok(shards >= 3, 'several shards of 8192')
  a.close()
  db.close()

  t0 = process.cpuUsage()
  db = openTreeDatabase(path)
  a = new AutomergePathTree({ db, nodeId: 'scale-a', runtime: rt })
  assert.equal(a.resolve(`/d${Math.floor((N - 1) / 500)}/f${N - 1}`)?.size, N - 1)
  const load = secs(t0)

  const b = new AutomergePathTree({ db: new Database(':memory:'), nodeId: 'scale-b', runtime: rt })
  t0 = process.cpuUsage()
  syncTrees(a, b)
  const sync = secs(t0)
  assert.equal(b.childCount(ROOT_ID), Math.ceil(N / 500))
  assert.equal(b.resolve(`/d0/f1`)?.content?.write, 'w1')
  let total = 0
  for (const d of b.readdir(ROOT_ID)) total += b.childCount(d.ino)
  assert.equal(total, N)
  t.diagnostic(
    `CPU: build ${build.toFixed(1)} s, load ${load.toFixed(2)} s, sync ${sync.toFixed(1)} s, ${shards} shards`,
  )
  for (const [what, s] of [
    ['build', build],
    ['load', load],
    ['sync', sync],
  ] as const) {
    assert.ok(s < BOUND_S, `${what} took ${s.toFixed(1)} s of CPU`)
  }
  a.close()
  b.close()
  db.close()
})
