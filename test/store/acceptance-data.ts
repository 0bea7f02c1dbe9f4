/** Acceptance tests of a ContentStore's bytes: round trips, ranged reads, dedup, keys, rewrite, malformed input. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  type ByteRange,
  type ChunkBackend,
  ChunkCipher,
  chunkIdOf,
  encodeNode,
  StoreError,
} from '../../store/index.js'
import { DEEP, KEY, KiB, type MakeHarness, MiB, OTHER_KEY, rejectsWith } from './acceptance-helpers.js'
import { bufferSource, collect, equalBytes, piecesOf, prng, seededBytes } from './util.js'

export function dataTests(make: MakeHarness): void {
  test('round trips sizes 0, 1, 16KiB-1, 16KiB, 64KiB, 5 MiB, whole and in odd pieces', async (t) => {
    const store = make(t).open({ key: KEY })
    for (const [i, size] of [0, 1, 16 * KiB - 1, 16 * KiB, 64 * KiB, 5 * MiB].entries()) {
      const data = seededBytes(size, 100 + i)
      const ref = await store.write(data)
      assert.equal(ref.size, size)
      assert.match(ref.id, /^[0-9a-f]{64}$/)
      const again = await store.write(piecesOf(data, [1, 7, 4093, 65537, 3, 300_001]))
      assert.deepEqual(again, ref, `pieces give the same ref (size ${size})`)
      assert.ok(equalBytes(await store.read(ref, 0, size), data), `read back (size ${size})`)
      assert.ok(equalBytes(await collect(store.stream(ref)), data), `stream back (size ${size})`)
      store.drop(ref)
      store.drop(again)
    }
  })

  test('empty file is a valid manifest', async (t) => {
    const store = make(t).open({ key: KEY })
    const ref = await store.write(piecesOf(new Uint8Array(0), [1]))
    assert.equal(ref.size, 0)
    assert.equal((await store.read(ref, 0, 100)).length, 0)
    assert.deepEqual(await store.missing(ref), [])
    assert.deepEqual(await store.chunkIds(ref), [ref.id])
  })

  for (const [label, tuning] of [
    ['default tree', {}],
    ['deep tree', DEEP],
  ] as const) {
    test(`ranged reads and streams at random offsets match the source (${label})`, async (t) => {
      const store = make(t).open({ key: KEY, ...tuning })
      const size = 5 * MiB + 12345
      const data = seededBytes(size, 42)
      const ref = await store.write(data)
      const rnd = prng(7)
      for (let i = 0; i < 150; i++) {
        const off = rnd(size + 10)
        const len = [0, 1, 100, 70_000, 300_000, 2 * MiB][rnd(6)]!
        const got = await store.read(ref, off, len)
        const want = data.subarray(Math.min(off, size), Math.min(size, off + len))
        assert.ok(equalBytes(got, want), `read(${off}, ${len})`)
      }
      for (let i = 0; i < 20; i++) {
        const a = rnd(size)
        const b = a + rnd(size - a + 1)
        const pieces: Uint8Array[] = []
        for await (const p of store.stream(ref, a, b)) {
          assert.ok(p.length <= 256 * KiB, 'pieces are at most a chunk')
          pieces.push(Uint8Array.from(p))
        }
        assert.ok(equalBytes(Buffer.concat(pieces), data.subarray(a, b)), `stream(${a}, ${b})`)
      }
      await rejectsWith(store.read(ref, -1, 5), 'EINVAL')
    })
  }

  test('a ranged read touches only the chunks it needs', async (t) => {
    const h = make(t)
    const gets: string[] = []
    const counting: ChunkBackend = Object.create(h.backend, {
      get: {
        value: (id: string) => {
          gets.push(id)
          return h.backend.get(id)
        },
      },
    })
    const writer = h.open({ key: KEY })
    const data = seededBytes(8 * MiB, 3)
    const ref = await writer.write(data)
    const { createContentStore } = await import('../../store/index.js')
    const reader = createContentStore(counting, { key: KEY })
    assert.ok(equalBytes(await reader.read(ref, 4 * MiB, 10), data.subarray(4 * MiB, 4 * MiB + 10)))
    // Root leaf + one (or, at a boundary, two) data chunks.
    assert.ok(gets.length <= 3, `read 10 bytes with ${gets.length} chunk gets`)
  })

  test('equal content dedups; a shared prefix stores only the new chunks', async (t) => {
    const store = make(t).open({ key: KEY })
    const data = seededBytes(3 * MiB, 11)
    const a = await store.write(data)
    const before = store.stats()
    const b = await store.write(data)
    assert.deepEqual(b, a)
    assert.deepEqual(store.stats(), before)
    const longer = Buffer.concat([data, seededBytes(MiB, 12)])
    await store.write(longer)
    const grown = store.stats().storedBytes - before.storedBytes
    assert.ok(grown < 1.6 * MiB, `appending 1 MiB stored ${grown} new bytes`)
  })

  test('different tree keys give different ids and cannot read each other', async (t) => {
    const h = make(t)
    const a = h.open({ key: KEY })
    const b = h.open({ key: OTHER_KEY })
    const data = seededBytes(400 * KiB, 5)
    const ra = await a.write(data)
    const rb = await b.write(data)
    assert.notEqual(ra.id, rb.id)
    const ida = new Set(await a.chunkIds(ra))
    for (const id of await b.chunkIds(rb)) assert.ok(!ida.has(id), 'no shared chunk across keys')
    await rejectsWith(b.read(ra, 0, 10), 'EIO', ra.id)
    assert.throws(() => h.open({ key: new Uint8Array(16) }), RangeError)
  })

  test('rewrite equals a full write: overwrite in the middle, base null, no-op, truncate, extend', async (t) => {
    const store = make(t).open({ key: KEY })
    const base = seededBytes(3 * MiB + 777, 21)
    const ref = await store.write(base)
    const cases: { name: string; content: Uint8Array; dirty: ByteRange[] }[] = []
    const mid = Buffer.from(base)
    mid.set(seededBytes(100 * KiB, 22), 1_500_000)
    cases.push({
      name: 'overwrite',
      content: mid,
      dirty: [{ start: 1_500_000, end: 1_500_000 + 100 * KiB }],
    })
    cases.push({ name: 'no-op', content: base, dirty: [] })
    cases.push({ name: 'truncate', content: base.subarray(0, 2 * MiB + 5), dirty: [] })
    cases.push({ name: 'truncate to 0', content: new Uint8Array(0), dirty: [] })
    cases.push({ name: 'extend', content: Buffer.concat([base, seededBytes(700 * KiB, 23)]), dirty: [] })
    const first = Buffer.from(base)
    first[0]! ^= 1
    cases.push({ name: 'first byte', content: first, dirty: [{ start: 0, end: 1 }] })
    const last = Buffer.from(base)
    last[last.length - 1]! ^= 1
    cases.push({ name: 'last byte', content: last, dirty: [{ start: last.length - 1, end: last.length }] })
    for (const c of cases) {
      const src = bufferSource(c.content)
      const r = await store.rewrite(ref, src, c.dirty)
      const w = await store.write(c.content)
      assert.deepEqual(r, w, `${c.name}: rewrite and write give the same ref`)
      assert.ok(equalBytes(await store.read(r, 0, r.size), c.content), `${c.name}: content`)
      if (c.name === 'overwrite' || c.name === 'last byte' || c.name === 'no-op') {
        assert.ok(src.bytesRead < 1.5 * MiB, `${c.name}: read ${src.bytesRead} bytes of ${c.content.length}`)
      }
    }
    const fresh = seededBytes(300 * KiB, 24)
    assert.deepEqual(await store.rewrite(null, bufferSource(fresh), []), await store.write(fresh))
    await rejectsWith(store.rewrite(ref, bufferSource(base), [{ start: 5, end: 2 }]), 'EINVAL')
  })

  test('rewrite of 1 MiB in the middle of a 32 MiB file stores under 2 MiB of new chunks', async (t) => {
    const store = make(t).open({ key: KEY })
    const base = seededBytes(32 * MiB, 31)
    const ref = await store.write(base)
    store.retain(ref)
    const edited = Buffer.from(base)
    const at = 16 * MiB + 12345
    edited.set(seededBytes(MiB, 32), at)
    const before = store.stats().storedBytes
    const src = bufferSource(edited)
    const r = await store.rewrite(ref, src, [{ start: at, end: at + MiB }])
    const added = store.stats().storedBytes - before
    assert.ok(added < 2 * MiB, `stored ${added} new bytes`)
    assert.ok(src.bytesRead <= 3 * MiB, `read ${src.bytesRead} bytes from the source`)
    assert.deepEqual(r, await store.write(edited))
  })

  test('property: rewrite after random edits (overwrite, insert, delete, truncate, extend) = full write', async (t) => {
    const store = make(t).open({ key: KEY, ...DEEP })
    const edit = fc.oneof(
      fc.record({
        kind: fc.constant('overwrite' as const),
        at: fc.double({ min: 0, max: 1 }),
        len: fc.integer({ min: 1, max: 200_000 }),
      }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.double({ min: 0, max: 1 }),
        len: fc.integer({ min: 1, max: 100_000 }),
      }),
      fc.record({
        kind: fc.constant('delete' as const),
        at: fc.double({ min: 0, max: 1 }),
        len: fc.integer({ min: 1, max: 100_000 }),
      }),
      fc.record({
        kind: fc.constant('truncate' as const),
        at: fc.double({ min: 0, max: 1 }),
        len: fc.constant(0),
      }),
      fc.record({
        kind: fc.constant('extend' as const),
        at: fc.constant(1),
        len: fc.integer({ min: 1, max: 300_000 }),
      }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1_500_000 }),
        fc.array(edit, { minLength: 0, maxLength: 4 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        async (baseSize, edits, seed) => {
          const base = seededBytes(baseSize, seed)
          const baseRef = baseSize % 7 === 0 ? null : await store.write(base)
          let cur = Buffer.from(baseRef ? base : new Uint8Array(0))
          const dirty: ByteRange[] = []
          edits.forEach((e, i) => {
            const at = Math.floor(e.at * cur.length)
            const fresh = Buffer.from(seededBytes(e.len, seed + i + 1))
            if (e.kind === 'overwrite') {
              const end = Math.min(cur.length, at + e.len)
              fresh.copy(cur, at, 0, end - at)
              dirty.push({ start: at, end })
            } else if (e.kind === 'insert') {
              cur = Buffer.concat([cur.subarray(0, at), fresh, cur.subarray(at)])
              dirty.push({ start: at, end: cur.length })
            } else if (e.kind === 'delete') {
              cur = Buffer.concat([cur.subarray(0, at), cur.subarray(Math.min(cur.length, at + e.len))])
              dirty.push({ start: at, end: cur.length })
            } else if (e.kind === 'truncate') {
              cur = Buffer.from(cur.subarray(0, at))
            } else {
              dirty.push({ start: cur.length, end: cur.length + e.len })
              cur = Buffer.concat([cur, fresh])
            }
          })
          const r = await store.rewrite(baseRef, bufferSource(cur), dirty)
          assert.ok(equalBytes(await store.read(r, 0, r.size), cur), 'content')
          assert.deepEqual(r, await store.write(cur), 'same ref as a full write')
        },
      ),
      { numRuns: 25, seed: 20261128 },
    )
  })

  test('malformed manifests are EIO, never a crash', async (t) => {
    const store = make(t).open({ key: KEY })
    const cipher = new ChunkCipher(KEY)
    const put = (plain: Uint8Array): string => {
      const sealed = cipher.seal(plain)
      const id = chunkIdOf(sealed)
      assert.ok(store.putVerified(id, sealed))
      return id
    }
    const dataId = put(seededBytes(1000, 121))
    const good = encodeNode(0, [dataId], [1000])
    const bad: [string, Uint8Array, number][] = [
      ['garbage', seededBytes(500, 122), 1000],
      ['truncated', good.subarray(0, good.length - 1), 1000],
      ['bad magic', Buffer.concat([Buffer.from('XTM'), good.subarray(3)]), 1000],
      ['unknown version', Buffer.concat([good.subarray(0, 3), Buffer.of(9), good.subarray(4)]), 1000],
      ['wrong size', good, 999],
      ['zero length entry', encodeNode(0, [dataId], [0]), 1000],
      ['oversized entry', encodeNode(0, [dataId], [300 * KiB]), 300 * KiB],
      ['index pointing at a data chunk', encodeNode(1, [dataId], [1000]), 1000],
      ['empty index', encodeNode(1, [], []), 1000],
      ['too deep', encodeNode(200, [dataId], [1000]), 1000],
      ['leaf with wrong chunk length', encodeNode(0, [dataId], [999]), 999],
    ]
    for (const [what, plain, size] of bad) {
      const id = put(plain)
      await rejectsWith(store.read({ id, size }, 0, size), 'EIO')
      if (what !== 'leaf with wrong chunk length') {
        // Replication must not ask peers forever for bytes it already holds intact.
        await rejectsWith(store.missing({ id, size }), 'EIO')
      }
      await rejectsWith(store.chunkIds({ id, size }), 'EIO').catch((err) => {
        // chunkIds only walks manifest nodes: a bad leaf *length* is caught when reading data.
        if (what !== 'leaf with wrong chunk length') throw err
      })
    }
    await rejectsWith(store.read({ id: dataId, size: 1000 }, 0, 10), 'EIO', dataId)
  })

  test('a closed store refuses calls with ECLOSED', async (t) => {
    const store = make(t).open({ key: KEY })
    const ref = await store.write(seededBytes(10, 141))
    store.close()
    assert.throws(
      () => store.stats(),
      (e: unknown) => e instanceof StoreError && e.code === 'ECLOSED',
    )
    await rejectsWith(store.write(new Uint8Array(5)), 'ECLOSED')
    await rejectsWith(store.read(ref, 0, 1), 'ECLOSED')
  })
}
