import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { COMPACT_AFTER, COMPACT_MAX, openTreeDatabase, TreeStorage } from '../../sync/storage.js'
import { tmpDir } from '../helpers/tmp.js'

const count = (s: TreeStorage, shard: number) => s.loadShard(shard)?.increments.length ?? -1

test('a shard compacts after COMPACT_AFTER increments only once they weigh half its snapshot', (t) => {
  const db = openTreeDatabase(join(tmpDir(t), 'tree.db'))
  t.after(() => db.close())
  const s = new TreeStorage(db)
  let snaps = 0
  const snapshot = (n: number) => () => {
    snaps++
    return new Uint8Array(n)
  }
  // First compaction: no snapshot yet, so after COMPACT_AFTER increments.
  for (let i = 0; i < COMPACT_AFTER; i++) s.appendShard(1, new Uint8Array(10), snapshot(10_000))
  assert.equal(snaps, 1)
  assert.equal(count(s, 1), 0)
  // Now a 10 kB snapshot: 64 increments of 10 B (640 B) are not enough; 5 kB of increments are.
  for (let i = 0; i < COMPACT_AFTER * 2; i++) s.appendShard(1, new Uint8Array(10), snapshot(10_000))
  assert.equal(snaps, 1)
  assert.equal(count(s, 1), COMPACT_AFTER * 2)
  s.appendShard(1, new Uint8Array(5_000), snapshot(10_000))
  assert.equal(snaps, 2)
  assert.equal(count(s, 1), 0)
  assert.equal(s.loadShard(1)?.snapshot?.length, 10_000)
})

test('a shard compacts after COMPACT_MAX increments however small', (t) => {
  const db = openTreeDatabase(join(tmpDir(t), 'tree.db'))
  t.after(() => db.close())
  const s = new TreeStorage(db)
  s.compactShard(2, new Uint8Array(1_000_000))
  let snaps = 0
  for (let i = 0; i < COMPACT_MAX; i++)
    s.appendShard(2, new Uint8Array(1), () => {
      snaps++
      return new Uint8Array(1_000_000)
    })
  assert.equal(snaps, 1)
  assert.equal(count(s, 2), 0)
})

test('shards written before the bookkeeping table existed get their counts on open', (t) => {
  const path = join(tmpDir(t), 'tree.db')
  let db = openTreeDatabase(path)
  let s = new TreeStorage(db)
  for (let i = 0; i < 5; i++) s.appendShard(3, new Uint8Array(100), () => new Uint8Array(1))
  db.exec('DROP TABLE tree_shard_log')
  db.close()
  db = openTreeDatabase(path)
  t.after(() => db.close())
  s = new TreeStorage(db)
  const row = db.prepare('SELECT * FROM tree_shard_log WHERE shard = 3').get() as Record<string, number>
  assert.deepEqual({ ...row }, { shard: 3, increments: 5, incr_bytes: 500, snap_bytes: 0 })
  assert.equal(count(s, 3), 5)
})
