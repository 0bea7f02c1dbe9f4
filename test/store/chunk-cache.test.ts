/** The decrypted-chunk cache a mounted tree turns on (`ContentStore.cacheChunks`). */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { createContentStore, MemoryChunkBackend } from '../../store/index.js'
import { StoreError } from '../../store/types.js'
import { collect, equalBytes, seededBytes } from './util.js'

const MiB = 1 << 20

async function setup() {
  const backend = new MemoryChunkBackend()
  const store = createContentStore(backend, { key: randomBytes(32) })
  const data = seededBytes(MiB, 7)
  const ref = await store.write(data)
  // Everything under the root: the data chunks, and any leaf manifest nodes (how many there are
  // depends on the key). Deleting only one of them could hit a manifest node, which the store's
  // node cache serves whatever the chunk cache does.
  const ids = (await store.chunkIds(ref)).filter((id) => id !== ref.id)
  return { backend, store, data, ref, ids }
}

test('off by default: every read decrypts from the backend (a deleted chunk is EIO)', async () => {
  const { backend, store, ref, ids } = await setup()
  await store.read(ref, 0, ref.size)
  backend.deleteMany(ids)
  await assert.rejects(
    store.read(ref, 0, ref.size),
    (e: unknown) => e instanceof StoreError && e.code === 'EIO',
  )
})

test('on: hot chunks are served from memory, as copies, within the byte budget', async () => {
  const { backend, store, data, ref, ids } = await setup()
  store.cacheChunks(4 * MiB)
  const first = await store.read(ref, 0, ref.size)
  assert.ok(equalBytes(first, data))
  // Served from the cache: the backend is not asked again.
  backend.deleteMany(ids)
  assert.ok(equalBytes(await store.read(ref, 0, ref.size), data))
  // What a reader gets is its own copy.
  const streamed = await collect(store.stream(ref, 0, 1000))
  streamed.fill(0)
  assert.ok(equalBytes(await store.read(ref, 0, 1000), data.subarray(0, 1000)))
  // A budget too small for any chunk caches nothing.
  store.cacheChunks(1024)
  await assert.rejects(
    store.read(ref, 0, ref.size),
    (e: unknown) => e instanceof StoreError && e.code === 'EIO',
  )
})

test('readShared: the bytes of read, in pieces, without copying cached chunks out', async () => {
  const { store, data, ref } = await setup()
  const whole = (pieces: Uint8Array[]) => new Uint8Array(Buffer.concat(pieces))
  for (const [off, len] of [
    [0, ref.size],
    [1000, 200_000],
    [ref.size - 10, 100],
    [ref.size + 5, 10],
  ] as const) {
    const pieces = await store.readShared(ref, off, len)
    assert.ok(equalBytes(whole(pieces), await store.read(ref, off, len)), `range ${off}+${len}`)
  }
  store.cacheChunks(4 * MiB)
  const first = await store.readShared(ref, 0, ref.size)
  const again = await store.readShared(ref, 0, ref.size)
  assert.ok(equalBytes(whole(again), data))
  // Served from the cache: the same memory both times (views, not copies).
  assert.equal(again[0]!.buffer, first[0]!.buffer)
  await assert.rejects(
    store.readShared(ref, -1, 10),
    (e: unknown) => e instanceof StoreError && e.code === 'EINVAL',
  )
})
