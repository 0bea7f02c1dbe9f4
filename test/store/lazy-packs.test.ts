/**
 * Received chunks (`putVerifiedMany`: a lazy batch) with pack files: their
 * bytes go to a pack, not into chunks.db as blobs (a blob insert and its WAL
 * checkpoint were ~30% of a replicating receiver's CPU), they are served and
 * counted at once, survive a reopen, and a bad one is refused.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { chunkIdOf, createContentStore, openStoreDatabase, SqliteChunkBackend } from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { seededBytes } from './util.js'

const KEY = new Uint8Array(32).fill(7)

/** A volume's layout (node/open-tree.ts): metadata at NORMAL, small batches inline, packs. */
function open(dir: string): SqliteChunkBackend {
  const db = openStoreDatabase(join(dir, 'tree.db'), { pageSize: 4096 })
  db.pragma('synchronous = NORMAL')
  const chunkDb = openStoreDatabase(join(dir, 'chunks.db'), { chunksOnly: true })
  return new SqliteChunkBackend(db, {
    ownsDatabase: true,
    chunkDb,
    inlineMax: 256 * 1024,
    packDir: join(dir, 'packs'),
  })
}

function count(dir: string, file: string, table: string): number {
  const db = new Database(join(dir, file), { readonly: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n
  } finally {
    db.close()
  }
}

test('received chunks go to a pack, are served at once and after a reopen; a bad one is refused', (t) => {
  const dir = tmpDir(t, 'bt-lazy-packs-')
  const chunks = Array.from({ length: 12 }, (_, i) => {
    const data = seededBytes(40_000 + i * 1000, 100 + i)
    return { id: chunkIdOf(data), data }
  })
  const bad = { id: chunkIdOf(seededBytes(5000, 1)), data: seededBytes(5000, 2) }
  let backend = open(dir)
  let store = createContentStore(backend, { key: KEY })
  const ok = store.putVerifiedMany([...chunks.slice(0, 6), bad, ...chunks.slice(6)])
  assert.deepEqual(ok, [...Array(6).fill(true), false, ...Array(6).fill(true)])
  for (const c of chunks) assert.deepEqual(Buffer.from(store.getStored(c.id)!), Buffer.from(c.data))
  assert.equal(store.getStored(bad.id), undefined)
  assert.equal(store.stats().chunks, chunks.length)
  // Again (a second copy that crossed a timeout): nothing added twice.
  store.putVerifiedMany(chunks.slice(0, 3))
  assert.equal(store.stats().chunks, chunks.length)
  store.close()
  backend.close()
  assert.equal(count(dir, 'tree.db', 'store_packed'), chunks.length, 'each chunk indexed in a pack once')
  assert.equal(count(dir, 'chunks.db', 'store_chunks'), 0, 'no blob in chunks.db')

  backend = open(dir)
  t.after(() => backend.close())
  store = createContentStore(backend, { key: KEY })
  for (const c of chunks) assert.deepEqual(Buffer.from(store.getStored(c.id)!), Buffer.from(c.data))
  assert.equal(store.stats().chunks, chunks.length)
})
