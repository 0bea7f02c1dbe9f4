/**
 * Chunk bytes in pack files (`packDir`): the store contract holds, garbage a
 * crash leaves (a pack's unindexed tail, packs no row names) goes on open,
 * gc deletes packs that lost every chunk, damaged pack bytes show as corrupt
 * and can be repaired.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
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

runContentStoreAcceptance('sqlite, pack files, chunking and sealing on a worker', (t) => {
  const backend = open(tmpDir(t, 'bt-packs-'))
  let store: ReturnType<typeof createContentStore> | undefined
  t.after(() => (store ? store.close() : backend.close()))
  return {
    backend,
    open: (options) => {
      store = createContentStore(backend, { ...options, offload: true })
      return store
    },
  }
})

for (const offload of [false, true])
  test(`a streamed write into packs gives the same ref and bytes as the in-memory store${offload ? ' (sealed on a worker)' : ''}`, async (t) => {
    const dir = tmpDir(t, 'bt-packs-')
    const backend = open(dir)
    const store = createContentStore(backend, { key: KEY, batchBytes: 512 * 1024, offload })
    t.after(() => store.close())
    const data = seededBytes(5 * 1024 * 1024 + 12345, 21)
    const ref = await store.write(piecesOf(data, [100_000, 7, 1 << 20, 65_536]), { owned: true })
    store.retain(ref)
    const mem = createContentStore(new MemoryChunkBackend(), { key: KEY })
    assert.deepEqual(await mem.write(data), ref)
    assert.ok(packedRows(dir).length > 50, 'the data chunks live in packs')
    assert.deepEqual(Buffer.from(await store.read(ref, 0, ref.size)), Buffer.from(data))
    const v = await store.verify()
    assert.deepEqual([v.corrupt, v.missing], [[], []])
    assert.equal(store.stats().chunks, backend.listChunks().length)
    // Pieces not given away are copied, never detached.
    const mine = seededBytes(300_000, 5)
    const copy = Buffer.from(mine)
    const again = await store.write(
      (async function* () {
        yield mine
      })(),
    )
    assert.equal(mine.byteLength, 300_000)
    assert.deepEqual(Buffer.from(mine), copy)
    assert.deepEqual(again, await mem.write(mine))
    store.drop(again)
  })

test('a worker-sealed write whose source fails leaves only gc-able orphans', async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  const backend = open(dir)
  const store = createContentStore(backend, { key: KEY, batchBytes: 256 * 1024, offload: true })
  t.after(() => store.close())
  const data = seededBytes(3 * 1024 * 1024, 31)
  async function* failing() {
    yield data.slice(0, 2 * 1024 * 1024)
    throw new Error('source broke')
  }
  await assert.rejects(store.write(failing()), /source broke/)
  const ref = await store.write(piecesOf(data, [1 << 20]))
  store.retain(ref)
  await store.gc()
  const v = await store.verify()
  assert.deepEqual([v.corrupt, v.missing], [[], []])
  const reachable = new Set(await store.chunkIds(ref))
  assert.deepEqual(new Set(backend.listChunks()), reachable, 'the failed write left nothing after gc')
})

test('an idle seal worker does not keep the process alive', { timeout: 60_000 }, async (t) => {
  const dir = tmpDir(t, 'bt-packs-')
  const store = new URL('../../store/index.js', import.meta.url).href
  // Writes through the worker, never closes the store: the process must still exit by itself.
  const script = `
    import { createContentStore, MemoryChunkBackend } from ${JSON.stringify(store)}
    const s = createContentStore(new MemoryChunkBackend(), { key: new Uint8Array(32), offload: true })
    const ref = await s.write((async function* () { yield new Uint8Array(3_000_000).fill(7) })())
    console.log(ref.size)
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 50_000,
  })
  assert.equal(r.signal, null, 'exited by itself')
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), '3000000')
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
