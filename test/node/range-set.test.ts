import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RangeSet } from '../../node/range-set.js'

/** Reference: a boolean per offset. */
function model(ops: [number, number][], size: number, truncAt?: number): boolean[] {
  const m = new Array<boolean>(size).fill(false)
  for (const [s, e] of ops) for (let i = s; i < e; i++) m[i] = true
  if (truncAt !== undefined) for (let i = truncAt; i < size; i++) m[i] = false
  return m
}

test('RangeSet merges overlapping and adjacent ranges', () => {
  const r = new RangeSet()
  r.add(10, 20)
  r.add(30, 40)
  r.add(20, 25)
  assert.deepEqual(r.toArray(), [
    { start: 10, end: 25 },
    { start: 30, end: 40 },
  ])
  r.add(5, 35)
  assert.deepEqual(r.toArray(), [{ start: 5, end: 40 }])
  r.add(50, 50)
  assert.equal(r.end, 40)
  r.truncate(20)
  assert.deepEqual(r.toArray(), [{ start: 5, end: 20 }])
  r.truncate(5)
  assert.ok(r.isEmpty)
})

test('RangeSet agrees with a per-byte model on random operations', () => {
  let x = 99
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0
    return x % n
  }
  for (let round = 0; round < 200; round++) {
    const r = new RangeSet()
    const ops: [number, number][] = []
    for (let i = 0; i < 1 + rnd(12); i++) {
      const s = rnd(200)
      const e = s + rnd(30)
      ops.push([s, e])
      r.add(s, e)
    }
    const cut = rnd(3) === 0 ? rnd(240) : undefined
    if (cut !== undefined) r.truncate(cut)
    const m = model(ops, 240, cut)
    const got = new Array<boolean>(240).fill(false)
    const arr = r.toArray()
    for (const { start, end } of arr) for (let i = start; i < end; i++) got[i] = true
    assert.deepEqual(got, m)
    for (let i = 1; i < arr.length; i++) assert.ok(arr[i]!.start > arr[i - 1]!.end, 'disjoint, non-adjacent')
    const a = rnd(240)
    const b = a + rnd(240 - a)
    const pieces = r.pieces(a, b)
    let pos = a
    for (const p of pieces) {
      assert.equal(p.start, pos)
      assert.ok(p.end > p.start)
      for (let i = p.start; i < p.end; i++) assert.equal(m[i], p.inSet)
      pos = p.end
    }
    assert.equal(pos, a === b ? a : b)
  }
})
