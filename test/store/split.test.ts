/**
 * Chunk blobs in a separate database (`chunkDb`): blobs commit before the metadata that
 * references them and are deleted only after the metadata that dropped them commits, so a crash
 * in between leaves only unreferenced blobs, which gc sweeps.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { chunkIdOf, createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { runContentStoreAcceptance } from './acceptance.js'
import { seededBytes } from './util.js'

const KEY = new Uint8Array(32).fill(9)

function open(dir: string): SqliteChunkBackend {
  const db = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
  const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
  return new SqliteChunkBackend(db, { ownsDatabase: true, chunkDb })
}

function blob(seed: number): { id: string; data: Uint8Array } {
  const data = seededBytes(1000 + seed, seed)
  return { id: chunkIdOf(data), data }
}

function countRows(path: string, table: string): number {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number
  } finally {
    db.close()
  }
}

runContentStoreAcceptance('sqlite, blobs in a separate database', (t) => {
  const backend = open(tmpDir(t, 'bt-split-'))
  t.after(() => backend.close())
  return { backend, open: (options) => createContentStore(backend, options) }
})

test('blobs committed without their metadata (crash between the two commits) are swept by gc', async (t) => {
  const dir = tmpDir(t, 'bt-split-')
  const [a, b] = [blob(1), blob(2)]
  let backend = open(dir)
  const first = createContentStore(backend, { key: KEY })
  const data = seededBytes(300_000, 3)
  const ref = await first.write(data)
  first.retain(ref)
  const keptChunks = backend.listChunks().sort()
  const keptNodes = countRows(join(dir, 'tree.db'), 'store_nodes')
  backend.transaction(() => {
    backend.putMany([a, b])
    // Blobs are durable before the metadata transaction that references them commits.
    assert.equal(countRows(join(dir, 'chunks.db'), 'store_chunks'), keptChunks.length + 2)
    assert.equal(backend.addNode(a.id, [b.id]), true)
  })
  first.close()
  // A crash between the two commits: the blobs are in chunks.db, their metadata never committed.
  const meta = new Database(join(dir, 'tree.db'))
  meta.prepare('DELETE FROM store_nodes WHERE id = ?').run(a.id)
  meta.prepare('DELETE FROM store_refs WHERE id = ?').run(b.id)
  meta.close()
  // The blobs are durable in chunks.db; no metadata names them.
  assert.equal(countRows(join(dir, 'chunks.db'), 'store_chunks'), keptChunks.length + 2)
  assert.equal(countRows(join(dir, 'tree.db'), 'store_nodes'), keptNodes)

  backend = open(dir)
  t.after(() => backend.close())
  const store = createContentStore(backend, { key: KEY })
  assert.deepEqual((await store.verify()).corrupt, [])
  assert.deepEqual(backend.unreferencedChunks().sort(), [a.id, b.id].sort())
  const report = await store.gc()
  assert.equal(report.deletedChunks, 2)
  assert.deepEqual(backend.listChunks().sort(), keptChunks)
  assert.equal(backend.chunkStats().chunks, keptChunks.length)
  assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
})

test('blob deletes wait for the metadata commit and roll back with it', (t) => {
  const dir = tmpDir(t, 'bt-split-')
  const backend = open(dir)
  t.after(() => backend.close())
  const [a, b] = [blob(4), blob(5)]
  backend.putMany([a, b])
  assert.throws(() =>
    backend.transaction(() => {
      backend.deleteMany([a.id])
      assert.equal(backend.has(a.id), false, 'deleted as seen inside the transaction')
      throw new Error('rollback')
    }),
  )
  assert.equal(backend.has(a.id), true, 'a rolled-back delete leaves the blob')
  const c = blob(6)
  assert.throws(() =>
    backend.transaction(() => {
      backend.putMany([c, b])
      throw new Error('rollback')
    }),
  )
  assert.equal(backend.has(c.id), false, 'a rolled-back put removes the blob it added')
  assert.equal(backend.has(b.id), true, 'but not one that was there before')
  backend.transaction(() => {
    backend.deleteMany([a.id])
    assert.equal(backend.sizeOf(a.id), undefined)
    assert.equal(countRows(join(dir, 'chunks.db'), 'store_chunks'), 2, 'not deleted before the commit')
  })
  assert.deepEqual(backend.listChunks(), [b.id])
  assert.equal(countRows(join(dir, 'chunks.db'), 'store_chunks'), 1)
  assert.deepEqual(backend.chunkStats(), { chunks: 1, storedBytes: b.data.length })
})

test('blob deletes inside a transaction the backend did not open are refused', (t) => {
  const dir = tmpDir(t, 'bt-split-')
  const db = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
  const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
  const backend = new SqliteChunkBackend(db, { ownsDatabase: true, chunkDb })
  t.after(() => backend.close())
  const a = blob(7)
  backend.putMany([a])
  // The backend would not know when (or whether) that transaction commits.
  assert.throws(() => db.transaction(() => backend.deleteMany([a.id]))(), /backend transaction/)
  assert.equal(backend.has(a.id), true)
})

test('a store kept in one database moves its blobs to the chunk database on open', async (t) => {
  const dir = tmpDir(t, 'bt-split-')
  const legacy = new SqliteChunkBackend(openStoreDatabase(join(dir, 'tree.db')), { ownsDatabase: true })
  const old = createContentStore(legacy, { key: KEY })
  const data = seededBytes(700_000, 11)
  const ref = await old.write(data)
  old.retain(ref)
  old.close()

  const backend = open(dir)
  t.after(() => backend.close())
  const store = createContentStore(backend, { key: KEY })
  assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
  assert.equal(countRows(join(dir, 'tree.db'), 'store_chunks'), 0)
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
  assert.equal((await store.gc()).deletedChunks, 0)
  assert.equal(store.stats().chunks, backend.listChunks().length)
})
