import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { Chunker, chunkLengths, cutPoint, DEFAULT_CHUNK_PARAMS, GEAR } from '../../store/fastcdc.js'
import { seededBytes } from './util.js'

const { min, avg, max } = DEFAULT_CHUNK_PARAMS

function streamLengths(data: Uint8Array, sizes: number[], chunker = new Chunker()): number[] {
  const out: number[] = []
  let o = 0
  let i = 0
  while (o < data.length) {
    const n = Math.min(sizes[i++ % sizes.length]!, data.length - o)
    for (const c of chunker.push(data.subarray(o, o + n))) out.push(c.length)
    o += n
  }
  for (const c of chunker.finish()) out.push(c.length)
  return out
}

test('chunk sizes respect min/max and average near 64 KiB on random data', () => {
  const data = seededBytes(32 * 1024 * 1024, 1)
  const lens = chunkLengths(data)
  assert.equal(
    lens.reduce((a, b) => a + b, 0),
    data.length,
  )
  for (const l of lens.slice(0, -1)) assert.ok(l >= min && l <= max, `chunk of ${l}`)
  const mean = data.length / lens.length
  assert.ok(mean > 0.75 * avg && mean < 1.5 * avg, `mean chunk ${mean}`)
})

test('the same bytes give the same boundaries however the input is split', () => {
  const data = seededBytes(3 * 1024 * 1024 + 17, 2)
  const whole = chunkLengths(data)
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 600_000 }), { minLength: 1, maxLength: 8 }), (sizes) => {
      assert.deepEqual(streamLengths(data, sizes), whole)
    }),
    { numRuns: 30, seed: 7 },
  )
  // One byte at a time: the resumable scan keeps this linear.
  const t0 = performance.now()
  assert.deepEqual(streamLengths(data.subarray(0, 700_000), [1]), chunkLengths(data.subarray(0, 700_000)))
  assert.ok(performance.now() - t0 < 5000)
  // A small internal buffer forces compaction on every piece.
  assert.deepEqual(streamLengths(data, [1000, 99_999], new Chunker(DEFAULT_CHUNK_PARAMS, 1)), whole)
  // Yielded chunks are the input bytes, in order.
  const ch = new Chunker()
  const parts: Uint8Array[] = []
  for (const c of ch.push(data)) parts.push(Uint8Array.from(c))
  for (const c of ch.finish()) parts.push(Uint8Array.from(c))
  assert.deepEqual(Buffer.concat(parts), Buffer.from(data))
})

test('a chunk is emitted as soon as its cut is certain, before max bytes are buffered', () => {
  const data = seededBytes(4 * max, 6)
  const first = chunkLengths(data)[0]!
  assert.ok(first < max - 1)
  const ch = new Chunker()
  // Up to and including the deciding byte at index `first`, the chunk is emitted.
  assert.deepEqual([...ch.push(data.subarray(0, first))].length, 0)
  assert.deepEqual(
    [...ch.push(data.subarray(first, first + 1))].map((c) => c.length),
    [first],
  )
})

test('boundaries resynchronise after a local edit (content-defined)', () => {
  const data = seededBytes(4 * 1024 * 1024, 3)
  const edited = Buffer.concat([
    data.subarray(0, 1_000_000),
    Buffer.from('inserted bytes'),
    data.subarray(1_000_000),
  ])
  const ends = (lens: number[], shift: number, after: number): Set<number> => {
    const s = new Set<number>()
    let o = 0
    for (const l of lens) {
      o += l
      if (o > after) s.add(o + shift)
    }
    return s
  }
  const a = ends(chunkLengths(data), 14, 1_500_000)
  const b = ends(chunkLengths(edited), 0, 1_500_000)
  assert.deepEqual(b, a, 'every boundary past the edit is the old one shifted by the insertion')
})

test('small inputs, exact sizes and the cut window', () => {
  assert.deepEqual(chunkLengths(new Uint8Array(0)), [])
  assert.deepEqual(chunkLengths(new Uint8Array(5)), [5])
  assert.deepEqual(chunkLengths(new Uint8Array(min)), [min])
  // All-zero data never matches the mask: every chunk is max-size.
  assert.deepEqual(chunkLengths(new Uint8Array(3 * max + 5)), [max, max, max, 5])
  const data = seededBytes(max, 4)
  const c = cutPoint(data, 0, data.length)
  // The cut depends on bytes up to and including index c, not beyond.
  const changed = Uint8Array.from(data)
  for (let i = c + 1; i < changed.length; i++) changed[i] = 0
  assert.equal(cutPoint(changed, 0, changed.length), c)
  assert.equal(GEAR.length, 256)
  assert.equal(new Set(GEAR).size, 256)
  assert.throws(() => new Chunker({ min: 10, avg: 5, max: 20 }), RangeError)
})
