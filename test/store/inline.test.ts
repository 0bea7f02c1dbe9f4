/**
 * Split layout with small blob batches inline in the metadata database
 * (`inlineMax`, what a disk volume uses): small writes keep their blobs in
 * the same WAL as the records referencing them, larger ones go to the chunk
 * database; reads, stats, verify and gc see both as one store.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { runContentStoreAcceptance } from './acceptance.js'
import { seededBytes } from './util.js'

const KEY = new Uint8Array(32).fill(3)
const INLINE = 256 * 1024

function open(dir: string): SqliteChunkBackend {
  const db = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
  db.pragma('synchronous = NORMAL')
  const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
  return new SqliteChunkBackend(db, { ownsDatabase: true, chunkDb, inlineMax: INLINE })
}

function countRows(path: string): number {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT count(*) FROM store_chunks').pluck().get() as number
  } finally {
    db.close()
  }
}

runContentStoreAcceptance('sqlite, small blobs inline in the metadata database', (t) => {
  const backend = open(tmpDir(t, 'bt-inline-'))
  t.after(() => backend.close())
  return { backend, open: (options) => createContentStore(backend, options) }
})

test('small writes keep their blobs in the metadata database, large ones in the chunk database', async (t) => {
  const dir = tmpDir(t, 'bt-inline-')
  let backend = open(dir)
  let store = createContentStore(backend, { key: KEY })
  const small = seededBytes(5000, 1)
  const big = seededBytes(3 * INLINE, 2)
  const a = await store.write(small)
  store.retain(a)
  const smallChunks = (await store.chunkIds(a)).length // the data chunk and the manifest
  assert.equal(countRows(join(dir, 'tree.db')), smallChunks, 'inline')
  assert.equal(countRows(join(dir, 'chunks.db')), 0)
  const b = await store.write(big)
  store.retain(b)
  const bigChunks = countRows(join(dir, 'chunks.db'))
  assert.ok(bigChunks > 1, 'a batch over the limit goes to the chunk database')
  assert.equal(countRows(join(dir, 'tree.db')), smallChunks)
  // Content equal to an inline chunk is not stored twice (and vice versa).
  const again = await store.write(small)
  store.drop(again)
  assert.equal(countRows(join(dir, 'tree.db')) + countRows(join(dir, 'chunks.db')), smallChunks + bigChunks)
  const stats = store.stats()
  assert.equal(stats.chunks, smallChunks + bigChunks)
  assert.equal(backend.listChunks().length, stats.chunks)
  backend.sync()
  store.close()
  backend.close()

  // Reopening leaves inline blobs where they are (no migration) and reads both.
  backend = open(dir)
  store = createContentStore(backend, { key: KEY })
  t.after(() => backend.close())
  assert.equal(countRows(join(dir, 'tree.db')), smallChunks)
  assert.deepEqual(Buffer.from(await store.read(a, 0, a.size)), Buffer.from(small))
  assert.deepEqual(Buffer.from(await store.read(b, 0, b.size)), Buffer.from(big))
  assert.equal(backend.sizeOf(a.id) !== undefined, true)
  let v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing, v.checked], [[], [], smallChunks + bigChunks])

  // gc collects from both databases once the references are gone.
  store.release(a)
  store.release(b)
  const report = await store.gc()
  assert.equal(report.deletedChunks, smallChunks + bigChunks)
  assert.equal(countRows(join(dir, 'tree.db')), 0)
  assert.equal(countRows(join(dir, 'chunks.db')), 0)
  assert.deepEqual(backend.chunkStats(), { chunks: 0, storedBytes: 0 })
  v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing, v.checked], [[], [], 0])
})

test('an inline put rolls back with the transaction around it', (t) => {
  const dir = tmpDir(t, 'bt-inline-')
  const backend = open(dir)
  t.after(() => backend.close())
  const data = seededBytes(1000, 9)
  const id = 'ab'.repeat(32)
  assert.throws(() =>
    backend.transaction(() => {
      backend.putMany([{ id, data }])
      assert.equal(backend.has(id), true)
      throw new Error('rollback')
    }),
  )
  assert.equal(backend.has(id), false)
  assert.deepEqual(backend.chunkStats(), { chunks: 0, storedBytes: 0 })
  backend.putMany([{ id, data }])
  assert.equal(countRows(join(dir, 'tree.db')), 1)
  // A corrupt inline copy is repaired where it lives.
  const fixed = seededBytes(1000, 10)
  backend.replace(id, fixed)
  assert.deepEqual(Buffer.from(backend.get(id)!), Buffer.from(fixed))
  assert.equal(countRows(join(dir, 'chunks.db')), 0)
  assert.deepEqual(backend.chunkStats(), { chunks: 1, storedBytes: 1000 })
  backend.sync()
})

test('received copies (putVerifiedMany) go to the chunk database even when small, without a WAL sync', async (t) => {
  const dir = tmpDir(t, 'bt-inline-')
  const origin = createContentStore(open(tmpDir(t, 'bt-inline-')), { key: KEY })
  t.after(() => origin.close())
  const ref = await origin.write(seededBytes(5000, 7))
  const ids = await origin.chunkIds(ref)
  const db = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
  db.pragma('synchronous = NORMAL')
  const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
  const backend = new SqliteChunkBackend(db, { ownsDatabase: true, chunkDb, inlineMax: INLINE })
  const store = createContentStore(backend, { key: KEY })
  t.after(() => backend.close())
  assert.deepEqual(
    store.putVerifiedMany(ids.map((id) => ({ id, data: origin.getStored(id)! }))),
    ids.map(() => true),
  )
  // Not inline: a replica's metadata database keeps its small pages for metadata.
  assert.equal(countRows(join(dir, 'tree.db')), 0)
  assert.equal(countRows(join(dir, 'chunks.db')), ids.length)
  assert.equal(chunkDb.pragma('synchronous', { simple: true }), 2, 'the chunk database is back at FULL')
  assert.equal((await store.read(ref, 0, ref.size)).length, 5000)
})
