/**
 * Chunk bytes in pack files (`packDir`): the store contract holds, garbage a
 * crash leaves (a pack's unindexed tail, packs no row names) goes on open,
 * gc deletes packs that lost every chunk, damaged pack bytes show as corrupt
 * and can be repaired.
 */
import assert from 'node:assert/strict'
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import {
  chunkIdOf,
  createContentStore,
  MemoryChunkBackend,
  openStoreDatabase,
  SqliteChunkBackend,
} from '../../store/index.js'
import { tmpDir } from '../helpers/tmp.js'
import { runContentStoreAcceptance } from './acceptance.js'
import { piecesOf, seededBytes } from './util.js'

const KEY = new Uint8Array(32).fill(13)

/** A volume's layout: metadata at NORMAL, small batches inline, large ones in packs. */
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

function packs(dir: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const name of readdirSync(join(dir, 'packs'))) out.set(name, statSync(join(dir, 'packs', name)).size)
  return out
}

function packedRows(dir: string): { id: string; pack: number; off: number; len: number }[] {
  const db = new Database(join(dir, 'tree.db'), { readonly: true })
  try {
    return db.prepare('SELECT id, pack, off, len FROM store_packed').all() as {
      id: string
      pack: number
      off: number
      len: number
    }[]
  } finally {
    db.close()
  }
}

runContentStoreAcceptance('sqlite, pack files (volume layout)', (t) => {
  const backend = open(tmpDir(t, 'bt-packs-'))
  t.after(() => backend.close())
  return { backend, open: (options) => createContentStore(backend, options) }
})

runContentStoreAcceptance('sqlite, pack files in one database', (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  const backend = new SqliteChunkBackend(openStoreDatabase(join(dir, 'tree.db')), {
    ownsDatabase: true,
    packDir: join(dir, 'packs'),
  })
  t.after(() => backend.close())
  return { backend, open: (options) => createContentStore(backend, options) }
})

test('a streamed write into packs gives the same ref and bytes as the in-memory store', async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  const backend = open(dir)
  t.after(() => backend.close())
  const store = createContentStore(backend, { key: KEY, batchBytes: 512 * 1024 })
  const data = seededBytes(5 * 1024 * 1024 + 12345, 21)
  const ref = await store.write(piecesOf(data, [100_000, 7, 1 << 20, 65_536]))
  store.retain(ref)
  const mem = createContentStore(new MemoryChunkBackend(), { key: KEY })
  assert.deepEqual(await mem.write(data), ref)
  assert.ok(packedRows(dir).length > 50, 'the data chunks live in packs')
  assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
  assert.equal(store.stats().chunks, backend.listChunks().length)
})

test('open cuts a pack tail no row names and deletes packs no row names', async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  let backend = open(dir)
  let store = createContentStore(backend, { key: KEY })
  const data = seededBytes(2_000_000, 22)
  const ref = await store.write(piecesOf(data, [300_000]))
  store.retain(ref)
  store.close()
  const before = packs(dir)
  assert.equal(before.size, 1)
  const [name, size] = [...before][0]!
  // What a kill between a pack append and its index commit leaves.
  appendFileSync(join(dir, 'packs', name), seededBytes(70_000, 1))
  writeFileSync(join(dir, 'packs', '999.pack'), seededBytes(10_000, 2))

  backend = open(dir)
  t.after(() => backend.close())
  store = createContentStore(backend, { key: KEY })
  assert.deepEqual(packs(dir), new Map([[name, size]]))
  assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
  // New writes go to a new pack, numbered past every pack seen.
  const ref2 = await store.write(piecesOf(seededBytes(1_000_000, 23), [200_000]))
  store.retain(ref2)
  assert.ok(packs(dir).has('1000.pack'))
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
})

test('gc deletes a pack once none of its chunks is left', async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  let backend = open(dir)
  let store = createContentStore(backend, { key: KEY })
  const ref = await store.write(piecesOf(seededBytes(1_500_000, 24), [250_000]))
  store.retain(ref)
  store.close()
  const old = [...packs(dir).keys()]
  assert.equal(old.length, 1)

  backend = open(dir)
  t.after(() => backend.close())
  store = createContentStore(backend, { key: KEY })
  const keep = await store.write(piecesOf(seededBytes(1_200_000, 25), [250_000]))
  store.retain(keep)
  store.release(ref)
  const report = await store.gc()
  assert.ok(report.deletedChunks > 10)
  assert.equal(packs(dir).has(old[0]!), false, 'the old pack is gone')
  assert.equal(packedRows(dir).filter((r) => `${r.pack}.pack` === old[0]).length, 0)
  assert.equal(store.stats().chunks, backend.listChunks().length)
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
})

test('damaged pack bytes verify as corrupt; a verified copy repairs them', async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  let backend = open(dir)
  let store = createContentStore(backend, { key: KEY })
  const data = seededBytes(1_000_000, 26)
  const ref = await store.write(piecesOf(data, [250_000]))
  store.retain(ref)
  const row = packedRows(dir)[3]!
  const good = Buffer.from(backend.get(row.id)!)
  store.close()
  const path = join(dir, 'packs', `${row.pack}.pack`)
  const bytes = readFileSync(path)
  bytes[row.off + 100]! ^= 1
  writeFileSync(path, bytes)

  backend = open(dir)
  t.after(() => backend.close())
  store = createContentStore(backend, { key: KEY })
  assert.deepEqual((await store.verify()).corrupt, [row.id])
  await assert.rejects(store.read(ref, 0, ref.size), /EIO/)
  assert.equal(chunkIdOf(good), row.id)
  assert.equal(store.putVerified(row.id, good), true)
  assert.deepEqual((await store.verify()).corrupt, [])
  assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
  assert.equal(store.stats().chunks, backend.listChunks().length)
})
