/** Acceptance tests of a ContentStore's references: retain/release, gc, verify, EIO, fetchMissing, replication, stats. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ChunkCipher, chunkIdOf, encodeNode, type FileRef, StoreError } from '../../store/index.js'
import {
  DEEP,
  flipByte,
  KEY,
  KiB,
  type MakeHarness,
  MiB,
  rejectsWith,
  someDataChunk,
} from './acceptance-helpers.js'
import { collect, equalBytes, seededBytes } from './util.js'

export function referenceTests(make: MakeHarness): void {
  test('refcounts and gc: retained survive, dropped and released go, shared chunks stay', async (t) => {
    const store = make(t).open({ key: KEY, ...DEEP })
    const common = seededBytes(2 * MiB, 51)
    const a = await store.write(Buffer.concat([common, seededBytes(MiB, 52)]))
    const b = await store.write(Buffer.concat([common, seededBytes(MiB, 53)]))
    const leased = await store.write(seededBytes(600 * KiB, 54))
    const dropped = await store.write(seededBytes(700 * KiB, 55))
    store.retain(a)
    store.retain(b)
    store.retain(b)
    store.drop(dropped)
    const bIds = await store.chunkIds(b)
    let report = await store.gc()
    assert.ok(report.deletedChunks > 0 && report.freedBytes > 0, 'dropped write collected')
    await rejectsWith(store.read(dropped, 0, 10), 'EIO')
    assert.equal((await store.read(leased, 0, leased.size)).length, leased.size, 'leased write survives gc')
    store.release(a)
    report = await store.gc()
    assert.ok(report.deletedChunks > 0)
    await rejectsWith(store.read(a, 0, a.size), 'EIO')
    assert.deepEqual(await store.missing(b), [], 'chunks shared with a are kept for b')
    store.release(b)
    await store.gc()
    assert.deepEqual(await store.missing(b), [], 'b still retained once')
    assert.equal(store.stats().manifests, 1)
    store.release(b)
    store.drop(leased)
    await store.gc()
    for (const id of bIds) assert.equal(store.getStored(id), undefined)
    assert.deepEqual(store.stats(), { chunks: 0, storedBytes: 0, logicalBytes: 0, manifests: 0 })
    assert.throws(
      () => store.release(b),
      (e: unknown) => e instanceof StoreError && e.code === 'EINVAL',
    )
  })

  test('gc running during a write or a rewrite takes nothing they use', async (t) => {
    const store = make(t).open({ key: KEY, batchBytes: 256 * KiB, ...DEEP })
    const base = seededBytes(3 * MiB, 161)
    const other = await store.write(base)
    store.drop(other) // its chunks are now unreferenced: only the new write's leases protect them
    async function* gcBetweenPieces(): AsyncIterable<Uint8Array> {
      for (let o = 0; o < base.length; o += 300 * KiB) {
        await store.gc()
        yield base.slice(o, o + 300 * KiB)
      }
    }
    const ref = await store.write(gcBetweenPieces())
    await store.gc()
    assert.ok(equalBytes(await store.read(ref, 0, ref.size), base), 'write survived interleaved gcs')
    store.retain(ref)
    const edited = Buffer.from(base)
    edited.fill(1, MiB, MiB + 1000)
    let reads = 0
    const src = {
      size: edited.length,
      read: async (o: number, l: number) => {
        if (reads++ === 0) {
          store.release(ref)
          await store.gc()
        }
        return edited.subarray(o, o + l)
      },
    }
    const r = await store.rewrite(ref, src, [{ start: MiB, end: MiB + 1000 }])
    await store.gc()
    assert.ok(
      equalBytes(await store.read(r, 0, r.size), edited),
      'rewrite reused base chunks after base was collected',
    )
    store.retain(r)
    assert.deepEqual(await store.missing(r), [])
  })

  test('property: random retain/release/drop/gc sequences never lose retained content and leave nothing behind', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY, batchBytes: 64 * KiB, ...DEEP })
    // Contents share pieces so chunks and manifest nodes are shared between files.
    const parts = [0, 1, 2, 3].map((i) => seededBytes(150 * KiB + i * 7777, 170 + i))
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        parts: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
      }),
      fc.record({ kind: fc.constant('retain' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('release' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('drop' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('gc' as const) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const refs: { ref: FileRef; data: Uint8Array; leased: boolean; retained: number }[] = []
        for (const o of ops) {
          const f = refs.length > 0 && 'i' in o ? refs[o.i % refs.length]! : undefined
          if (o.kind === 'write') {
            const data = Buffer.concat(o.parts.map((p) => parts[p]!))
            refs.push({ ref: await store.write(data), data, leased: true, retained: 0 })
          } else if (o.kind === 'retain' && f) {
            store.retain(f.ref)
            f.retained++
            // retain consumes one outstanding lease of this root (shared by equal refs)
            const holder = refs.find((r) => r.ref.id === f.ref.id && r.leased)
            if (holder) holder.leased = false
          } else if (o.kind === 'release' && f && f.retained > 0) {
            store.release(f.ref)
            f.retained--
          } else if (o.kind === 'drop' && f?.leased) {
            store.drop(f.ref)
            f.leased = false
          } else if (o.kind === 'gc') {
            await store.gc()
          }
        }
        await store.gc()
        const live = new Set(refs.filter((r) => r.leased).map((r) => r.ref.id))
        const retainedIds = new Map<string, number>()
        for (const r of refs) retainedIds.set(r.ref.id, (retainedIds.get(r.ref.id) ?? 0) + r.retained)
        for (const r of refs) {
          if (live.has(r.ref.id) || (retainedIds.get(r.ref.id) ?? 0) > 0) {
            assert.ok(equalBytes(await store.read(r.ref, 0, r.ref.size), r.data), 'live content reads back')
          }
        }
        const v = await store.verify()
        assert.deepEqual([v.corrupt, v.missing], [[], []])
        // Clean up: release every retain, drop every lease; then the store must be empty.
        for (const r of refs) {
          for (; r.retained > 0; r.retained--) store.release(r.ref)
          if (r.leased) store.drop(r.ref)
        }
        await store.gc()
        assert.deepEqual(store.stats(), { chunks: 0, storedBytes: 0, logicalBytes: 0, manifests: 0 })
      }),
      { numRuns: 25, seed: 424242 },
    )
  })

  test('backend transactions nest: an inner failure rolls back only the inner part', (t) => {
    const { backend } = make(t)
    const a = { id: 'a'.repeat(64), data: new Uint8Array([1, 2, 3]) }
    const b = { id: 'b'.repeat(64), data: new Uint8Array([4, 5]) }
    backend.transaction(() => {
      backend.putMany([a])
      backend.addNode('c'.repeat(64), [a.id, a.id])
      assert.throws(() =>
        backend.transaction(() => {
          backend.putMany([b])
          backend.removeNode('c'.repeat(64))
          backend.setRoot({ id: b.id, size: 2, refs: 1, complete: false })
          throw new Error('inner')
        }),
      )
    })
    assert.ok(backend.has(a.id))
    assert.ok(!backend.has(b.id))
    assert.equal(backend.refCount(a.id), 2)
    assert.equal(backend.getRoot(b.id), undefined)
    assert.deepEqual(backend.chunkStats(), { chunks: 1, storedBytes: 3 })
    assert.deepEqual(backend.removeNode('c'.repeat(64)), [a.id, a.id])
    assert.equal(backend.refCount(a.id), 0)
    assert.equal(backend.addNode('c'.repeat(64), [a.id]), true)
    assert.equal(backend.addNode('c'.repeat(64), [a.id]), false, 'recording twice counts once')
    assert.equal(backend.refCount(a.id), 1)
  })

  test('gc collects orphans of a crashed write (chunks and nodes without a root)', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY })
    const keep = await store.write(seededBytes(MiB, 61))
    store.retain(keep)
    const cipher = new ChunkCipher(KEY)
    const orphan = cipher.seal(seededBytes(50 * KiB, 62))
    const orphanNodeChild = cipher.seal(seededBytes(40 * KiB, 63))
    const node = cipher.seal(encodeNode(0, [chunkIdOf(orphanNodeChild)], [40 * KiB]))
    h.backend.putMany([
      { id: chunkIdOf(orphan), data: orphan },
      { id: chunkIdOf(orphanNodeChild), data: orphanNodeChild },
      { id: chunkIdOf(node), data: node },
    ])
    h.backend.addNode(chunkIdOf(node), [chunkIdOf(orphanNodeChild)])
    const before = store.stats()
    const report = await store.gc()
    assert.equal(report.deletedChunks, 3)
    assert.equal(report.freedBytes, orphan.length + orphanNodeChild.length + node.length)
    assert.equal(store.stats().chunks, before.chunks - 3)
    assert.deepEqual(await store.missing(keep), [])
  })

  test('retain joins an outer transaction and rolls back with it', async (t) => {
    const store = make(t).open({ key: KEY })
    const ref = await store.write(seededBytes(100 * KiB, 71))
    assert.throws(() =>
      store.transaction(() => {
        store.retain(ref)
        throw new Error('caller aborts')
      }),
    )
    assert.equal(store.stats().manifests, 0)
    store.transaction(() => {
      store.retain(ref)
      store.retain(ref)
    })
    assert.equal(store.stats().manifests, 1)
    assert.equal(store.stats().logicalBytes, 2 * ref.size)
    assert.throws(() => store.retain({ id: ref.id, size: ref.size + 1 }), StoreError)
    assert.throws(() => store.retain({ id: 'nope', size: 1 }), StoreError)
  })

  test('verify finds a corrupted chunk and a deleted chunk by id', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY })
    const ref = await store.write(seededBytes(MiB, 81))
    store.retain(ref)
    let v = await store.verify()
    assert.deepEqual(v.corrupt, [])
    assert.deepEqual(v.missing, [])
    assert.equal(v.checked, store.stats().chunks)
    const bad = await someDataChunk(store, ref, 0)
    const gone = await someDataChunk(store, ref, 1)
    h.backend.replace(bad, flipByte(h.backend.get(bad)!, 100))
    h.backend.deleteMany([gone])
    v = await store.verify()
    assert.deepEqual(v.corrupt, [bad])
    assert.deepEqual(v.missing, [gone])
  })

  test('verify sees past a corrupt or missing manifest: its recorded children are still checked', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY })
    const ref = await store.write(seededBytes(MiB, 83))
    store.retain(ref)
    const gone = await someDataChunk(store, ref, 1)
    h.backend.replace(ref.id, flipByte(h.backend.get(ref.id)!, 10))
    h.backend.deleteMany([gone])
    let v = await store.verify()
    assert.deepEqual(v.corrupt, [ref.id])
    assert.deepEqual(v.missing, [gone])
    h.backend.deleteMany([ref.id])
    v = await store.verify()
    assert.deepEqual(v.missing, [ref.id, gone].sort())
  })

  test('reading a corrupt or missing chunk is EIO naming the chunk, never wrong bytes', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY })
    const data = seededBytes(MiB, 91)
    const ref = await store.write(data)
    const bad = await someDataChunk(store, ref, 2)
    const original = h.backend.get(bad)!
    h.backend.replace(bad, flipByte(original, 7))
    await rejectsWith(store.read(ref, 0, ref.size), 'EIO', bad)
    assert.equal(store.getStored(bad), undefined, 'corrupt chunks are not served to peers')
    assert.deepEqual(await store.missing(ref), [], 'missing() checks presence only')
    assert.ok(store.putVerified(bad, original), 'a good copy replaces a corrupt one')
    assert.ok(equalBytes(store.getStored(bad)!, original))
    assert.ok(equalBytes(await store.read(ref, 0, ref.size), data))
    h.backend.deleteMany([bad])
    await rejectsWith(collect(store.stream(ref)), 'EIO', bad)
    assert.ok(store.putVerified(bad, original))
    assert.ok(equalBytes(await store.read(ref, 0, ref.size), data), 'repaired by putVerified')
    // Corrupt root manifest chunk (a fresh store: this one holds the verified node in its cache).
    h.backend.replace(ref.id, flipByte(h.backend.get(ref.id)!, 30))
    await rejectsWith(h.open({ key: KEY }).read(ref, 0, 1), 'EIO', ref.id)
  })

  test('fetchMissing supplies missing and corrupt chunks, verified against their id', async (t) => {
    const source = make(t)
    const origin = source.open({ key: KEY, ...DEEP })
    const data = seededBytes(2 * MiB, 101)
    const ref = await origin.write(data)
    const fetched: string[] = []
    const peer = make(t)
    const reader = peer.open({
      key: KEY,
      ...DEEP,
      fetchMissing: async (id) => {
        fetched.push(id)
        return source.backend.get(id)
      },
    })
    assert.ok(equalBytes(await reader.read(ref, 0, ref.size), data))
    assert.ok(fetched.length > 2)
    assert.deepEqual(await reader.missing(ref), [], 'fetched chunks were stored')
    const chunk = await someDataChunk(reader, ref, 1)
    peer.backend.replace(chunk, flipByte(peer.backend.get(chunk)!, 9))
    fetched.length = 0
    assert.ok(equalBytes(await reader.read(ref, 0, ref.size), data), 'corrupt chunk refetched')
    assert.deepEqual(fetched, [chunk])
    const liar = make(t).open({ key: KEY, fetchMissing: async () => new Uint8Array(100) })
    await rejectsWith(liar.read(ref, 0, 1), 'EIO', ref.id)
    const failing = make(t).open({
      key: KEY,
      fetchMissing: async () => {
        throw new Error('no peers')
      },
    })
    await rejectsWith(failing.read(ref, 0, 1), 'EIO', ref.id)
  })

  test('replication: missing + putVerified fill a store; gc keeps what a retained ref needs', async (t) => {
    const origin = make(t).open({ key: KEY, ...DEEP })
    const data = seededBytes(3 * MiB, 111)
    const ref = await origin.write(data)
    const replica = make(t).open({ key: KEY, ...DEEP })
    replica.retain(ref)
    let rounds = 0
    for (let want = await replica.missing(ref); want.length > 0; want = await replica.missing(ref)) {
      rounds++
      // Deliver half of what is wanted, then gc, to prove partial progress survives.
      for (const id of want.slice(0, Math.ceil(want.length / 2))) {
        assert.ok(replica.putVerified(id, origin.getStored(id)!))
      }
      await replica.gc()
      assert.ok(rounds < 200)
    }
    assert.ok(rounds > 1, 'a deep tree needs several rounds')
    assert.equal(replica.putVerified(ref.id, new Uint8Array(10)), false)
    await replica.gc()
    assert.ok(equalBytes(await replica.read(ref, 0, ref.size), data))
    const v = await replica.verify()
    assert.deepEqual([v.corrupt, v.missing], [[], []])
  })

  test('putVerifiedMany stores the chunks that match their ids, in one batch, and only those', async (t) => {
    const origin = make(t).open({ key: KEY })
    const data = seededBytes(700 * KiB, 121)
    const ref = await origin.write(data)
    const ids = await origin.chunkIds(ref)
    const h = make(t)
    const replica = h.open({ key: KEY })
    const good = ids.map((id) => ({ id, data: origin.getStored(id)! }))
    const liar = { id: ids[0]!, data: flipByte(good[0]!.data, 3) }
    const junk = { id: 'x'.repeat(64), data: new Uint8Array(8) }
    // A bad copy beside a good one of the same id: only the good one counts.
    const batch = [liar, ...good, junk]
    assert.deepEqual(
      replica.putVerifiedMany(batch),
      batch.map((c) => c !== liar && c !== junk),
    )
    for (const { id, data: bytes } of good) assert.ok(equalBytes(replica.getStored(id)!, bytes))
    assert.equal(replica.getStored(junk.id), undefined)
    assert.ok(equalBytes(await replica.read(ref, 0, ref.size), data))
    // Again (all present): nothing changes, all match.
    const before = replica.stats()
    assert.deepEqual(
      replica.putVerifiedMany(good),
      good.map(() => true),
    )
    assert.deepEqual(replica.stats(), before)
    // A corrupt stored copy is repaired by a good one.
    const victim = good[1]!
    h.backend.replace(victim.id, flipByte(victim.data, 5))
    assert.equal(replica.getStored(victim.id), undefined)
    assert.deepEqual(replica.putVerifiedMany([victim]), [true])
    assert.ok(equalBytes(replica.getStored(victim.id)!, victim.data))
    assert.deepEqual(replica.putVerifiedMany([]), [])
  })

  test('stats count chunks, stored bytes, logical bytes of retained refs, manifests', async (t) => {
    const store = make(t).open({ key: KEY })
    assert.deepEqual(store.stats(), { chunks: 0, storedBytes: 0, logicalBytes: 0, manifests: 0 })
    const a = await store.write(seededBytes(300 * KiB, 131))
    const ids = await store.chunkIds(a)
    const s = store.stats()
    assert.equal(s.chunks, ids.length)
    assert.equal(
      s.storedBytes,
      ids.reduce((n, id) => n + store.getStored(id)!.length, 0),
    )
    assert.equal(s.logicalBytes, 0)
    store.retain(a)
    store.retain(a)
    assert.equal(store.stats().logicalBytes, 2 * a.size)
    assert.equal(store.stats().manifests, 1)
  })

  test('stored totals stay exact through writes, replaces, deletes, gc and rollbacks', async (t) => {
    const h = make(t)
    const store = h.open({ key: KEY })
    const recount = (): { chunks: number; storedBytes: number } => {
      const ids = h.backend.listChunks()
      return { chunks: ids.length, storedBytes: ids.reduce((n, id) => n + h.backend.get(id)!.length, 0) }
    }
    const a = await store.write(seededBytes(700 * KiB, 151))
    const b = await store.write(seededBytes(500 * KiB, 152))
    store.retain(a)
    store.drop(b)
    const ids = await store.chunkIds(a)
    h.backend.replace(ids[1]!, new Uint8Array(10))
    h.backend.deleteMany([ids[2]!, ids[2]!, 'f'.repeat(64)])
    assert.throws(() =>
      h.backend.transaction(() => {
        h.backend.putMany([{ id: 'e'.repeat(64), data: new Uint8Array(1000) }])
        h.backend.deleteMany([ids[3]!])
        throw new Error('roll back')
      }),
    )
    assert.deepEqual(h.backend.chunkStats(), recount())
    await store.gc()
    const s = store.stats()
    assert.deepEqual({ chunks: s.chunks, storedBytes: s.storedBytes }, recount())
    assert.equal(h.backend.sizeOf(ids[0]!), h.backend.get(ids[0]!)!.length)
    assert.equal(h.backend.sizeOf('f'.repeat(64)), undefined)
  })
}
