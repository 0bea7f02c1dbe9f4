/**
 * The cache's recency survives a restart (node.db `chunk_use`): after a
 * restart the chunks used least recently before it go first, uses in the new
 * process count as newer, evicted chunks leave the table, and only on-demand
 * trees are saved.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { type CachedTree, ChunkCache } from '../../node/chunk-cache.js'
import { SqliteRecencyStore } from '../../node/chunk-recency.js'
import { MemoryChunkBackend } from '../../store/index.js'
import type { ContentStore } from '../../store/types.js'

const SIZE = 1000
// Ids chosen so that id order (the tie-break of chunks with no known use) is the
// opposite of use order: without saved recency the recently used would go first.
const recent = ['0a', '0b', '0c', '0d', '0e'].map((p) => p.padEnd(64, '0'))
const stale = ['fa', 'fb', 'fc', 'fd', 'fe'].map((p) => p.padEnd(64, '0'))

const tree = (id: string, demand: boolean): CachedTree => ({
  id,
  demand,
  store: {} as ContentStore, // read only for pins; none here
  pinned: () => [],
})

test('chunk recency is saved for on-demand trees and orders eviction after a restart', async () => {
  const db = new Database(':memory:')
  const backend = new MemoryChunkBackend()
  const other = new MemoryChunkBackend()

  // First run: stale chunks stored first, recent ones stored after and read again.
  const first = new ChunkCache()
  first.persist(new SqliteRecencyStore(db))
  const b1 = first.track('r', backend)
  const w1 = first.track('w', other)
  b1.putMany(stale.map((id) => ({ id, data: new Uint8Array(SIZE) })))
  b1.putMany(recent.map((id) => ({ id, data: new Uint8Array(SIZE) })))
  for (const id of recent) assert.ok(b1.get(id))
  w1.putMany([{ id: '11'.repeat(32), data: new Uint8Array(SIZE) }])
  first.limit = 100 * SIZE
  assert.equal((await first.enforce([tree('r', true), tree('w', false)])).evicted, 0)
  const store = new SqliteRecencyStore(db)
  assert.equal(store.load('r').size, 10, 'the on-demand tree is saved')
  assert.equal(store.load('w').size, 0, "an 'all' tree is not")

  // Restart: a new cache over the same data and node.db; one stale chunk is read now.
  const second = new ChunkCache()
  second.persist(new SqliteRecencyStore(db))
  const b2 = second.track('r', backend)
  assert.ok(b2.get(stale[4]!))
  second.limit = 7 * SIZE // down to 90%: 6 chunks stay, 4 go
  const r = await second.enforce([tree('r', true)])
  assert.equal(r.evicted, 4)
  const left = new Set(backend.listChunks())
  for (const id of stale.slice(0, 4))
    assert.ok(!left.has(id), 'the least recently used before the restart go')
  for (const id of recent) assert.ok(left.has(id), 'the recently used before the restart stay')
  assert.ok(left.has(stale[4]!), 'a use after the restart is the newest')
  assert.deepEqual(
    [...store.load('r').keys()].sort(),
    [...recent, stale[4]!].sort(),
    'evicted chunks leave the table; the new use was saved',
  )
  db.close()
})
