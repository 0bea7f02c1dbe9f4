import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  closeRecord,
  creditRecord,
  type DeframeEvent,
  Deframer,
  frameHeader,
  MAX_REASON,
  STREAM_MAGIC,
} from '../../../sync/transport/framing.js'
import { MAX_FRAME } from '../../../sync/transport/types.js'

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

function feed(bytes: Uint8Array, pieceSizes: number[]): DeframeEvent[] {
  const d = new Deframer()
  const out: DeframeEvent[] = []
  let i = 0
  let k = 0
  while (i < bytes.length) {
    const n = pieceSizes[k++ % pieceSizes.length]!
    out.push(...d.push(bytes.subarray(i, i + n)))
    i += n
  }
  return out
}

describe('stream framing', () => {
  const f1 = Uint8Array.of(1, 2, 3)
  const f2 = new Uint8Array(70_000).fill(9)
  const stream = concat(
    STREAM_MAGIC,
    frameHeader(3),
    f1,
    creditRecord(0x01020304),
    frameHeader(f2.length),
    f2,
    closeRecord('bye ✓'),
  )

  test('frames, credit and the close record parse the same whatever the piece sizes', () => {
    for (const sizes of [[stream.length], [1], [3, 5, 7], [4096], [2, 65536]]) {
      const evs = feed(stream, sizes)
      assert.equal(evs.length, 4, `pieces ${sizes}`)
      assert.deepEqual(evs[0], { type: 'frame', frame: f1 })
      assert.deepEqual(evs[1], { type: 'credit', bytes: 0x01020304 })
      assert.equal(evs[2]!.type, 'frame')
      assert.deepEqual((evs[2] as { frame: Uint8Array }).frame, f2)
      assert.deepEqual(evs[3], { type: 'close', reason: 'bye ✓' })
    }
  })

  test('nothing after a close record is parsed', () => {
    const evs = feed(concat(stream, frameHeader(1), Uint8Array.of(5)), [stream.length + 5])
    assert.equal(evs.length, 4)
  })

  test('unknown control records and zero credit are refused', () => {
    const unknown = feed(concat(STREAM_MAGIC, Uint8Array.of(0, 0, 0, 0, 7)), [1])
    assert.deepEqual(unknown, [{ type: 'error', reason: 'unknown control record type 7' }])
    const zero = feed(concat(STREAM_MAGIC, Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0)), [3])
    assert.deepEqual(zero, [{ type: 'error', reason: 'credit record of 0 bytes' }])
    assert.throws(() => creditRecord(0), RangeError)
  })

  test('a stream without the magic is refused', () => {
    const evs = feed(concat(Uint8Array.of(0x62, 0x74, 0x66, 0x32), frameHeader(1), Uint8Array.of(1)), [1])
    assert.deepEqual(evs, [{ type: 'error', reason: 'not a blocktree frame stream (bad magic)' }])
  })

  test('a header over MAX_FRAME is refused before any body is buffered', () => {
    const evs = feed(concat(STREAM_MAGIC, frameHeader(MAX_FRAME + 1)), [8])
    assert.equal(evs.length, 1)
    assert.equal(evs[0]!.type, 'error')
    assert.match((evs[0] as { reason: string }).reason, /over the 8388608-byte limit/)
    const ok = feed(concat(STREAM_MAGIC, frameHeader(MAX_FRAME), new Uint8Array(MAX_FRAME)), [1 << 20])
    assert.equal(ok.length, 1)
    assert.equal(ok[0]!.type, 'frame')
  })

  test('close reasons are cut to MAX_REASON bytes on a character boundary; oversize reasons refused', () => {
    const long = 'a' + 'é'.repeat(MAX_REASON) // 'é' is 2 bytes: byte MAX_REASON falls inside one
    const rec = closeRecord(long)
    const evs = feed(concat(STREAM_MAGIC, rec), [7])
    const reason = (evs[0] as { reason: string }).reason
    assert.equal(reason, 'a' + 'é'.repeat(MAX_REASON / 2 - 1))
    const bad = concat(STREAM_MAGIC, Uint8Array.of(0, 0, 0, 0, 0, 0x04, 0x01))
    assert.equal(feed(bad, [1])[0]!.type, 'error')
    assert.deepEqual(feed(concat(STREAM_MAGIC, closeRecord('')), [1]), [{ type: 'close', reason: '' }])
  })
})
