import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ManualRuntime, systemRuntime, toHex } from '../../sync/runtime.js'

describe('ManualRuntime', () => {
  test('the same seed gives the same bytes; another seed differs', () => {
    const a = new ManualRuntime(42)
    const b = new ManualRuntime(42)
    const c = new ManualRuntime(43)
    const x = toHex(a.random.bytes(37))
    assert.equal(x, toHex(b.random.bytes(37)))
    assert.notEqual(x, toHex(c.random.bytes(37)))
    assert.equal(x.length, 74)
  })

  test('bytes are spread: all 256 values appear in 64 KiB', () => {
    const seen = new Set(new ManualRuntime(7).random.bytes(65536))
    assert.equal(seen.size, 256)
  })

  test('the clock moves only with advance, and timers fire in time order', () => {
    const rt = new ManualRuntime(1, 1000)
    const fired: string[] = []
    rt.timers.setTimeout(() => fired.push(`b@${rt.clock.now()}`), 20)
    rt.timers.setTimeout(() => fired.push(`a@${rt.clock.now()}`), 10)
    const c = rt.timers.setTimeout(() => fired.push('cancelled'), 15)
    c.cancel()
    assert.equal(rt.clock.now(), 1000)
    rt.advance(15)
    assert.deepEqual(fired, ['a@1010'])
    rt.advance(100)
    assert.deepEqual(fired, ['a@1010', 'b@1020'])
    assert.equal(rt.clock.now(), 1115)
  })

  test('a timer scheduled by a timer fires within the same advance when due', () => {
    const rt = new ManualRuntime(1, 0)
    const fired: number[] = []
    rt.timers.setTimeout(() => {
      fired.push(rt.clock.now())
      rt.timers.setTimeout(() => fired.push(rt.clock.now()), 5)
    }, 5)
    rt.advance(10)
    assert.deepEqual(fired, [5, 10])
  })
})

test('systemRuntime gives distinct random bytes and a real clock', () => {
  const rt = systemRuntime()
  assert.notEqual(toHex(rt.random.bytes(16)), toHex(rt.random.bytes(16)))
  assert.ok(Math.abs(rt.clock.now() - Date.now()) < 1000)
})

test('systemRuntime random: exact lengths across pool refills, no repeats, no zero runs', () => {
  const rt = systemRuntime()
  const seen = new Set<string>()
  let zeros = 0
  for (let i = 0; i < 2000; i++) {
    const n = [1, 7, 16, 33, 255, 256, 257, 4000][i % 8]!
    const b = rt.random.bytes(n)
    assert.equal(b.length, n)
    if (n >= 16) {
      const h = toHex(b)
      assert.ok(!seen.has(h))
      seen.add(h)
      if (/^(00)+$/.test(h)) zeros++
    }
  }
  assert.equal(zeros, 0)
})
