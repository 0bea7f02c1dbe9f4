/** The cache of on-demand trees: least recently used, unpinned chunks go first; other trees are never touched. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ChunkCache } from '../../node/chunk-cache.js'
import { openMemoryVolume } from '../../node/open-tree.js'
import { MemoryChunkBackend } from '../../store/index.js'
import { StoreError } from '../../store/types.js'
import { ManualRuntime } from '../../sync/runtime.js'
import { collect, put } from './helpers.js'

const KEY = new Uint8Array(32).fill(3)

/** `n` bytes no other call repeats (so no chunk is shared between files). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function volume(cache: ChunkCache, tree: string) {
  return openMemoryVolume({
    nodeId: 'n'.repeat(64),
    key: KEY,
    runtime: new ManualRuntime(1),
    backend: new MemoryChunkBackend(),
    wrapBackend: (b) => cache.track(tree, b),
  })
}

describe('chunk cache', () => {
  test('evicts the least recently used unpinned chunks of on-demand trees down to 90% of the limit', async (t) => {
    const cache = new ChunkCache()
    const v = await volume(cache, 'r')
    const w = await volume(cache, 'w')
    t.after(async () => {
      await v.close()
      await w.close()
    })
    for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) await put(v, `/${name}`, noise(200_000, i + 1))
    await put(w, '/big', noise(400_000, 9))
    const ref = (name: string) => v.tree.resolve(`/${name}`)!.content!.ref
    // Touch a and b after the writes: c and d are now the least recently used; b is pinned.
    await collect(v.store.stream(ref('a')))
    await collect(v.store.stream(ref('b')))
    const trees = [
      { id: 'r', demand: true, store: v.store, pinned: () => [ref('b')] },
      { id: 'w', demand: false, store: w.store, pinned: () => [] },
    ]
    const total = cache.size(trees)
    assert.equal(total, v.store.stats().storedBytes, 'only the on-demand tree counts')
    cache.limit = total * 10
    assert.equal((await cache.enforce(trees)).evicted, 0, 'under the limit nothing goes')

    cache.limit = Math.floor(total * 0.6)
    const r = await cache.enforce(trees)
    assert.ok(r.evicted > 0)
    assert.ok(r.after <= cache.limit * 0.9, `${r.after} <= 90% of ${cache.limit}`)
    assert.equal((await v.store.missing(ref('b'))).length, 0, 'pinned content stays')
    assert.ok((await v.store.missing(ref('c'))).length > 0, 'the least recently used goes first')
    assert.equal(
      (await v.store.missing(ref('a'))).length,
      0,
      'recently read content stays while the rest suffices',
    )
    assert.equal(
      (await w.store.missing(w.tree.resolve('/big')!.content!.ref)).length,
      0,
      "an 'all' tree is never evicted",
    )
    // An evicted chunk is "not local": a read without peers fails with EIO, nothing else breaks.
    await assert.rejects(
      collect(v.store.stream(ref('c'))),
      (e: unknown) => e instanceof StoreError && e.code === 'EIO',
    )
    assert.deepEqual(await collect(v.store.stream(ref('a'))), noise(200_000, 1))
    const report = await v.store.verify()
    assert.equal(report.corrupt.length, 0)
    assert.ok(report.missing.length > 0, 'verify sees them as absent (LocalNode reports them as notLocal)')
  })
})
